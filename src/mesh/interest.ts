import type { InterestUpdate, NodeName } from "./types.ts";

/**
 * Which nodes want which channels. Each node owns a versioned set of its channels with local
 * subscribers; it announces only 0 <-> 1 crossings, batched into one delta per batch window.
 * A receiver applies a delta only on top of the version before it; on a gap it asks for the full
 * set (the digest exchange), so drift is always repaired.
 */
export class InterestTable {
  /** Remote (and own) interest sets with their versions. */
  private readonly sets = new Map<NodeName, { incarnation: number; version: number; channels: Set<string> }>();
  /** channel -> nodes that want it: the index routing reads for every message. */
  private readonly byChannel = new Map<string, Set<NodeName>>();

  /** Bumped whenever byChannel changes, so a route computed from it can tell it is still current. */
  private changeCount = 0;

  /** Own pending changes since the last flush: channel -> wanted. */
  private readonly pending = new Map<string, boolean>();

  constructor(
    private readonly self: NodeName,
    private incarnation: number,
  ) {
    this.sets.set(self, { incarnation, version: 0, channels: new Set() });
  }

  /** Nodes interested in a channel (own node included when it has local subscribers). */
  nodesFor(channel: string): ReadonlySet<NodeName> | undefined {
    return this.byChannel.get(channel);
  }

  /** Changes to nodesFor() so far: anything computed from it under another count is stale. */
  get changes(): number {
    return this.changeCount;
  }

  /** True when this node itself has local subscribers for the channel. */
  wantsLocally(channel: string): boolean {
    return this.sets.get(this.self)!.channels.has(channel);
  }

  /** The version held for a node (-1 when nothing is held). */
  versionOf(name: NodeName): number {
    return this.sets.get(name)?.version ?? -1;
  }

  /** True when a peer holds a newer set for a node than this node does (so ask for it). */
  olderThan(name: NodeName, incarnation: number, version: number): boolean {
    if (version <= 0 || name === this.self) return false;
    const s = this.sets.get(name);
    return !s || s.incarnation < incarnation || (s.incarnation === incarnation && s.version < version);
  }

  /** True when what is held for a node is newer than (incarnation, version), e.g. a peer's digest entry. */
  newerThan(name: NodeName, incarnation: number, version: number): boolean {
    const s = this.sets.get(name);
    if (!s || s.version <= 0) return false;
    return s.incarnation > incarnation || (s.incarnation === incarnation && s.version > version);
  }

  /** A local 0 <-> 1 crossing; applied to the index now, announced at the next flush. */
  setLocal(channel: string, interested: boolean): void {
    const own = this.sets.get(this.self)!;
    if (interested === own.channels.has(channel)) return;
    if (interested) own.channels.add(channel);
    else own.channels.delete(channel);
    this.index(this.self, channel, interested);
    // A crossing back within one batch cancels out: nothing to announce.
    if (this.pending.get(channel) === !interested) this.pending.delete(channel);
    else this.pending.set(channel, interested);
  }

  /** The batched delta of own changes, or null when nothing changed. */
  flush(): InterestUpdate | null {
    if (this.pending.size === 0) return null;
    const own = this.sets.get(this.self)!;
    own.version++;
    const add: string[] = [];
    const remove: string[] = [];
    for (const [channel, wanted] of this.pending) (wanted ? add : remove).push(channel);
    this.pending.clear();
    return { origin: this.self, incarnation: own.incarnation, version: own.version, full: false, add, remove };
  }

  /** The full set of a node, for repair. */
  full(name: NodeName): InterestUpdate | null {
    const s = this.sets.get(name);
    if (!s) return null;
    return { origin: name, incarnation: s.incarnation, version: s.version, full: true, add: [...s.channels], remove: [] };
  }

  /** Own incarnation changed (a refutation): announce the full set under it. */
  reincarnate(incarnation: number): InterestUpdate {
    this.incarnation = incarnation;
    const own = this.sets.get(this.self)!;
    own.incarnation = incarnation;
    own.version++;
    return this.full(this.self)!;
  }

  /**
   * Applies an update from another node. Returns "applied" (re-flood it), "old" (ignore), or
   * "gap" (a delta that does not follow what is held: ask for the full set).
   */
  apply(u: InterestUpdate): "applied" | "old" | "gap" {
    if (u.origin === this.self) return "old";
    const held = this.sets.get(u.origin);
    if (held && (u.incarnation < held.incarnation || (u.incarnation === held.incarnation && u.version <= held.version))) return "old";
    // A new incarnation starts from an empty set at version 0, like a node never heard of.
    const base = held && held.incarnation === u.incarnation ? held.version : 0;
    if (!u.full && base !== u.version - 1) return "gap";
    const s = held ?? { incarnation: u.incarnation, version: 0, channels: new Set<string>() };
    if (held && held.incarnation !== u.incarnation) {
      for (const c of s.channels) this.index(u.origin, c, false);
      s.channels = new Set();
    }
    if (u.full) {
      for (const c of s.channels) if (!u.add.includes(c)) this.index(u.origin, c, false);
      s.channels = new Set(u.add);
      for (const c of u.add) this.index(u.origin, c, true);
    } else {
      for (const c of u.add) {
        s.channels.add(c);
        this.index(u.origin, c, true);
      }
      for (const c of u.remove) {
        s.channels.delete(c);
        this.index(u.origin, c, false);
      }
    }
    s.incarnation = u.incarnation;
    s.version = u.version;
    this.sets.set(u.origin, s);
    return "applied";
  }

  /** Forgets a node's interest (it is dead or left). */
  forget(name: NodeName): void {
    const s = this.sets.get(name);
    if (!s || name === this.self) return;
    for (const c of s.channels) this.index(name, c, false);
    this.sets.delete(name);
  }

  private index(name: NodeName, channel: string, on: boolean): void {
    let set = this.byChannel.get(channel);
    if (on) {
      if (!set) this.byChannel.set(channel, (set = new Set()));
      if (set.has(name)) return;
      set.add(name);
    } else if (set?.delete(name)) {
      if (set.size === 0) this.byChannel.delete(channel);
    } else return;
    this.changeCount++;
  }
}
