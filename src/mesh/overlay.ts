import {
  DIAL_BACKOFF_MAX_MS,
  DIAL_BACKOFF_MIN_MS,
  MAX_PROBES_IN_FLIGHT,
  MIN_LINKS,
  PROBE_TTL_MS,
  REDIRECT_SAMPLE,
  RANDOM_LINKS,
  CALL_THE_DEAD_MS,
  CALL_THE_FORGOTTEN_MS,
  FORGOTTEN_KEPT,
  SWAP_EVERY_MS,
  SWAPS_PER_REPAIR,
  SWAP_GAIN,
  SWAP_MIN_GAIN_MS,
  targetLinks,
} from "./constants.ts";
import type { LinkStateGraph } from "./graph.ts";
import type { MemberTable } from "./members.ts";
import type { Directive, LinkId, MemberRecord, NodeName, PeerInfo } from "./types.ts";

/** A live peer link as the core holds it. */
export interface Link {
  id: LinkId;
  peer: PeerInfo;
  /** True when this node opened it. */
  dialed: boolean;
  /** Moving average of ping RTTs (ms); null until the first pong. */
  rtt: number | null;
  /** Last frame of any kind from the peer (ms): silence past LINK_DEAD_MS kills the link. */
  lastHeard: number;
  lastPing: number;
  /** Dialed as one of the RANDOM_LINKS long links, which the nearest-first rules leave alone. */
  random: boolean;
  /**
   * Set when the overlay dropped this link (ms): it is already left out of this node's LSA, so
   * trees route around it, but it stays open until LINK_DRAIN_MS later to carry what is in flight.
   */
  drainingSince: number | null;
}

/**
 * The overlay under the link budget (ARCHITECTURE.md section 4): keep the nearest members by
 * measured RTT plus a couple of random long links; repair when links die; swap a link for a
 * candidate more than 20% nearer; trim only down to --max-peers, and never a link whose loss
 * would split the graph. Dials back off per address with jitter, so nothing storms.
 */
export class Overlay {
  /** Dials in flight by address: when they started and whether they were for a random link. */
  private readonly dialing = new Map<string, { since: number; random: boolean }>();
  /** Failed addresses: how often in a row, and not before when to try again. */
  private readonly backoff = new Map<string, { failures: number; next: number }>();
  /** Members being probed, by name. */
  private readonly probing = new Set<NodeName>();
  /** A link to drop once the nearer link that replaces it is up (a swap). */
  private swapVictim: NodeName | null = null;
  /** When the last swap started and the last call on a dead member went out (ms). */
  private lastSwap = -Infinity;
  /** Swaps left before the next repair: a fixed budget, so the overlay settles instead of chasing small gains. */
  private swapsLeft = SWAPS_PER_REPAIR;
  private lastDeadCall = 0;
  /** Addresses of members forgotten while dead (at most FORGOTTEN_KEPT), and when one was last called. */
  private readonly forgotten: string[] = [];
  private lastForgottenCall = 0;
  /** Bumped at every change to dials in flight, backoffs and probe results: part of bestMemo's key. */
  private epoch = 0;
  /**
   * The most worthwhile candidate as last computed, and the state it was computed from (graph and
   * member table versions, epoch, links, how many candidates). A node checks for a swap every
   * round, and in a settled mesh none of that changes between rounds; the candidates can change
   * with time alone only by a backoff expiring, which adds one (so their count is in the key).
   */
  private bestMemo: { key: string; best: MemberRecord | undefined } | null = null;

  constructor(
    private readonly seeds: string[],
    private readonly maxPeers: number,
    private readonly random: () => number,
  ) {}

  /** A dead member was forgotten (FORGET_DEAD_MS): keep its address, to call across a partition that long. */
  forgot(url: string): void {
    if (this.forgotten.includes(url)) return;
    if (this.forgotten.length < FORGOTTEN_KEPT) this.forgotten.push(url);
    else this.forgotten[Math.floor(this.random() * FORGOTTEN_KEPT)] = url;
  }

  dialSucceeded(address: string): void {
    this.epoch++;
    this.backoff.delete(address);
  }

