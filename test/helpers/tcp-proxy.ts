// A TCP proxy in front of a server, for tests where one client loses its
// connection while every other client keeps its own: `cut()` drops the
// proxied connections and refuses new ones, `restore()` accepts them again on
// the same port.
import { connect, createServer, type Server, type Socket } from 'node:net'

const HOST = '127.0.0.1'

export interface TcpProxy extends AsyncDisposable {
  readonly port: number
  /** Closes every connection through the proxy and stops listening: clients get ECONNREFUSED. */
  cut(): Promise<void>
  /** Listens again on the same port. */
  restore(): Promise<void>
  close(): Promise<void>
}

export async function startTcpProxy(target: { readonly port: number }): Promise<TcpProxy> {
  const sockets = new Set<Socket>()
  const track = (socket: Socket) => {
    sockets.add(socket)
    socket.once('close', () => sockets.delete(socket))
    socket.on('error', () => socket.destroy())
  }
  const newServer = () =>
    createServer((client) => {
      const upstream = connect(target.port, HOST)
      track(client)
      track(upstream)
      client.pipe(upstream)
      upstream.pipe(client)
      client.once('close', () => upstream.destroy())
      upstream.once('close', () => client.destroy())
    })
  const listen = (server: Server, port: number) =>
    new Promise<number>((resolve, reject) => {
      server.once('error', reject)
      server.listen(port, HOST, () => {
        server.off('error', reject)
        resolve((server.address() as { port: number }).port)
      })
    })
  let server: Server | undefined = newServer()
  const port = await listen(server, 0)
  const cut = async () => {
    const closing = server
    server = undefined
    for (const socket of sockets) socket.destroy()
    if (closing !== undefined) await new Promise<void>((resolve) => closing.close(() => resolve()))
  }
  return {
    port,
    cut,
    async restore() {
      if (server !== undefined) return
      server = newServer()
      await listen(server, port)
    },
    close: cut,
    [Symbol.asyncDispose]: cut,
  }
}
