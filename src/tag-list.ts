import { ALL_TAGS } from './bus.js'
import { InvalidOptionError } from './errors.js'

// An entry's tags as one canonical list: what the cache compares, validates and stores.

export function sameTags(a: readonly string[], b: readonly string[]): boolean {
  if (a === b) return true
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

/** `tags` sorted without repeats: as given when they already are (the usual case, checked in one pass). */
export function canonicalTags(tags: readonly string[]): readonly string[] {
  for (let i = 1; i < tags.length; i++) {
    if (!((tags[i - 1] as string) < (tags[i] as string))) return [...new Set(tags)].sort()
  }
  return tags
}

/** `value` as a list of non-empty strings, `[]` when absent; throws naming `option` for anything else. */
export function optionalStrings(value: unknown, option: string): readonly string[] {
  if (value === undefined) return []
  if (!Array.isArray(value) || !value.every((item) => typeof item === 'string' && item.length > 0)) {
    throw new InvalidOptionError(option, 'an array of non-empty strings', value)
  }
  return value
}

export function validateTags(tags: unknown): asserts tags is readonly string[] {
  if (!Array.isArray(tags) || !tags.every((tag) => typeof tag === 'string' && tag.length > 0 && tag !== ALL_TAGS)) {
    throw new InvalidOptionError('tags', `an array of non-empty strings other than '${ALL_TAGS}'`, tags)
  }
}
