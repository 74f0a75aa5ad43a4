import { DEDUP_WINDOW } from "./constants.ts";

/**
 * Duplicate suppression for data frames, per origin.
 *
 * Invariant: for each origin incarnation we keep the highest sequence number seen and a bitmap of
 * the DEDUP_WINDOW numbers below it. A number inside the window is a duplicate iff its bit is
 * set; a number older than the window counts as a duplicate (it cannot be told apart, and routes
 * deliver in order per path, so it is late by thousands of messages). Memory is bounded by
 * DEDUP_WINDOW bits per live origin; forget() drops an origin when it leaves the member table.
 */
export class DedupWindow {
  private readonly origins = new Map<string, { incarnation: number; highest: number; bits: Uint8Array }>();

  /** Records (origin, incarnation, seq); returns true if it was seen before (a duplicate or stale). */
  seen(origin: string, incarnation: number, seq: number): boolean {
    let o = this.origins.get(origin);
    if (!o || incarnation > o.incarnation) {
      o = { incarnation, highest: -1, bits: new Uint8Array(DEDUP_WINDOW / 8) };
      this.origins.set(origin, o);
    }
    if (incarnation < o.incarnation) return true; // an earlier life of the origin: stale
    if (seq > o.highest) {
      // Clear the bits of the numbers the window slides past, then mark seq.
      const shift = seq - o.highest;
      if (shift >= DEDUP_WINDOW) o.bits.fill(0);
      else for (let s = o.highest + 1; s <= seq; s++) clearBit(o.bits, s % DEDUP_WINDOW);
      o.highest = seq;
      setBit(o.bits, seq % DEDUP_WINDOW);
      return false;
    }
    if (o.highest - seq >= DEDUP_WINDOW) return true;
    const slot = seq % DEDUP_WINDOW;
    if (getBit(o.bits, slot)) return true;
    setBit(o.bits, slot);
    return false;
  }

  /** Drops what is kept for an origin that left the member table. */
  forget(origin: string): void {
    this.origins.delete(origin);
  }
}

function getBit(bits: Uint8Array, i: number): boolean {
  return (bits[i >> 3]! & (1 << (i & 7))) !== 0;
}
function setBit(bits: Uint8Array, i: number): void {
  bits[i >> 3]! |= 1 << (i & 7);
}
function clearBit(bits: Uint8Array, i: number): void {
  bits[i >> 3]! &= ~(1 << (i & 7));
}