  /** True if the dial that opened `address` was for a random long link (read once, at link up). */
  wasRandom(address: string): boolean {
    const d = this.dialing.get(address);
    this.epoch++;
    this.dialing.delete(address);
    return d?.random ?? false;
  }

  dialFailed(address: string, now: number): void {
    this.epoch++;
    this.dialing.delete(address);
    this.penalise(address, now);
  }

  /** A link that went down without this node closing it: do not dial it straight back. */
  linkLost(url: string, now: number): void {
    this.penalise(url, now);
    this.swapsLeft = SWAPS_PER_REPAIR;
  }

  expiredDials(now: number, timeout: number): string[] {
    return [...this.dialing].filter(([, d]) => now - d.since > timeout).map(([a]) => a);
  }

  probed(name: NodeName, rtt: number | null, members: MemberTable, now: number): void {
    this.probing.delete(name);
    this.epoch++;
    const m = members.get(name);
    if (!m) return;
    m.probedRtt = rtt;
    m.probedAt = now;
  }

  /** One round of upkeep; returns dial, probe and close directives. */
  upkeep(now: number, members: MemberTable, self: NodeName, links: Map<LinkId, Link>, byPeer: Map<NodeName, LinkId>, graph: LinkStateGraph): Directive[] {
    const out: Directive[] = [];
    // One pass over the table (it holds every member, and upkeep runs every second at every node).
    let aliveCount = 0;
    const candidates: MemberRecord[] = [];
    for (const m of members.values()) {
      const r = m.record;
      if (r.state !== "alive" || r.name === self) continue;
      aliveCount++;
      if (!byPeer.has(r.name) && !this.dialing.has(r.url) && this.ready(r.url, now)) candidates.push(r);
    }

    // With no link at all, the seeds are the way in (and back in, after a partition heals).
    if (links.size === 0 && this.dialing.size === 0) {
      for (const seed of this.seeds) if (this.ready(seed, now)) this.dial(seed, false, now, out);
      // Members we once knew, dead ones included, may be reachable when the seeds are not.
      const known = [...members.values()].map((m) => m.record).filter((r) => r.name !== self && r.state !== "left" && this.ready(r.url, now));
      if (known.length) this.dial(known[Math.floor(this.random() * known.length)]!.url, false, now, out);
      return out;
    }

    // Now and then, call on a member we think dead: after a partition heals this is how the two
    // sides find each other again (memberlist's "gossip to the dead"); the link's digest exchange
    // makes both sides refute and merge.
    if (now - this.lastDeadCall >= CALL_THE_DEAD_MS) {
      this.lastDeadCall = now;
      const dead = [...members.values()].map((m) => m.record).filter((r) => r.state === "dead" && !byPeer.has(r.name) && !this.dialing.has(r.url) && this.ready(r.url, now));
      if (dead.length) this.dial(dead[Math.floor(this.random() * dead.length)]!.url, false, now, out);
      else if (this.forgotten.length > 0 && now - this.lastForgottenCall >= CALL_THE_FORGOTTEN_MS) {
        this.lastForgottenCall = now;
        // A member known again (the partition healed through someone else) is no longer forgotten.
        const known = new Set<string>();
        for (const m of members.values()) known.add(m.record.url);
        for (let i = this.forgotten.length - 1; i >= 0; i--) if (known.has(this.forgotten[i]!)) this.forgotten.splice(i, 1);
        const callable = this.forgotten.filter((url) => !this.dialing.has(url) && this.ready(url, now));
        if (callable.length) this.dial(callable[Math.floor(this.random() * callable.length)]!, false, now, out);
      }
    }

    // Probe members whose RTT is unknown or stale, a few at a time.
    for (const r of shuffle(candidates, this.random)) {
      if (this.probing.size >= MAX_PROBES_IN_FLIGHT) break;
      const m = members.get(r.name)!;
      if (this.probing.has(r.name) || (m.probedAt > 0 && now - m.probedAt < PROBE_TTL_MS)) continue;
      this.probing.add(r.name);
      out.push({ type: "probe", name: r.name, url: r.url });
    }

    // Aim for targetLinks, never fewer than MIN_LINKS where that many members exist, never more than --max-peers.
    const target = Math.min(this.maxPeers, aliveCount, Math.max(targetLinks(this.maxPeers), MIN_LINKS));
    const degree = (name: NodeName) => graph.get(name)?.links.length ?? 0;
    const rttOf = (name: NodeName) => members.get(name)?.probedRtt ?? null;
    // A candidate's worth: how much shorter a direct link would be than today's best path to it.
    // Linking where paths detour most is what keeps every route near the direct RTT.
    // (The tree is a path search over the whole graph: read only when a fill or a swap needs `best`.)
    let pathTo: ReadonlyMap<NodeName, number> | null = null;
    const gain = (name: NodeName) => ((pathTo ??= graph.tree(self).dist).get(name) ?? Infinity) - rttOf(name)!;
    // Members already at the budget would only have to drop someone to take us: dial the others.
    // Except members of our own region: they take a same-region link over a far one (see linkUp).
    const ownRegion = members.get(self)?.record.region ?? "";
    let openList: MemberRecord[] | null = null;
    const open = () => (openList ??= candidates.filter((r) => degree(r.name) < this.maxPeers || (ownRegion !== "" && r.region === ownRegion)));
    // The measured candidate worth most (by gain, then RTT, then name): one pass, not a sort of every member.
    const best = (): MemberRecord | undefined => {
      const key = `${graph.changes} ${members.version} ${this.epoch} ${candidates.length} ${[...links.keys()].join(",")}`;
      if (this.bestMemo?.key === key) return this.bestMemo.best;
      let b: MemberRecord | undefined;
      let bGain = 0;
      let bRtt = 0;
      for (const r of open()) {
        const rtt = rttOf(r.name);
        if (rtt === null) continue;
        const g = gain(r.name);
        // As a comparator: gain descending (two Infinities tie), then RTT, then name.
        if (b === undefined || (bGain - g || rtt - bRtt || (r.name < b.name ? -1 : 1)) < 0) {
          b = r;
          bGain = g;
          bRtt = rtt;
        }
      }
      this.bestMemo = { key, best: b };
      return b;
    };

    // Fill up to the target: random long links first if missing, then the most worthwhile measured.
    if (links.size + this.dialing.size < target && open().length > 0) {
      const randoms = [...links.values()].filter((l) => l.random).length;
      if (randoms < Math.min(RANDOM_LINKS, target - 1) && links.size >= 1) {
        this.dial(open()[Math.floor(this.random() * open().length)]!.url, true, now, out);
      } else {
        const pick = best() ?? open()[Math.floor(this.random() * open().length)]!;
        this.dial(pick.url, false, now, out);
      }
      return out;
    }

    // A link's worth: how much longer the path to its peer would be without it (Infinity: a bridge).
    // Each is a path search, so they are computed only when a swap or a trim needs them.
    let nearSorted: { near: Link[]; worth: Map<LinkId, number> } | null = null;
    const byWorth = () => {
      if (nearSorted) return nearSorted;
      const near = [...links.values()].filter((l) => !l.random && l.rtt !== null);
      const worth = new Map(near.map((l) => [l.id, graph.distanceAvoiding(self, l.peer.name, l.peer.name) - l.rtt!]));
      near.sort((a, b) => worth.get(a.id)! - worth.get(b.id)! || b.rtt! - a.rtt!);
      return (nearSorted = { near, worth });
    };
    const hasNear = [...links.values()].some((l) => !l.random && l.rtt !== null);

    // Swap: a candidate clearly worth more than our least useful near link (by SWAP_GAIN and a few
    // ms, so RTT noise never churns links), only with room for one more link: a node never goes over.
    const candidate = links.size < this.maxPeers && this.dialing.size === 0 && this.swapVictim === null && hasNear && this.swapsLeft > 0 && now - this.lastSwap >= SWAP_EVERY_MS ? best() : undefined;
    if (candidate) {
      const g = gain(candidate.name);
      const weakest = g >= SWAP_MIN_GAIN_MS ? byWorth().near[0]! : null;
      if (weakest && g * SWAP_GAIN > byWorth().worth.get(weakest.id)! + SWAP_MIN_GAIN_MS) {
        this.lastSwap = now;
        this.swapsLeft--;
        this.swapVictim = weakest.peer.name;
        this.dial(candidate.url, false, now, out);
        return out;
      }
    }

    // Trim: over the budget, or a swap's replacement is up. Never a bridge; among the rest, the
    // least useful link first.
    const victimId = this.swapVictim === null ? undefined : byPeer.get(this.swapVictim);
    const swapDone = victimId !== undefined && links.size > Math.min(target, this.maxPeers - 1);
    if (this.dialing.size === 0 && !swapDone) this.swapVictim = null;
    if (links.size > this.maxPeers || swapDone) {
      const { near } = byWorth();
      const others = links.size > this.maxPeers ? [...near, ...[...links.values()].filter((l) => l.random || l.rtt === null)] : near;
      const order = swapDone ? [links.get(victimId!)!, ...others] : others;
      for (const l of order) {
        if (degree(l.peer.name) <= 1 || !graph.hasPathAvoiding(self, l.peer.name)) continue;
        out.push({ type: "close", link: l.id, reason: swapDone ? "swapped for a more useful peer" : "over the link budget" });
        break;
      }
      this.swapVictim = null;
    }
    return out;
  }

