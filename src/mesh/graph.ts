import { type Adjacency, distanceAvoiding, type Rows, shortestPathTree, type Tree, TreeCache } from "./spt.ts";
import type { Lsa, NodeName } from "./types.ts";

export { shortestPathTree, TreeCache, type Tree, type Adjacency };

/**
 * The link-state database and the shortest-path trees computed from it.
 *
 * An edge counts only when both ends report it, so a half-dead link (one side still lists it)
 * is never used. Its weight is the mean of the two reported RTTs plus HOP_COST_MS, which makes
 * near-equal paths prefer fewer hops. Every node holds the same LSAs once flooding settles, and
 * ties break by node name, so every node computes the same tree for an origin: that is what
 * makes forwarding along the tree deliver each message exactly once.
 *
 * The adjacency is kept up to date per LSA (only the changed origin's edges are touched), and
 * anything derived from the whole graph (trees, reachability, path lengths) is computed lazily
 * and cached until the graph changes: at 1,000 members a node hears several LSAs a second.
 */

/** How long after a change routes also follow the previous graph: a few flood rounds across the mesh. */
export const TRANSITION_MS = 2000;

/** Added to every edge, in ms: loopback RTTs are ~0.1 ms, and a hop costs more than that in CPU and queueing. */
export const HOP_COST_MS = 0.5;

/**
 * Trees a graph keeps by itself: each holds maps over every member, so caching one per origin grows
 * with N^2 (about 170 MB at 1,000 members). The busiest origins stay cached; others are recomputed.
 */
const TREE_CACHE = 64;

/** Past this many edge changes since the last reachability answer, a full search is cheaper than catching up. */
const PENDING_EDGES = 256;

export class LinkStateGraph {
  /** The newest LSA per origin. */
  private readonly lsas = new Map<NodeName, Lsa>();
  /**
   * The undirected adjacency over edges both ends report, maintained per LSA. While a snapshot (the
   * stable graph) is held, rows are copied on write: the first change to a row since the snapshot
   * keeps the old row in `undo` and replaces it, so the snapshot is the live rows overlaid with
   * `undo`, and taking one costs nothing per member (at 1,000 members every node takes one at
   * nearly every LSA that follows a quiet spell).
   */
  private readonly adj = new Map<NodeName, Map<NodeName, number>>();
  /** The snapshot's rows of the rows changed since it was taken (undefined: it had none); null without a snapshot. */
  private undo: Map<NodeName, ReadonlyMap<NodeName, number> | undefined> | null = null;
  /** Bumped at every change; anything computed under an older version is stale. */
  private version = 0;
  /**
   * A digest of the LSAs held (two 32-bit sums of a hash per (origin, incarnation, seq), and the
   * count): equal digests mean equal graphs, so a shared tree cache can serve every graph that holds
   * the same LSAs. An (origin, incarnation, seq) names one LSA content: only the origin issues it.
   */
  private digestA = 0;
  private digestB = 0;
  /** Tree cache: shared ones are keyed by the digest, the private one by the version. */
  private readonly trees: TreeCache;
  private readonly shared: boolean;
  /**
   * What reachableFrom last answered, and the edges added and removed since (topology only, not
   * weights): the failure detector asks every DETECT_EVERY_MS, and in a large mesh the graph has
   * nearly always changed meanwhile, but rarely its reachability.
   */
  private reach: { root: NodeName; version: number; set: Set<NodeName> } | null = null;
  private added: [NodeName, NodeName][] = [];
  private removed: [NodeName, NodeName][] = [];
  /** Per-version memo of the overlay's path queries (cleared at each change). */
  private memoVersion = -1;
  private readonly memo = new Map<string, number | boolean>();

  /** The graph as it was before the latest burst of changes, and when the graph last changed (ms). */
  private stable: { key: string; adj: Rows } | null = null;
  private changedAt = -Infinity;
  /** The tree rooted at this node, for the version it was computed at. */
  private ownTree: { version: number; tree: Tree } | null = null;

  /**
   * `sharedTrees`: a cache that many graphs in one process may share (the simulator's thousand
   * cores); trees in it are keyed by graph content. Without it the graph keeps its own.
   */
  constructor(
    sharedTrees?: TreeCache,
    /** This node's name, if the graph is a node's: its own tree is kept apart (see tree()). */
    private readonly self?: NodeName,
  ) {
    this.shared = sharedTrees !== undefined;
    this.trees = sharedTrees ?? new TreeCache(TREE_CACHE);
  }

