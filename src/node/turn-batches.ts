/**
 * Frames queued per destination during one turn of the event loop, sent together at its end: the
 * latency this adds is the rest of the current turn, and a node under load makes one send per
 * batch instead of one per frame. Peer links (peers.ts) and version 2 client topics (fanout.ts)
 * both batch this way.
 */
export class TurnBatches<K extends BatchSlot<F>, F> {
  /**
   * Keys that got a batch this turn. Why the batch lives on the key rather than in a Map keyed by
   * it: at 1,000 channels each batch holds one frame, and a Map set, delete and re-grow per frame
   * cost 14% of a node's CPU in the many-channels bench (about 200 ns per frame, against 50 ns
   * this way). Two arrays are swapped at the end of a turn so neither is reallocated.
   */
  private dirty: K[] = [];
  private spare: K[] = [];
  private scheduled = false;

  /**
   * @param maxBytes a batch is sent as soon as it holds this many bytes, without waiting for the
   *   end of the turn: it bounds what a receiver takes in at once and what a burst can hold.
   * @param send sends one batch, its frames in the order they were added.
   */
  constructor(
    private readonly maxBytes: number,
    private readonly send: (key: K, frames: F[]) => void,
  ) {}

  /** Queues a frame of `bytes` (counted against maxBytes) for `key`. */
  add(key: K, frame: F, bytes: number): void {
    const batch = key.pending;
    if (batch === null) {
      key.pending = { frames: [frame], bytes };
      this.dirty.push(key);
      if (bytes >= this.maxBytes) return this.flush(key);
    } else {
      batch.frames.push(frame);
      batch.bytes += bytes;
      if (batch.bytes >= this.maxBytes) return this.flush(key);
    }
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flushAll);
    }
  }

  /** Sends what waits for `key` now (to keep order with something sent outside the batches). */
  flush(key: K): void {
    const batch = key.pending;
    if (batch === null) return;
    // Left in `dirty`: flushAll skips a key whose batch is gone.
    key.pending = null;
    this.send(key, batch.frames);
  }

  /** Sends every waiting batch now: at the end of each turn, and before a close. */
  readonly flushAll = (): void => {
    this.scheduled = false;
    // Frames added while these are sent (a send that closes a link, say) start a fresh list.
    const keys = this.dirty;
    this.dirty = this.spare;
    for (let i = 0; i < keys.length; i++) this.flush(keys[i]!);
    keys.length = 0;
    this.spare = keys;
  };
}

/** Where a destination holds its batch for this turn; null while it has none. */
export interface BatchSlot<F> {
  pending: Batch<F> | null;
}

export interface Batch<F> {
  frames: F[];
  bytes: number;
}
