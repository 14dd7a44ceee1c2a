// Where the integration tests find Redis, PostgreSQL and MariaDB: an explicit
// URL first, then the standard local port, then a throwaway container. A
// missing service is always an error; a test that silently skips proves nothing.
import { connect } from 'node:net'

type ServiceName = 'redis' | 'postgres' | 'mysql'

interface ContainerRecipe {
  image: string
  port: number
  environment: Record<string, string>
  readyLogLine: string
  // The official images log some lines twice: once for the init server, once for the real one.
  readyLogLineCount: number
  url(host: string, port: number): string
}

interface ServiceSpec {
  title: string
  envVar: string
  localPort: number
  localUrl: string
  container: ContainerRecipe
}

const LOCAL_HOST = '127.0.0.1'

const SERVICES: Record<ServiceName, ServiceSpec> = {
  redis: {
    title: 'Redis',
    envVar: 'REDIS_URL',
    localPort: 6379,
    localUrl: 'redis://127.0.0.1:6379',
    container: {
      image: 'redis:7-alpine',
      port: 6379,
      environment: {},
      readyLogLine: 'Ready to accept connections',
      readyLogLineCount: 1,
      url: (host, port) => `redis://${host}:${port}`,
    },
  },
  postgres: {
    title: 'PostgreSQL',
    envVar: 'DATABASE_URL',
    localPort: 5432,
    localUrl: 'postgresql://postgres@127.0.0.1:5432/test',
    container: {
      image: 'postgres:17-alpine',
      port: 5432,
      environment: { POSTGRES_HOST_AUTH_METHOD: 'trust', POSTGRES_DB: 'test' },
      readyLogLine: 'database system is ready to accept connections',
      readyLogLineCount: 2,
      url: (host, port) => `postgresql://postgres@${host}:${port}/test`,
    },
  },
  mysql: {
    title: 'MariaDB',
    envVar: 'MYSQL_URL',
    localPort: 3306,
    localUrl: 'mysql://root@127.0.0.1:3306/test',
    container: {
      image: 'mariadb:11',
      port: 3306,
      environment: { MARIADB_ALLOW_EMPTY_ROOT_PASSWORD: '1', MARIADB_DATABASE: 'test' },
      readyLogLine: 'ready for connections',
      readyLogLineCount: 2,
      url: (host, port) => `mysql://root@${host}:${port}/test`,
    },
  },
}

export const SERVICE_ENV_VARS: Record<ServiceName, string> = {
  redis: SERVICES.redis.envVar,
  postgres: SERVICES.postgres.envVar,
  mysql: SERVICES.mysql.envVar,
}

interface StoppableContainer {
  stop(): Promise<unknown>
}

const resolvedUrls = new Map<ServiceName, Promise<string>>()
const startedContainers: StoppableContainer[] = []

/** Redis URL: `REDIS_URL`, else local port 6379, else a testcontainers Redis. */
export function redisUrl(): Promise<string> {
  return serviceUrl('redis')
}

/** PostgreSQL URL: `DATABASE_URL`, else local port 5432 (db `test`), else a testcontainers PostgreSQL. */
export function postgresUrl(): Promise<string> {
  return serviceUrl('postgres')
}

/** MariaDB URL: `MYSQL_URL`, else local port 3306 (db `test`), else a testcontainers MariaDB. */
export function mysqlUrl(): Promise<string> {
  return serviceUrl('mysql')
}

export function serviceUrl(name: ServiceName): Promise<string> {
  let url = resolvedUrls.get(name)
  if (!url) {
    url = locateService(name)
    // A failed lookup is not cached, so a caller may retry after starting the service.
    url.catch(() => resolvedUrls.delete(name))
    resolvedUrls.set(name, url)
  }
  return url
}

/** Stops the containers this process started; the global teardown calls it. */
export async function stopStartedContainers(): Promise<void> {
  const containers = startedContainers.splice(0)
  await Promise.allSettled(containers.map((container) => container.stop()))
}

async function locateService(name: ServiceName): Promise<string> {
  const spec = SERVICES[name]
  const fromEnv = process.env[spec.envVar]
  if (fromEnv) return fromEnv
  if (await isPortOpen(LOCAL_HOST, spec.localPort)) return spec.localUrl
  try {
    return await startContainer(spec.container)
  } catch (error) {
    throw new Error(missingServiceMessage(spec, error), { cause: error })
  }
}

async function startContainer(recipe: ContainerRecipe): Promise<string> {
  // Imported only now: testcontainers is slow to load and useless without Docker.
  const { GenericContainer, Wait } = await import('testcontainers')
  const container = await new GenericContainer(recipe.image)
    .withExposedPorts(recipe.port)
    .withEnvironment(recipe.environment)
    .withWaitStrategy(Wait.forLogMessage(recipe.readyLogLine, recipe.readyLogLineCount))
    .start()
  startedContainers.push(container)
  return recipe.url(container.getHost(), container.getMappedPort(recipe.port))
}

function missingServiceMessage(spec: ServiceSpec, error: unknown): string {
  const reason = error instanceof Error ? error.message : String(error)
  const situation =
    `${spec.title} is not available: ${spec.envVar} is not set, nothing listens on ` +
    `${LOCAL_HOST}:${spec.localPort}, and testcontainers could not start one (${reason}).`
  if (process.env.CI === 'true') {
    return `${situation} In CI the service must be running before the tests: start it and set ${spec.envVar}.`
  }
  return (
    `${situation} Provide it in one of three ways: set ${spec.envVar} (e.g. ${spec.envVar}=${spec.localUrl}), ` +
    `start ${spec.title} on ${LOCAL_HOST}:${spec.localPort}, or install Docker so testcontainers can start it.`
  )
}

export function isPortOpen(host: string, port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port })
    const finish = (open: boolean) => {
      socket.destroy()
      resolve(open)
    }
    socket.setTimeout(timeoutMs, () => finish(false))
    socket.once('connect', () => finish(true))
    socket.once('error', () => finish(false))
  })
}