  /** True if `lsa` is newer than the LSA held for its origin (or none is held): what put() would store. */
  isNewer(lsa: Lsa): boolean {
    const held = this.lsas.get(lsa.origin);
    return held === undefined || held.incarnation < lsa.incarnation || (held.incarnation === lsa.incarnation && held.seq < lsa.seq);
  }

  /** Stores an LSA if it is newer than the one held; returns true if it changed anything. */
  put(lsa: Lsa, now: number): boolean {
    if (!this.isNewer(lsa)) return false;
    const held = this.lsas.get(lsa.origin);
    this.noteChange(now);
    if (held) this.mix(held, -1);
    this.mix(lsa, 1);
    this.lsas.set(lsa.origin, lsa);
    this.relink(lsa.origin, lsa, held ?? null);
    this.version++;
    return true;
  }

  /** A counter that moves at every change of the graph: equal counts, same graph. */
  get changes(): number {
    return this.version;
  }

  /** The LSA held for an origin. */
  get(origin: NodeName): Lsa | undefined {
    return this.lsas.get(origin);
  }

  /** Every LSA held. */
  all(): IterableIterator<Lsa> {
    return this.lsas.values();
  }

  /** Forgets a node's LSA (it is dead or left), so no path runs through it. */
  remove(origin: NodeName, now: number): void {
    const held = this.lsas.get(origin);
    if (!held) return;
    this.noteChange(now);
    this.mix(held, -1);
    this.lsas.delete(origin);
    this.relink(origin, null, null);
    this.version++;
  }

  /**
   * Keeps the graph as it stood before a burst of changes. Nodes learn a change at different
   * moments, so for TRANSITION_MS a sender may still route by the old graph while a relay uses the
   * new one; forwarding to the children of both trees meanwhile leaves no subtree uncovered (the
   * dedup window drops the extra copies). The snapshot shares rows with the live adjacency.
   */
  private noteChange(now: number): void {
    if (now - this.changedAt >= TRANSITION_MS) {
      const undo = new Map<NodeName, ReadonlyMap<NodeName, number> | undefined>();
      const live = this.adj;
      this.undo = undo;
      this.stable = { key: this.key(), adj: { get: (name) => (undo.has(name) ? undo.get(name) : live.get(name)) } };
    }
    this.changedAt = now;
  }

  /** The tree rooted at `origin` in the graph from before the latest changes, while they are recent; else null. */
  previousTree(origin: NodeName, now: number): Tree | null {
    if (!this.stable) return null;
    if (now - this.changedAt >= TRANSITION_MS) {
      // Over: let its rows go, and change rows in place again (the next change takes a new snapshot).
      this.stable = null;
      this.undo = null;
      return null;
    }
    return this.cached(this.stable.key, this.stable.adj, origin);
  }

  /**
   * Every node reachable from `from` over edges both ends report. The failure detector's test:
   * crashed nodes keep listing each other in their last LSAs, so "someone reports a link to it"
   * would let an island of dead nodes vouch for itself; reachability from here cannot. Read from
   * the (cached) tree rooted at `from`, which spans exactly that set.
   */
  reachableFrom(from: NodeName): ReadonlySet<NodeName> {
    const r = this.reach;
    if (r?.root === from && (r.version === this.version || this.catchUp(r))) return r.set;
    const set = this.component(from, new Set([from]));
    this.reach = { root: from, version: this.version, set };
    this.added = [];
    this.removed = [];
    return set;
  }

  /**
   * Brings the cached reachable set up to date from the edges changed since; false when a full
   * search is needed instead. Correct because: if both ends of every removed edge are still
   * connected, every path of the old set can detour around its removed edges, so the old set is
   * still reachable; a node reachable now but not before is reached over an added edge with one
   * end in the set, and the search from its other end takes in its whole component.
   */
  private catchUp(r: { version: number; set: Set<NodeName> }): boolean {
    for (const [u, v] of this.removed) if (r.set.has(u) && r.set.has(v) && !this.connected(u, v)) return false;
    for (const [u, v] of this.added) {
      if (!this.adj.get(u)?.has(v) || r.set.has(u) === r.set.has(v)) continue;
      const outside = r.set.has(u) ? v : u;
      r.set.add(outside);
      this.component(outside, r.set);
    }
    this.added = [];
    this.removed = [];
    r.version = this.version;
    return true;
  }

  private forgetReach(): void {
    this.reach = null;
    this.added = [];
    this.removed = [];
  }

