// Ties what a test starts (Redis servers, schemas, databases) to vitest's
// hooks, so it is released even when the test fails or times out.
import { afterAll, beforeAll, onTestFinished } from 'vitest'

/** Call inside a test: the resource is disposed when that test finishes, pass or fail. */
export function disposeAfterTest<Resource extends AsyncDisposable>(resource: Resource): Resource {
  onTestFinished(() => resource[Symbol.asyncDispose]())
  return resource
}

/**
 * Call at file or `describe` level: starts the resource in `beforeAll`,
 * disposes it in `afterAll`, and returns an accessor for the tests.
 */
export function useResource<Resource extends AsyncDisposable>(start: () => Promise<Resource>): () => Resource {
  let resource: Resource | undefined
  beforeAll(async () => {
    resource = await start()
  })
  afterAll(async () => {
    await resource?.[Symbol.asyncDispose]()
    resource = undefined
  })
  return () => {
    if (!resource) throw new Error('The resource is only available inside tests of the block that called useResource')
    return resource
  }
}
