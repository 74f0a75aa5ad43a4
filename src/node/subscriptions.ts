import type { Encoding } from "../protocol/index.ts";
import type { ClientSocket } from "./session.ts";
import { topicOf } from "./session.ts";
import type { Batch } from "./turn-batches.ts";

/** One of the four ways a client receives: JSON or MessagePack, each in protocol version 1 or 2. */
export interface TopicVariant {
  readonly encoding: Encoding;
  /** Version 2: batched messages. */
  readonly batch: boolean;
  readonly topic: string;
  /** Local subscribers in this variant. */
  count: number;
  /** Version 2 frames waiting for the end of this event-loop turn (fanout.ts's TurnBatches). */
  pending: Batch<string | Uint8Array> | null;
}

/**
 * The local subscribers of one channel instance, per variant (index: variantIndex), with the Bun
 * topic of each. Fan-out reads it once per message instead of building topic names and asking Bun
 * for counts.
 */
export type InstanceTopics = readonly [TopicVariant, TopicVariant, TopicVariant, TopicVariant];

/** The index of a client's variant in InstanceTopics. */
export function variantIndex(encoding: Encoding, batch: boolean): number {
  return (encoding === "json" ? 0 : 2) + (batch ? 1 : 0);
}

function instanceTopics(instance: string): InstanceTopics {
  const v = (encoding: Encoding, batch: boolean): TopicVariant => ({ encoding, batch, topic: topicOf(encoding, batch, instance), count: 0, pending: null });
  return [v("json", false), v("json", true), v("msgpack", false), v("msgpack", true)];
}

/**
 * Which channels have subscribers on this node, and how many. Owns the Bun topic subscriptions,
 * so the count per channel and the native topic membership can never disagree.
 * The mesh (a later layer) listens for the 0 <-> 1 crossings to announce interest.
 */
export class LocalSubscriptions {
  /** Subscriber count per channel; a channel with none is absent. */
  private readonly counts = new Map<string, number>();
  /** Subscribers per channel instance and encoding; an instance with none is absent. */
  private readonly instances = new Map<string, InstanceTopics>();
  /** Total subscriptions across all clients. */
  total = 0;

  /** @param onInterest called when a channel gains its first or loses its last local subscriber. */
  constructor(private readonly onInterest: (channel: string, interested: boolean) => void = () => {}) {}

  /**
   * Subscribes to a channel instance the client was admitted to; false if it already was (the
   * call is then a no-op, apart from echo). A subscription to an older instance is replaced.
   */
  add(ws: ClientSocket, channel: string, instance: string, echo: boolean): boolean {
    const s = ws.data;
    if (echo) (s.echo ??= new Set()).add(channel);
    else s.echo?.delete(channel);
    const held = s.subs.get(channel);
    if (held === instance) return false;
    if (held !== undefined) this.remove(ws, channel);
    s.subs.set(channel, instance);
    ws.subscribe(topicOf(s.encoding, s.batch, instance));
    this.tally(instance, variantIndex(s.encoding, s.batch), 1);
    this.total++;
    const n = (this.counts.get(channel) ?? 0) + 1;
    this.counts.set(channel, n);
    if (n === 1) this.onInterest(channel, true);
    return true;
  }

  /** Unsubscribes; false if the client was not subscribed. */
  remove(ws: ClientSocket, channel: string): boolean {
    const s = ws.data;
    const instance = s.subs.get(channel);
    if (instance === undefined) return false;
    s.subs.delete(channel);
    s.echo?.delete(channel);
    // A socket that is already closed has left its topics natively; unsubscribe would throw.
    if (!s.closing) ws.unsubscribe(topicOf(s.encoding, s.batch, instance));
    this.tally(instance, variantIndex(s.encoding, s.batch), -1);
    this.release(channel);
    return true;
  }

  /** Forgets every subscription of a closed client (Bun has already removed it from its topics). */
  dropAll(ws: ClientSocket): void {
    for (const [channel, instance] of ws.data.subs) {
      this.tally(instance, variantIndex(ws.data.encoding, ws.data.batch), -1);
      this.release(channel);
    }
    ws.data.subs.clear();
    ws.data.echo = null;
  }

  /** The local subscribers of a channel instance per variant; undefined when it has none. */
  topics(instance: string): InstanceTopics | undefined {
    return this.instances.get(instance);
  }

  private tally(instance: string, variant: number, delta: 1 | -1): void {
    let t = this.instances.get(instance);
    if (t === undefined) {
      t = instanceTopics(instance);
      this.instances.set(instance, t);
    }
    t[variant]!.count += delta;
    if (t[0].count + t[1].count + t[2].count + t[3].count === 0) this.instances.delete(instance);
  }

  /** Number of channels with at least one local subscriber. */
  get channels(): number {
    return this.counts.size;
  }

  /** Local subscribers of a channel. */
  count(channel: string): number {
    return this.counts.get(channel) ?? 0;
  }

  /** Channels with their local subscriber counts, sorted by name. */
  list(): { name: string; subscribers: number }[] {
    return [...this.counts].sort(([a], [b]) => (a < b ? -1 : 1)).map(([name, subscribers]) => ({ name, subscribers }));
  }

  private release(channel: string): void {
    this.total--;
    const n = (this.counts.get(channel) ?? 1) - 1;
    if (n > 0) {
      this.counts.set(channel, n);
    } else {
      this.counts.delete(channel);
      this.onInterest(channel, false);
    }
  }
}
