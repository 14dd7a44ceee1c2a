/**
 * A query that fails under the cache fails inside the cache's own async functions (the flight, the
 * load, the adapter's runner), and V8 keeps `Error.stackTraceLimit` frames (10 by default), async
 * ones included: ours would push the app's frames, the ones a user debugging a failed query looks
 * for first, off the end of its stack. So when a loader's error reaches the caller, its stack is
 * rebuilt as it would read without the cache: the frames below ours where it was thrown (the
 * driver's), then the frames above ours where the caller awaits (the ORM's and the app's). Only
 * failures pay for it; a hit or a miss never captures a stack.
 */

/** Where our modules live: `<root>/src` and `<root>/adapters`, from sources or from a build. */
const OUR_DIRECTORIES = ourDirectories()
/** Frames of ours a caller's stack can hold before the app's: headroom for the capture below. */
const MAX_OWN_FRAMES = 16
const FRAME = /^\s+at /

/** Gives `error` the caller's frames in place of the cache's; returns it. Never throws. */
export function withCallerFrames(error: unknown): unknown {
  const limit = Error.stackTraceLimit
  if (OUR_DIRECTORIES.length === 0 || !(error instanceof Error) || !(limit > 0)) return error
  try {
    const stack = error.stack
    if (typeof stack !== 'string') return error
    const lines = stack.split('\n')
    const firstFrame = lines.findIndex((line) => FRAME.test(line))
    const firstOwn = lines.findIndex((line, index) => index >= firstFrame && isOwnFrame(line))
    if (firstFrame < 0 || firstOwn < 0) return error
    Error.stackTraceLimit = limit + MAX_OWN_FRAMES
    let callerStack: string | undefined
    try {
      callerStack = new Error().stack
    } finally {
      Error.stackTraceLimit = limit
    }
    const callerFrames = (callerStack ?? '').split('\n').filter((line) => FRAME.test(line) && !isOwnFrame(line))
    const frames = [...lines.slice(firstFrame, firstOwn), ...callerFrames].slice(0, limit)
    error.stack = [...lines.slice(0, firstFrame), ...frames].join('\n')
  } catch {
    // A frozen error or an exotic stack: leave it as it is.
  }
  return error
}

function isOwnFrame(line: string): boolean {
  if (!FRAME.test(line)) return false
  for (const directory of OUR_DIRECTORIES) if (line.includes(directory)) return true
  return false
}

function ourDirectories(): string[] {
  // This module's own frame names its file: `<root>/src/caller-frames.{ts,js}`, as a path or a file: URL.
  const here = /\(?((?:file:\/\/)?[^\s()]*)[/\\]src[/\\]caller-frames\.[cm]?[jt]s/.exec(new Error().stack ?? '')
  const root = here?.[1]
  if (root === undefined || root.length === 0) return []
  const separator = root.includes('\\') && !root.includes('/') ? '\\' : '/'
  return [`${root}${separator}src${separator}`, `${root}${separator}adapters${separator}`]
}
