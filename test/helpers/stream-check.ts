/**
 * A Jepsen-style checker for numbered streams (issue 8, chaos): given what each publisher sent
 * (its numbers, when each left, and whether the node acknowledged it) and what one subscriber
 * received in order, it counts what was delivered, lost, duplicated and reordered.
 *
 * A publisher is named by the message's `from` (its client id) and numbers its messages with `n`
 * (1, 2, ... on a channel, as the node stamps them), so the check needs nothing from the payload.
 *
 * Definitions, per publisher:
 * - delivered: distinct numbers received;
 * - lost: numbers the node acknowledged that never arrived (an unacknowledged one is only
 *   "unconfirmed": the node may have refused it, and Relay promises nothing for it);
 * - duplicated: numbers received more than once (each extra copy counts);
 * - reordered: copies that arrived after a higher number of the same publisher had arrived;
 * - unexpected: numbers received that the publisher never sent (a message from another instance,
 *   another publisher's id, or garbage).
 */

/** One message a subscriber received, in arrival order. */
export interface Received {
  from: string;
  n: number;
  /** performance.now() when it arrived. */
  at: number;
}

/** One message a publisher sent. */
export interface Sent {
  n: number;
  /** performance.now() when it was handed to the socket. */
  at: number;
  /** True once the node acknowledged it; false if it refused it or never answered. */
  acked: boolean;
}

/** The verdict for one publisher at one subscriber. */
export interface StreamVerdict {
  from: string;
  sent: number;
  acked: number;
  delivered: number;
  lost: number[];
  unconfirmed: number[];
  duplicated: number[];
  reordered: number;
  unexpected: number[];
}

/** Checks one subscriber's arrivals against every publisher's record. */
export function checkStreams(published: ReadonlyMap<string, readonly Sent[]>, received: readonly Received[]): StreamVerdict[] {
  const verdicts: StreamVerdict[] = [];
  const byFrom = new Map<string, Received[]>();
  for (const r of received) {
    const list = byFrom.get(r.from);
    if (list) list.push(r);
    else byFrom.set(r.from, [r]);
  }
  for (const [from, sent] of published) {
    const got = byFrom.get(from) ?? [];
    byFrom.delete(from);
    const sentBy = new Map(sent.map((s) => [s.n, s]));
    const copies = new Map<number, number>();
    let highest = -Infinity;
    let reordered = 0;
    const unexpected: number[] = [];
    for (const r of got) {
      if (!sentBy.has(r.n)) unexpected.push(r.n);
      copies.set(r.n, (copies.get(r.n) ?? 0) + 1);
      if (r.n < highest) reordered++;
      highest = Math.max(highest, r.n);
    }
    const lost: number[] = [];
    const unconfirmed: number[] = [];
    for (const s of sent) {
      if (copies.has(s.n)) continue;
      (s.acked ? lost : unconfirmed).push(s.n);
    }
    const duplicated: number[] = [];
    for (const [n, c] of copies) for (let k = 1; k < c; k++) duplicated.push(n);
    verdicts.push({
      from,
      sent: sent.length,
      acked: sent.filter((s) => s.acked).length,
      delivered: [...copies.keys()].filter((n) => sentBy.has(n)).length,
      lost,
      unconfirmed,
      duplicated: duplicated.sort((a, b) => a - b),
      reordered,
      unexpected,
    });
  }
  // Messages from a publisher nobody declared: every one of them is unexpected.
  for (const [from, got] of byFrom) {
    verdicts.push({ from, sent: 0, acked: 0, delivered: 0, lost: [], unconfirmed: [], duplicated: [], reordered: 0, unexpected: got.map((r) => r.n) });
  }
  return verdicts;
}

/** Every arrival that came after a higher number of the same publisher: the number, the highest before it, and when it arrived. */
export function reorderings(received: readonly Received[]): { from: string; n: number; after: number; at: number }[] {
  const highest = new Map<string, number>();
  const out: { from: string; n: number; after: number; at: number }[] = [];
  for (const r of received) {
    const h = highest.get(r.from) ?? -Infinity;
    if (r.n < h) out.push({ from: r.from, n: r.n, after: h, at: r.at });
    else highest.set(r.from, r.n);
  }
  return out;
}

/** Numbers as compact ranges ("1-5 9 12-13"), for figures and failure messages. */
export function ranges(numbers: readonly number[]): string {
  const sorted = [...new Set(numbers)].sort((a, b) => a - b);
  const out: string[] = [];
  for (let i = 0; i < sorted.length; i++) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j]! + 1) j++;
    out.push(i === j ? `${sorted[i]}` : `${sorted[i]}-${sorted[j]}`);
    i = j;
  }
  return out.join(" ") || "none";
}

/** The q-quantile (0..1) of `values` by nearest rank; NaN when empty. */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank]!;
}
