import { Decimal } from '@prisma/client/runtime/client'
import { type CodecExtension, registerCodecExtension } from '../../src/codec.js'

/**
 * Prisma's `Decimal` (decimal.js) through the cache exactly: its string form
 * keeps every digit, and `isDecimal` recognises instances of any copy of the class.
 */
export const prismaDecimal: CodecExtension<Decimal> = {
  type: 0x2b,
  is: (value): value is Decimal => Decimal.isDecimal(value),
  encode: (value) => value.toString(),
  decode: (data) => {
    // An internal signal: decoding runs inside the cache, which catches it and counts a corrupt entry.
    if (typeof data !== 'string') throw new TypeError('ormcache: corrupt Decimal extension')
    return new Decimal(data)
  },
}

export function registerPrismaCodec(): void {
  registerCodecExtension(prismaDecimal)
}
