/**
 * The simulator's agenda: a binary min-heap of callbacks ordered by (time, sequence number).
 *
 * Invariant: events at the same virtual time run in the order they were scheduled (the sequence
 * number breaks ties), so a run never depends on heap layout and the same seed replays exactly.
 */

interface Entry {
  time: number;
  seq: number;
  run: () => void;
}

function before(a: Entry, b: Entry): boolean {
  return a.time < b.time || (a.time === b.time && a.seq < b.seq);
}

export class EventQueue {
  /** Heap-ordered: heap[i] runs no later than its children 2i+1 and 2i+2. */
  private readonly heap: Entry[] = [];
  /** Next tie-breaking sequence number; only grows. */
  private nextSeq = 0;

  get size(): number {
    return this.heap.length;
  }

  /** Time of the earliest event, or Infinity when empty. */
  peekTime(): number {
    return this.heap[0]?.time ?? Infinity;
  }

  push(time: number, run: () => void): void {
    const heap = this.heap;
    const entry: Entry = { time, seq: this.nextSeq++, run };
    let i = heap.length;
    heap.push(entry);
    // Sift up.
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const p = heap[parent] as Entry;
      if (!before(entry, p)) break;
      heap[i] = p;
      i = parent;
    }
    heap[i] = entry;
  }

  /** Removes and returns the earliest event. */
  pop(): { time: number; run: () => void } | undefined {
    const heap = this.heap;
    const top = heap[0];
    if (top === undefined) return undefined;
    const last = heap.pop() as Entry;
    if (heap.length > 0) {
      // Sift the last entry down from the root.
      let i = 0;
      const n = heap.length;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= n) break;
        const r = l + 1;
        const child = r < n && before(heap[r] as Entry, heap[l] as Entry) ? r : l;
        const c = heap[child] as Entry;
        if (!before(c, last)) break;
        heap[i] = c;
        i = child;
      }
      heap[i] = last;
    }
    return top;
  }
}
