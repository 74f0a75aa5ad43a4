import { CHANNEL_IDLE_MS, CHANNEL_SWEEP_MS, OPEN_RETRY_MS, OPEN_TIMEOUT_MS, TOMBSTONE_MS, VOTE_TIMEOUT_MS } from "./constants.ts";
import { hash32, ownerOf } from "./rendezvous.ts";
import type { CallBody, ChannelRecord, Directive, NodeName } from "./types.ts";

/**
 * The replicated channel registry and confirmed opens (ARCHITECTURE.md section 5), as a pure part
 * of the mesh core: the Mesh feeds it frames and ticks, and it speaks through the host below.
 *
 * - Every node holds every live record. Records flood like LSAs and a hash exchange (REGSYNC)
 *   repairs drift, so after a partition heals both sides hold both instances of a name, and the
 *   same deterministic rule (`wins`) leaves one everywhere.
 * - An unknown name is opened by asking its owner: the rendezvous hash of the name over the live
 *   members. The owner handles opens one at a time, so concurrent opens of one name get one record.
 * - Fencing: the owner answers only when it has synced the registry with a neighbour since the
 *   membership last changed (its "term"), so a node that just became owner, or just joined, never
 *   binds a name that exists elsewhere; a requester that hears `not_ready` asks again.
 * - Strict opens (protected channels on a node run with --strict-channels) are bound only after a
 *   majority of the last full membership acknowledged the owner, so a minority side of a
 *   partition cannot bind them.
 * - The owner closes a channel nobody subscribes to for CHANNEL_IDLE_MS; the close floods as a
 *   tombstone that stops stale copies of the record from reviving it.
 *
 * Password checks are not here: the core sees only verifiers, which it carries and never reads.
 */

/** What the registry needs from the mesh around it. */
export interface RegistryHost {
  readonly self: NodeName;
  readonly incarnation: number;
  /** Routes a call to a node along shortest paths; false when no route is known. */
  call(to: NodeName, req: number, body: CallBody): boolean;
  /** Floods a record to every neighbour (a record this node made or changed). */
  flood(record: ChannelRecord): void;
  /** True when some node, this one included, has subscribers for the channel. */
  hasInterest(channel: string): boolean;
  /** Members that are not gone for good (alive, suspect or dead, not left): the base of a strict majority. */
  quorumBase(): number;
  emit(directive: Directive): void;
}

/** Why an open failed, for the client's channel_unavailable error. */
export type OpenFailure = Extract<Directive, { type: "openFailed" }>;

/** A local open waiting for the owner's answer; opens of one name from this node share it. */
interface PendingOpen {
  call: number;
  reqs: number[];
  verifier: string | null;
  strict: boolean;
  deadline: number;
  retryAt: number;
  /** The owner last asked, for the timeout message. */
  owner: NodeName;
}

/** A strict bind waiting for acknowledgements (owner side). */
interface PendingVote {
  channel: string;
  record: ChannelRecord;
  acks: Set<NodeName>;
  needed: number;
  base: number;
  deadline: number;
  /** Requesters to answer, by (node, req). */
  waiters: { from: NodeName; req: number }[];
}

/** The deterministic conflict rule: a strict record beats a loose one, then the older, then the lower instance id. */
export function wins(a: ChannelRecord, b: ChannelRecord): boolean {
  if (a.strict !== b.strict) return a.strict;
  if (a.createdAt !== b.createdAt) return a.createdAt < b.createdAt;
  return a.instance < b.instance;
}

/** A record's contribution to the registry hash: two registries with the same live instances hash alike. */
function recordHash(r: ChannelRecord): number {
  return hash32(`${r.name}\u0000${r.instance}`);
}

