// What the tests of redis-server.ts, postgres-server.ts and mariadb-server.ts
// check of every server they start: that nothing of it (a process, its dir, an
// open port) outlives the test, or the process, that started it.
import { spawn } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { connect } from 'node:net'
import { afterAll, expect, onTestFinished } from 'vitest'
import { TYPESCRIPT_EXEC_ARGV, TYPESCRIPT_WORKER_START_MS } from '../fixtures/typescript-workers.js'
import { until, withDeadline } from '../fixtures/wait.js'
import { HOST, processesIn } from './server-process.js'

/** A server a test started: its temp dir and the ports it listens on. */
export interface StartedServer {
  readonly dir: string
  readonly ports: readonly number[]
}

export interface ServerChecks {
  /** Call for each server a test starts: once every test's cleanup has run, it must be gone. */
  remember(server: StartedServer): void
  /**
   * Starts a server in a child process, a stand-in for a test worker that
   * vitest ends with a signal, running the helper module at `helper` as a test
   * would; freezes the server (SIGSTOP) and SIGKILLs the child; expects the
   * server's processes to die, its dir to be removed and its port to close.
   * `start` is the body of an async function that starts the server with
   * `helper` (the module) and returns `{ pid, dir, port }`: its main process,
   * its temp dir and its port. It may use readFileSync, readlinkSync and dirname.
   */
  expectToDieWithOwner(helper: URL, start: string): Promise<void>
}

/** Call at file level: the servers the file's tests start are checked once every test's cleanup has run. */
export function useServerChecks(): ServerChecks {
  const started: StartedServer[] = []
  afterAll(async () => {
    // Every test disposed its servers when it finished, passed or failed.
    for (const { dir, ports } of started) {
      expect(processesIn(dir), `processes still running in ${dir}`).toEqual([])
      expect(existsSync(dir), `${dir} still exists`).toBe(false)
      for (const port of ports) expect(await acceptsConnections(port), `port ${port} still open`).toBe(false)
    }
  })
  const remember = (server: StartedServer) => {
    started.push(server)
  }
  return {
    remember,
    async expectToDieWithOwner(helper, start) {
      const owner = spawn(
        process.execPath,
        [
          ...TYPESCRIPT_EXEC_ARGV,
          '--input-type=module',
          '-e',
          `import { readFileSync, readlinkSync } from 'node:fs'
           import { dirname } from 'node:path'
           const helper = await import(process.argv[1])
           const started = await (async () => {${start}})()
           process.stdout.write(JSON.stringify(started) + '\\n')
           setInterval(() => {}, 1000)`,
          helper.href,
        ],
        { stdio: ['ignore', 'pipe', 'inherit'] },
      )
      onTestFinished(() => {
        owner.kill('SIGKILL')
      })
      const printed = new Promise<{ pid: number; dir: string; port: number }>((resolve) => {
        let output = ''
        owner.stdout.on('data', (chunk: Buffer) => {
          output += chunk.toString()
          if (output.includes('\n')) resolve(JSON.parse(output))
        })
      })
      const { pid, dir, port } = await withDeadline(
        printed,
        'the owner process to start a server',
        TYPESCRIPT_WORKER_START_MS,
      )
      remember({ dir, ports: [port] })
      expect(processesIn(dir)).toContain(pid)

      // Even a server that a test has frozen.
      process.kill(pid, 'SIGSTOP')
      owner.kill('SIGKILL')
      await until(() => !isProcessAlive(pid), 'the orphaned server to die', 10_000)
      await until(() => processesIn(dir).length === 0, 'the rest of its processes to die', 10_000)
      await until(() => !existsSync(dir), 'its dir to be removed', 10_000)
      expect(await acceptsConnections(port)).toBe(false)
    },
  }
}

// A zombie (exited, not yet reaped) counts as dead: it holds no port and runs no code.
export function isProcessAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z'
  } catch {
    return false
  }
}

export function acceptsConnections(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: HOST, port })
    socket.once('connect', () => {
      socket.destroy()
      resolve(true)
    })
    socket.once('error', () => resolve(false))
  })
}
