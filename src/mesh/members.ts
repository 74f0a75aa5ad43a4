import type { MemberRecord, MemberState, NodeName } from "./types.ts";

/**
 * The member table and SWIM's precedence rules for merging what peers say about a member.
 *
 * For the same member: a higher incarnation always wins; at equal incarnation the state that
 * says more wins: left > dead > suspect > alive. Only the member itself raises its incarnation,
 * which is how it refutes a suspicion (or a death declared during a partition).
 */

const RANK: Record<MemberState, number> = { alive: 0, suspect: 1, dead: 2, left: 3 };

/** True when `incoming` should replace `held` (a record is never replaced by an equal one). */
export function supersedes(incoming: MemberRecord, held: MemberRecord | undefined): boolean {
  if (!held) return true;
  if (incoming.incarnation !== held.incarnation) return incoming.incarnation > held.incarnation;
  return RANK[incoming.state] > RANK[held.state];
}

/** One member as this node holds it. */
export interface Member {
  record: MemberRecord;
  /** When the record last changed (ms); dead and left members are forgotten FORGET_DEAD_MS after. */
  since: number;
  /** RTT from a probe (ms) and when it was taken, for choosing near links; null until probed. */
  probedRtt: number | null;
  probedAt: number;
}

export class MemberTable {
  private readonly members = new Map<NodeName, Member>();
  /** Bumped whenever a record changes or a member is added or forgotten (not on probes): lets a reader skip a pass over an unchanged table. */
  version = 0;
  /** Every member's name in sorted order, while no member has been added or forgotten since (see sortedNames). */
  private sorted: NodeName[] | null = null;

  get(name: NodeName): Member | undefined {
    return this.members.get(name);
  }

  values(): IterableIterator<Member> {
    return this.members.values();
  }

  /**
   * Every member's name, sorted (as Array.prototype.sort orders strings). Kept until a member is
   * added or forgotten: the registry wants the live members in this order after every membership
   * change, and at 1,000 members a sort each time cost more than the change.
   */
  sortedNames(): readonly NodeName[] {
    return (this.sorted ??= [...this.members.keys()].sort());
  }

  /** Number of members in any state (the N in the suspicion timeout counts every known member). */
  get size(): number {
    return this.members.size;
  }

  /** Members currently alive or suspect: the ones that may still carry traffic. */
  isLive(name: NodeName): boolean {
    const s = this.members.get(name)?.record.state;
    return s === "alive" || s === "suspect";
  }

  /**
   * Applies a record if it supersedes the one held; returns the previous state (or "new") when
   * it changed something, and null when the record was old news.
   */
  merge(record: MemberRecord, now: number): MemberState | "new" | null {
    const held = this.members.get(record.name);
    if (!supersedes(record, held?.record)) {
      // Same incarnation and state, but the URL or region may have been learnt late: keep them fresh.
      return null;
    }
    this.version++;
    if (held) {
      const previous = held.record.state;
      held.record = { ...record };
      held.since = now;
      return previous;
    }
    this.members.set(record.name, { record: { ...record }, since: now, probedRtt: null, probedAt: 0 });
    this.sorted = null;
    return "new";
  }

  /** Sets a member's state locally (suspect or dead, from this node's own detector). */
  setState(name: NodeName, state: MemberState, now: number): MemberRecord | null {
    const m = this.members.get(name);
    if (!m || m.record.state === state) return null;
    this.version++;
    m.record = { ...m.record, state };
    m.since = now;
    return m.record;
  }

  /** Forgets a member entirely. */
  delete(name: NodeName): void {
    if (!this.members.delete(name)) return;
    this.version++;
    this.sorted = null;
  }
}