  /** Adds to `seen` every node reachable from `from` not already in it (a search that stops at `seen`). */
  private component(from: NodeName, seen: Set<NodeName>): Set<NodeName> {
    const queue = [from];
    while (queue.length) {
      for (const m of this.adj.get(queue.pop()!)?.keys() ?? []) {
        if (seen.has(m)) continue;
        seen.add(m);
        queue.push(m);
      }
    }
    return seen;
  }

  /** True if a and b are connected: a search from both ends at once, one layer of the smaller side at a time. */
  private connected(a: NodeName, b: NodeName): boolean {
    if (a === b) return true;
    const seenA = new Set([a]);
    const seenB = new Set([b]);
    let frontA = [a];
    let frontB = [b];
    while (frontA.length > 0 && frontB.length > 0) {
      const fromA = frontA.length <= frontB.length;
      const [front, seen, other] = fromA ? [frontA, seenA, seenB] : [frontB, seenB, seenA];
      const next: NodeName[] = [];
      for (const n of front) {
        for (const m of this.adj.get(n)?.keys() ?? []) {
          if (other.has(m)) return true;
          if (seen.has(m)) continue;
          seen.add(m);
          next.push(m);
        }
      }
      if (fromA) frontA = next;
      else frontB = next;
    }
    return false;
  }

  /** Undirected adjacency with weights, built from edges both ends report (read-only: kept up to date in place). */
  edges(): Adjacency {
    return this.adj;
  }

  /** True if the graph minus the edge a-b still connects a and b (so dropping that link splits nothing). */
  hasPathAvoiding(a: NodeName, b: NodeName): boolean {
    const key = `p ${a} ${b}`;
    const memo = this.memoized(key);
    if (memo !== undefined) return memo as boolean;
    const adj = this.adj;
    const seen = new Set([a]);
    const queue = [a];
    let found = false;
    search: while (queue.length) {
      const n = queue.pop()!;
      for (const m of adj.get(n)?.keys() ?? []) {
        if ((n === a && m === b) || (n === b && m === a) || seen.has(m)) continue;
        if (m === b) {
          found = true;
          break search;
        }
        seen.add(m);
        queue.push(m);
      }
    }
    this.memo.set(key, found);
    return found;
  }

  /**
   * Path length from `from` to `to` without using the edge from-`avoid` (ms; Infinity if none):
   * what a link to `avoid` saves is the overlay's measure of that link's worth.
   */
  distanceAvoiding(from: NodeName, to: NodeName, avoid: NodeName): number {
    const key = `d ${from} ${to} ${avoid}`;
    const memo = this.memoized(key);
    if (memo !== undefined) return memo as number;
    const d = distanceAvoiding(this.adj, from, to, avoid);
    this.memo.set(key, d);
    return d;
  }

  /** The shortest-path tree rooted at `origin` (cached until the graph changes, for the busiest origins). */
  tree(origin: NodeName): Tree {
    if (origin !== this.self) return this.cached(this.key(), this.adj, origin);
    // The own tree (overlay upkeep, calls, own publishes) is this graph's alone: kept here, it does
    // not push the busiest origins out of a shared cache.
    if (this.ownTree?.version !== this.version) this.ownTree = { version: this.version, tree: shortestPathTree(this.adj, origin) };
    return this.ownTree.tree;
  }

  private cached(key: string, adj: Rows, origin: NodeName): Tree {
    const k = `${key} ${origin}`;
    let tree = this.trees.get(k);
    if (tree === undefined) {
      tree = shortestPathTree(adj, origin);
      this.trees.set(k, tree);
    }
    return tree;
  }

  /** The key trees of the current graph are cached by: its content when the cache is shared, else its version. */
  private key(): string {
    return this.shared ? `${this.digestA >>> 0}.${this.digestB >>> 0}.${this.lsas.size}` : `v${this.version}`;
  }

  private memoized(key: string): number | boolean | undefined {
    if (this.memoVersion !== this.version) {
      this.memo.clear();
      this.memoVersion = this.version;
    }
    return this.memo.get(key);
  }

