/**
 * Recently decoded short strings by their UTF-8 bytes. A relay decodes the same few short strings
 * in every DATA frame (origin, channel, instance, publisher id): a native UTF-8 decode is a call
 * out of JavaScript (~40-80 ns each in Bun), while hashing and comparing under 25 bytes in place
 * is ~20-30 ns. Direct-mapped and bounded: a slot holds the last string that hashed to it, so a
 * stream of distinct strings costs one hash and one copy more than decoding, and memory stays at
 * SLOTS strings of at most SHORT_MAX bytes. Strings are immutable, so sharing one is safe; equal
 * bytes always decode to the same string (invalid UTF-8 included), so a hit returns exactly what
 * decoding would.
 */

/** Longest string kept: past it, hashing and comparing cost more than decoding. */
export const SHORT_MAX = 24;
const SLOTS = 1024;

export class ShortStrings {
  private readonly keys: (Uint8Array | undefined)[] = new Array(SLOTS);
  private readonly values: string[] = new Array(SLOTS);

  /** The string of bytes[start, end) (end - start <= SHORT_MAX), from the cache or from `decode`. */
  get(bytes: Uint8Array, start: number, end: number, decode: (bytes: Uint8Array, start: number, end: number) => string): string {
    let h = 0x811c9dc5; // FNV-1a
    for (let i = start; i < end; i++) h = Math.imul(h ^ bytes[i]!, 0x01000193);
    const slot = (h >>> 0) & (SLOTS - 1);
    const key = this.keys[slot];
    const n = end - start;
    if (key !== undefined && key.length === n) {
      let i = 0;
      while (i < n && key[i] === bytes[start + i]) i++;
      if (i === n) return this.values[slot]!;
    }
    const value = decode(bytes, start, end);
    this.keys[slot] = bytes.slice(start, end);
    this.values[slot] = value;
    return value;
  }
}