export class ChannelRegistry {
  /** The live record per name. */
  private readonly live = new Map<string, ChannelRecord>();
  /** Closed instances: their name, when they closed, and when they may be forgotten. */
  private readonly closed = new Map<string, { name: string; closedAt: number; expires: number }>();
  /** Owner per name under the current membership, computed once per term. */
  private owners = new Map<string, NodeName>();
  /** XOR of recordHash over live records, kept up to date at every change. */
  private hashValue = 0;
  /** Instances minted by this node in this incarnation. */
  private minted = 0;
  /** Live members (alive or suspect), sorted, as of the latest membership change. */
  private members: NodeName[];
  private term = 0;
  private syncedTerm = 0;
  private readonly pending = new Map<string, PendingOpen>();
  private readonly byCall = new Map<number, string>();
  private nextCall = 1;
  private readonly votes = new Map<number, PendingVote>();
  private readonly voteOf = new Map<string, number>();
  /** Owner side: since when each channel it owns has had no subscriber anywhere. */
  private readonly idleSince = new Map<string, number>();
  private lastSweep = 0;
  /** Counters for /metrics. */
  readonly stats = { opens: 0, bound: 0, conflicts: 0, closed: 0, unavailable: 0 };

  constructor(private readonly host: RegistryHost) {
    this.members = [host.self];
  }

  /** The live record of a name. */
  get(name: string): ChannelRecord | undefined {
    return this.live.get(name);
  }

  /** Every live record, by name. */
  records(): ChannelRecord[] {
    return [...this.live.values()].sort((a, b) => (a.name < b.name ? -1 : 1));
  }

  /** Live records and tombstones not yet forgotten, for a full sync with a neighbour. */
  everything(now: number): ChannelRecord[] {
    const out = [...this.live.values()];
    // A tombstone travels as a record with closedAt set; only its name and instance matter to a receiver.
    for (const [instance, t] of this.closed) if (t.expires > now) out.push({ name: t.name, instance, creator: this.host.self, owner: this.host.self, createdAt: 0, verifier: null, strict: false, closedAt: t.closedAt });
    return out;
  }

  /** How many live channels the registry holds. */
  get size(): number {
    return this.live.size;
  }

  /** The registry hash exchanged in REGSYNC. */
  get hash(): number {
    return this.hashValue >>> 0;
  }

  /** True when this node may answer opens: it synced the registry since the membership last changed. */
  get synced(): boolean {
    return this.syncedTerm === this.term;
  }

  /**
   * The live members changed: ownership may have moved, so this node stops answering opens until
   * it has synced with a neighbour, unless it is `alone` (no link, and not joining: see JOIN_GRACE_MS).
   */
  membershipChanged(live: NodeName[], alone: boolean): void {
    this.members = live;
    this.owners = new Map();
    this.term++;
    if (alone) this.syncedTerm = this.term;
  }

  /** A neighbour's full registry arrived (REGSYNC answer): this node now holds at least what it knew. */
  markSynced(): void {
    this.syncedTerm = this.term;
  }

  /** The owner of a name as this node sees the membership. */
  ownerOf(name: string): NodeName {
    let owner = this.owners.get(name);
    if (owner === undefined) {
      owner = ownerOf(name, this.members);
      if (this.owners.size >= 100_000) this.owners.clear(); // a cache, bounded like one
      this.owners.set(name, owner);
    }
    return owner;
  }

  // ---- requester side ----

  /** A local client needs a channel: answer from the registry, or ask the owner. */
  open(req: number, channel: string, verifier: string | null, strict: boolean, now: number): void {
    const held = this.live.get(channel);
    if (held) return this.host.emit({ type: "opened", req, record: held });
    const waiting = this.pending.get(channel);
    if (waiting) {
      waiting.reqs.push(req);
      return;
    }
    this.stats.opens++;
    const p: PendingOpen = { call: this.nextCall++, reqs: [req], verifier, strict, deadline: now + OPEN_TIMEOUT_MS, retryAt: 0, owner: this.host.self };
    this.pending.set(channel, p);
    this.byCall.set(p.call, channel);
    this.ask(channel, p, now);
  }

  private ask(channel: string, p: PendingOpen, now: number): void {
    p.retryAt = now + OPEN_RETRY_MS;
    p.owner = this.ownerOf(channel);
    const body: CallBody = { kind: "open", channel, verifier: p.verifier, strict: p.strict };
    if (p.owner === this.host.self) this.onCall(this.host.self, p.call, body, now);
    else this.host.call(p.owner, p.call, body); // no route yet: the retry asks again
  }