  /** Adds (sign 1) or takes out (sign -1) an LSA's share of the content digest. */
  private mix(lsa: Lsa, sign: 1 | -1): void {
    let a = 0x9e3779b9 ^ lsa.incarnation;
    let b = 0x85ebca6b ^ lsa.seq;
    for (let i = 0; i < lsa.origin.length; i++) {
      const c = lsa.origin.charCodeAt(i);
      a = Math.imul(a ^ c, 0x01000193);
      b = Math.imul(b ^ c, 0x5bd1e995);
    }
    a = fmix(Math.imul(a ^ lsa.seq, 0xcc9e2d51) ^ (lsa.incarnation * 31));
    b = fmix(Math.imul(b ^ lsa.incarnation, 0x1b873593) ^ (lsa.seq * 17));
    this.digestA = (this.digestA + sign * a) | 0;
    this.digestB = (this.digestB + sign * b) | 0;
  }

  /**
   * Sets what `origin` reports (null: nothing, it is forgotten) and updates the edges between
   * `origin` and every peer it reported before or reports now. The adjacency is symmetric, so the
   * origin's old row names exactly the edges it had.
   */
  private relink(origin: NodeName, lsa: Lsa | null, held: Lsa | null): void {
    const old = this.adj.get(origin);
    const row = new Map<NodeName, number>();
    if (lsa) {
      const before = held === null ? null : reportsOf(held);
      for (const [peer, rtt] of reportsOf(lsa)) {
        // Reported as before (the usual case: an LSA changes one link or one RTT): the peer's LSA did
        // not change either, so the edge is as it was, present or not, without a look at the peer.
        if (before !== null && before.get(peer) === rtt) {
          const w = old?.get(peer);
          if (w !== undefined) row.set(peer, w);
          continue;
        }
        const back = this.lsas.get(peer);
        const backRtt = back === undefined ? undefined : reportsOf(back).get(origin);
        if (backRtt !== undefined) row.set(peer, (rtt + backRtt) / 2 + HOP_COST_MS);
      }
    }
    if (old) {
      for (const peer of old.keys()) {
        if (row.has(peer)) continue;
        const r = this.writableRow(peer);
        r.delete(origin);
        if (r.size === 0) this.adj.delete(peer);
        this.edgeChanged(origin, peer, false);
      }
    }
    // The same weight both ways: (a + b) / 2 is the same float as (b + a) / 2.
    for (const [peer, w] of row) {
      // Unchanged edges (most of them: an LSA usually changes one link or one RTT) are left alone.
      if (peer === origin || old?.get(peer) === w) continue; // (a self-report: the origin's own row below holds it)
      const r = this.writableRow(peer);
      if (!r.has(origin)) this.edgeChanged(origin, peer, true);
      r.set(origin, w);
    }
    // The origin's own row is new (never shared with a snapshot).
    this.keep(origin);
    if (row.size > 0) this.adj.set(origin, row);
    else this.adj.delete(origin);
  }

  /** `name`'s row, to change: in place unless a snapshot holds it, else a copy (the old one stays with the snapshot). */
  private writableRow(name: NodeName): Map<NodeName, number> {
    const row = this.adj.get(name);
    const kept = this.keep(name); // (a missing row is kept too: the snapshot had none)
    if (row !== undefined && !kept) return row;
    const copy = new Map(row);
    this.adj.set(name, copy);
    return copy;
  }

  /** Before a row first changes under a snapshot, keeps the snapshot's version of it; true if it did (the row is the snapshot's: copy it, never change it). */
  private keep(name: NodeName): boolean {
    if (this.undo === null || this.undo.has(name)) return false;
    this.undo.set(name, this.adj.get(name));
    return true;
  }

  /** Notes an edge added or removed, for reachableFrom to catch up on. */
  private edgeChanged(a: NodeName, b: NodeName, added: boolean): void {
    if (this.reach === null) return;
    (added ? this.added : this.removed).push([a, b]);
    if (this.added.length + this.removed.length > PENDING_EDGES) this.forgetReach();
  }
}

/**
 * Each LSA's links as a map (peer -> RTT, the first report of a peer counting), made once per LSA
 * object and shared by every graph that holds it: in the simulator a thousand cores hold the same
 * LSA objects. Sound because an LSA is never changed once issued (the codec makes a new object per
 * frame; the simulator freezes what it shares).
 */
const reportMaps = new WeakMap<Lsa, ReadonlyMap<NodeName, number>>();

function reportsOf(lsa: Lsa): ReadonlyMap<NodeName, number> {
  let reports = reportMaps.get(lsa);
  if (reports === undefined) {
    const m = new Map<NodeName, number>();
    for (const [peer, rtt] of lsa.links) if (!m.has(peer)) m.set(peer, rtt);
    reportMaps.set(lsa, (reports = m));
  }
  return reports;
}

/** The 32-bit finaliser of MurmurHash3: spreads every input bit over the output. */
function fmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}