  /**
   * Members to point a turned-away newcomer at: up to REDIRECT_SAMPLE alive members other than the
   * two of us, at random, those with room for a link (by their LSAs) first.
   */
  redirectSample(members: MemberTable, self: NodeName, newcomer: NodeName, graph: LinkStateGraph): MemberRecord[] {
    const alive = [...members.values()].map((m) => m.record).filter((r) => r.state === "alive" && r.name !== self && r.name !== newcomer);
    const room = alive.filter((r) => (graph.get(r.name)?.links.length ?? 0) < this.maxPeers);
    const pool = room.length > 0 ? room : alive;
    // A partial Fisher-Yates: the first k of a random permutation.
    const k = Math.min(REDIRECT_SAMPLE, pool.length);
    for (let i = 0; i < k; i++) {
      const j = i + Math.floor(this.random() * (pool.length - i));
      [pool[i], pool[j]] = [pool[j]!, pool[i]!];
    }
    return pool.slice(0, k);
  }

  /** True when `name` is clearly nearer than this node's farthest near link: same region, or by a probe (SWAP_GAIN and SWAP_MIN_GAIN_MS). */
  nearerThanWorst(name: NodeName, members: MemberTable, links: Map<LinkId, Link>, self: NodeName): boolean {
    let worst: Link | null = null;
    for (const l of links.values()) if (!l.random && l.rtt !== null && l.drainingSince === null && (worst === null || l.rtt > worst.rtt!)) worst = l;
    if (worst === null) return false;
    // Same region as us while our farthest link leaves it: near without measuring (regions are set by operators).
    const region = members.get(self)?.record.region ?? "";
    if (region !== "" && members.get(name)?.record.region === region && worst.peer.region !== region) return true;
    const rtt = members.get(name)?.probedRtt;
    if (rtt === null || rtt === undefined) return false;
    return rtt < SWAP_GAIN * worst.rtt! && worst.rtt! - rtt >= SWAP_MIN_GAIN_MS;
  }

  private ready(address: string, now: number): boolean {
    const b = this.backoff.get(address);
    return !b || now >= b.next;
  }

  private dial(address: string, random: boolean, now: number, out: Directive[]): void {
    if (this.dialing.has(address)) return;
    this.epoch++;
    this.dialing.set(address, { since: now, random });
    out.push({ type: "dial", address });
  }

  private penalise(address: string, now: number): void {
    this.epoch++;
    const failures = (this.backoff.get(address)?.failures ?? 0) + 1;
    const cap = Math.min(DIAL_BACKOFF_MAX_MS, DIAL_BACKOFF_MIN_MS * 2 ** (failures - 1));
    this.backoff.set(address, { failures, next: now + cap * (0.5 + 0.5 * this.random()) });
  }
}

/** A shuffled copy (Fisher-Yates) with the injected random source, so the simulator is repeatable. */
function shuffle<T>(items: T[], random: () => number): T[] {
  const a = [...items];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}