  private settle(channel: string, outcome: { record: ChannelRecord } | { message: string }): void {
    const p = this.pending.get(channel);
    if (!p) return;
    this.pending.delete(channel);
    this.byCall.delete(p.call);
    for (const req of p.reqs) {
      if ("record" in outcome) this.host.emit({ type: "opened", req, record: outcome.record });
      else this.host.emit({ type: "openFailed", req, code: "channel_unavailable", message: outcome.message });
    }
    if (!("record" in outcome)) this.stats.unavailable++;
  }

  // ---- calls (requests and answers addressed to this node) ----

  onCall(from: NodeName, req: number, body: CallBody, now: number): void {
    switch (body.kind) {
      case "open":
        return this.ownerOpen(from, req, body.channel, body.verifier, body.strict, now);
      case "bound": {
        this.apply(body.record, now);
        const channel = this.byCall.get(req);
        if (channel === undefined) return;
        const winner = this.live.get(channel);
        // The answer lost to a tombstone or a newer conflict: ask again on the next retry.
        if (winner) this.settle(channel, { record: winner });
        return;
      }
      case "refused": {
        const channel = this.byCall.get(req);
        // not_ready: the retry asks again; the owner syncs within a round trip or two.
        if (channel !== undefined && body.code === "channel_unavailable") this.settle(channel, { message: body.message });
        return;
      }
      case "vote":
        return void this.reply(from, req, { kind: "voted" }, now);
      case "voted": {
        const vote = this.votes.get(req);
        if (!vote) return;
        vote.acks.add(from);
        if (vote.acks.size >= vote.needed) this.commit(req, vote, now);
        return;
      }
      case "rpc":
      case "rpcReply":
        return; // the shell's, routed past the registry by the mesh
    }
  }

  private reply(to: NodeName, req: number, body: CallBody, now: number): void {
    if (to === this.host.self) this.onCall(to, req, body, now);
    else this.host.call(to, req, body);
  }

  // ---- owner side ----

  private ownerOpen(from: NodeName, req: number, channel: string, verifier: string | null, strict: boolean, now: number): void {
    if (!this.synced) return this.reply(from, req, { kind: "refused", code: "not_ready", message: `${this.host.self} is syncing the channel registry after a membership change` }, now);
    const held = this.live.get(channel);
    if (held) return this.reply(from, req, { kind: "bound", record: held }, now);
    const voting = this.voteOf.get(channel);
    if (voting !== undefined) {
      const vote = this.votes.get(voting)!;
      if (!vote.waiters.some((w) => w.from === from && w.req === req)) vote.waiters.push({ from, req });
      return;
    }
    const record: ChannelRecord = {
      name: channel,
      instance: `${this.host.self}~${this.host.incarnation.toString(36)}~${(this.minted++).toString(36)}`,
      creator: from,
      owner: this.host.self,
      createdAt: now,
      verifier,
      strict: strict && verifier !== null,
      closedAt: null,
    };
    const waiters = [{ from, req }];
    if (!record.strict) return this.bind(record, waiters, now);
    const base = Math.max(1, this.host.quorumBase());
    const vote: PendingVote = { channel, record, acks: new Set([this.host.self]), needed: Math.floor(base / 2) + 1, base, deadline: now + VOTE_TIMEOUT_MS, waiters };
    if (vote.acks.size >= vote.needed) return this.bind(record, waiters, now);
    const id = this.nextCall++;
    this.votes.set(id, vote);
    this.voteOf.set(channel, id);
    for (const m of this.members) if (m !== this.host.self) this.host.call(m, id, { kind: "vote", channel });
  }

