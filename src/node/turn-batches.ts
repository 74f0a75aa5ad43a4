/**
 * Frames queued per destination during one turn of the event loop, sent together at its end: the
 * latency this adds is the rest of the current turn, and a node under load makes one send per
 * batch instead of one per frame. Peer links (peers.ts) and version 2 client topics (fanout.ts)
 * both batch this way.
 */
export class TurnBatches<K, F> {
  /**
   * Batches of this turn. Why two maps swapped at the end of a turn rather than one emptied key by
   * key: with many channels each batch holds one frame, and a Map set and delete per frame (plus a
   * copy of the keys to delete safely) cost 14% of a node's CPU at 1,000 channels; iterating and
   * clearing is what the raw Bun ceiling does.
   */
  private pending = new Map<K, Batch<F>>();
  private spare = new Map<K, Batch<F>>();
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
    const batch = this.pending.get(key);
    if (batch === undefined) {
      this.pending.set(key, { frames: [frame], bytes });
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
    const batch = this.pending.get(key);
    if (batch === undefined) return;
    this.pending.delete(key);
    this.send(key, batch.frames);
  }

  /** Sends every waiting batch now: at the end of each turn, and before a close. */
  readonly flushAll = (): void => {
    this.scheduled = false;
    // Frames added while these are sent (a send that closes a link, say) go to the fresh map.
    const batches = this.pending;
    this.pending = this.spare;
    for (const [key, batch] of batches) this.send(key, batch.frames);
    batches.clear();
    this.spare = batches;
  };
}

interface Batch<F> {
  frames: F[];
  bytes: number;
}
