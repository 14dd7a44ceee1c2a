import { LRUCache } from 'lru-cache'

/**
 * An entry in process memory. The value is kept encoded: every hit decodes a
 * fresh copy, so a caller mutating its result cannot change the next caller's,
 * and L1 and L2 hits return exactly the same shapes.
 */
export interface L1Entry {
  readonly valueBytes: Uint8Array
  readonly tags: readonly string[]
  /** The process's tag clock when the load began (`TagClock.now()`). */
  readonly since: number
  /** Fresh until then; servable while a refresh runs until `staleUntil`. */
  readonly expiresAt: number
  readonly staleUntil: number
  /** How long the load took, the `delta` of early refresh. */
  readonly loadMs: number
}

// What an entry costs beyond its value bytes, key and tag strings: the entry
// object, the Uint8Array and its ArrayBuffer, the LRU's bookkeeping. Measured
// by the benchmarks' memory scenario (1M small rows: 590 heap bytes per entry
// kept, against 160 assumed before), so the budget bounds the heap it claims to.
const ENTRY_OVERHEAD_BYTES = 480

export class L1 {
  readonly #lru: LRUCache<string, L1Entry>

  constructor(maxBytes: number) {
    this.#lru = new LRUCache<string, L1Entry>({
      maxSize: maxBytes,
      sizeCalculation: (entry, key) => entrySize(key, entry),
    })
  }

  get(key: string): L1Entry | undefined {
    return this.#lru.get(key)
  }

  /** Stores the entry unless it alone exceeds the byte budget; returns what was stored. */
  set(key: string, entry: L1Entry): L1Entry {
    const { valueBytes } = entry
    // Encoders and sockets hand out views into larger shared buffers; a view
    // kept here would pin the whole buffer and make the byte budget a fiction.
    if (valueBytes.byteLength !== valueBytes.buffer.byteLength) {
      entry = { ...entry, valueBytes: new Uint8Array(valueBytes) }
    }
    this.#lru.set(key, entry)
    return entry
  }

  /** Deletes the key only if it still holds `entry`, not a newer one stored since. */
  deleteIfSame(key: string, entry: L1Entry): void {
    if (this.#lru.peek(key) === entry) this.#lru.delete(key)
  }

  delete(key: string): void {
    this.#lru.delete(key)
  }

  clear(): void {
    this.#lru.clear()
  }

  get size(): number {
    return this.#lru.size
  }

  get bytes(): number {
    return this.#lru.calculatedSize
  }
}

function entrySize(key: string, entry: L1Entry): number {
  let size = ENTRY_OVERHEAD_BYTES + key.length * 2 + entry.valueBytes.byteLength
  for (const tag of entry.tags) size += 16 + tag.length * 2
  return size
}