  private commit(id: number, vote: PendingVote, now: number): void {
    this.votes.delete(id);
    this.voteOf.delete(vote.channel);
    // A record may have arrived by flood while the vote ran (a partition healing): it decides.
    const held = this.live.get(vote.channel);
    if (held) {
      for (const w of vote.waiters) this.reply(w.from, w.req, { kind: "bound", record: held }, now);
      return;
    }
    this.bind(vote.record, vote.waiters, now);
  }

  private bind(record: ChannelRecord, waiters: { from: NodeName; req: number }[], now: number): void {
    this.stats.bound++;
    this.apply(record, now);
    this.host.flood(record);
    for (const w of waiters) this.reply(w.from, w.req, { kind: "bound", record }, now);
  }

  /** Closes a channel now, wherever its owner is (an operator's close-channel); false if none is open. */
  close(name: string, now: number): boolean {
    const held = this.live.get(name);
    if (!held) return false;
    const tombstone: ChannelRecord = { ...held, closedAt: now };
    this.apply(tombstone, now);
    this.host.flood(tombstone);
    return true;
  }

  // ---- replication ----

  /**
   * Merges a record from a neighbour, an answer, or this node. Returns true when it changed the
   * registry, so the caller floods it on. A live instance that loses to another, or is closed,
   * is reported to the shell, which turns its clients away.
   */
  apply(incoming: ChannelRecord, now: number): boolean {
    if (this.closed.has(incoming.instance)) return false;
    const held = this.live.get(incoming.name);
    if (incoming.closedAt !== null) {
      this.closed.set(incoming.instance, { name: incoming.name, closedAt: incoming.closedAt, expires: now + TOMBSTONE_MS });
      if (held?.instance === incoming.instance) {
        this.drop(held);
        this.stats.closed++;
        this.host.emit({ type: "channelLost", record: held, reason: "closed" });
      }
      return true;
    }
    if (held?.instance === incoming.instance) return false;
    if (held && !wins(incoming, held)) return false;
    if (held) {
      this.drop(held);
      this.stats.conflicts++;
      this.host.emit({ type: "channelLost", record: held, reason: "conflict", winner: incoming });
    }
    this.live.set(incoming.name, incoming);
    this.hashValue ^= recordHash(incoming);
    return true;
  }

  private drop(record: ChannelRecord): void {
    this.live.delete(record.name);
    this.hashValue ^= recordHash(record);
    this.idleSince.delete(record.name);
  }

  // ---- time ----

  tick(now: number): void {
    for (const [channel, p] of this.pending) {
      if (now >= p.deadline) this.settle(channel, { message: `no answer from ${p.owner}, the owner of channel ${channel}, within ${OPEN_TIMEOUT_MS} ms` });
      else if (now >= p.retryAt) this.ask(channel, p, now);
    }
    for (const [id, vote] of this.votes) {
      if (now < vote.deadline) continue;
      this.votes.delete(id);
      this.voteOf.delete(vote.channel);
      const message = `channel ${vote.channel} is strict: ${vote.acks.size} of the last ${vote.base} members acknowledged it, a majority needs ${vote.needed}`;
      for (const w of vote.waiters) this.reply(w.from, w.req, { kind: "refused", code: "channel_unavailable", message }, now);
    }
    if (now - this.lastSweep >= CHANNEL_SWEEP_MS) {
      this.lastSweep = now;
      this.sweep(now);
    }
  }

  /** Closes channels this node owns that have had no subscriber anywhere for CHANNEL_IDLE_MS. */
  private sweep(now: number): void {
    for (const [instance, t] of this.closed) if (now >= t.expires) this.closed.delete(instance);
    if (!this.synced) return;
    for (const record of this.live.values()) {
      if (this.host.hasInterest(record.name) || this.ownerOf(record.name) !== this.host.self) {
        this.idleSince.delete(record.name);
        continue;
      }
      const since = this.idleSince.get(record.name);
      if (since === undefined) this.idleSince.set(record.name, now);
      else if (now - since >= CHANNEL_IDLE_MS) {
        const tombstone: ChannelRecord = { ...record, closedAt: now };
        this.apply(tombstone, now);
        this.host.flood(tombstone);
      }
    }
  }
}
