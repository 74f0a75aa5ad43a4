import type { Lsa, NodeName } from "./types.ts";

/**
 * The link-state database and the shortest-path trees computed from it.
 *
 * An edge counts only when both ends report it, so a half-dead link (one side still lists it)
 * is never used. Its weight is the mean of the two reported RTTs plus HOP_COST_MS, which makes
 * near-equal paths prefer fewer hops. Every node holds the same LSAs once flooding settles, and
 * ties break by node name, so every node computes the same tree for an origin: that is what
 * makes forwarding along the tree deliver each message exactly once.
 */

/** How long after a change routes also follow the previous graph: a few flood rounds across the mesh. */
export const TRANSITION_MS = 2000;

/** Added to every edge, in ms: loopback RTTs are ~0.1 ms, and a hop costs more than that in CPU and queueing. */
export const HOP_COST_MS = 0.5;

/** A shortest-path tree rooted at one origin, with DFS intervals for O(1) "is n below c" tests. */
export interface Tree {
  /** Tree children of each node. */
  children: Map<NodeName, NodeName[]>;
  /** Entry and exit order of a DFS: n is in the subtree of c iff tin[c] <= tin[n] <= tout[c]. */
  tin: Map<NodeName, number>;
  tout: Map<NodeName, number>;
  /** Path length from the origin, ms. */
  dist: Map<NodeName, number>;
}

export class LinkStateGraph {
  /** The newest LSA per origin. */
  private readonly lsas = new Map<NodeName, Lsa>();
  /** Bumped at every change; trees computed under an older version are stale. */
  private version = 0;
  private readonly trees = new Map<NodeName, { version: number; tree: Tree }>();
  private adjacency: { version: number; adj: Map<NodeName, Map<NodeName, number>> } | null = null;

  /** The graph as it was before the latest burst of changes, and when the graph last changed (ms). */
  private stable: { version: number; adj: Map<NodeName, Map<NodeName, number>> } | null = null;
  private changedAt = -Infinity;
  private readonly stableTrees = new Map<NodeName, { version: number; tree: Tree }>();

  /** Stores an LSA if it is newer than the one held; returns true if it changed anything. */
  put(lsa: Lsa, now: number): boolean {
    const held = this.lsas.get(lsa.origin);
    if (held && (held.incarnation > lsa.incarnation || (held.incarnation === lsa.incarnation && held.seq >= lsa.seq))) return false;
    this.noteChange(now);
    this.lsas.set(lsa.origin, lsa);
    this.version++;
    return true;
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
    if (!this.lsas.has(origin)) return;
    this.noteChange(now);
    this.lsas.delete(origin);
    this.version++;
  }

  /**
   * Keeps the graph as it stood before a burst of changes. Nodes learn a change at different
   * moments, so for TRANSITION_MS a sender may still route by the old graph while a relay uses the
   * new one; forwarding to the children of both trees meanwhile leaves no subtree uncovered (the
   * dedup window drops the extra copies).
   */
  private noteChange(now: number): void {
    if (now - this.changedAt >= TRANSITION_MS) this.stable = { version: this.version, adj: this.edges() };
    this.changedAt = now;
  }

  /** The tree rooted at `origin` in the graph from before the latest changes, while they are recent; else null. */
  previousTree(origin: NodeName, now: number): Tree | null {
    if (!this.stable || now - this.changedAt >= TRANSITION_MS) return null;
    const cached = this.stableTrees.get(origin);
    if (cached?.version === this.stable.version) return cached.tree;
    const tree = shortestPathTree(this.stable.adj, origin);
    remember(this.stableTrees, origin, { version: this.stable.version, tree });
    return tree;
  }

  /**
   * Every node reachable from `from` over edges both ends report. The failure detector's test:
   * crashed nodes keep listing each other in their last LSAs, so "someone reports a link to it"
   * would let an island of dead nodes vouch for itself; reachability from here cannot.
   */
  reachableFrom(from: NodeName): Set<NodeName> {
    const adj = this.edges();
    const seen = new Set([from]);
    const queue = [from];
    while (queue.length) {
      for (const m of adj.get(queue.pop()!)?.keys() ?? []) {
        if (seen.has(m)) continue;
        seen.add(m);
        queue.push(m);
      }
    }
    return seen;
  }

  /** Undirected adjacency with weights, built from edges both ends report. */
  edges(): Map<NodeName, Map<NodeName, number>> {
    if (this.adjacency?.version === this.version) return this.adjacency.adj;
    const adj = new Map<NodeName, Map<NodeName, number>>();
    for (const lsa of this.lsas.values()) {
      for (const [peer, rtt] of lsa.links) {
        const back = this.lsas.get(peer)?.links.find(([n]) => n === lsa.origin);
        if (!back) continue;
        const w = (rtt + back[1]) / 2 + HOP_COST_MS;
        if (!adj.has(lsa.origin)) adj.set(lsa.origin, new Map());
        adj.get(lsa.origin)!.set(peer, w);
      }
    }
    this.adjacency = { version: this.version, adj };
    return adj;
  }

  /** True if the graph minus the edge a-b still connects a and b (so dropping that link splits nothing). */
  hasPathAvoiding(a: NodeName, b: NodeName): boolean {
    const adj = this.edges();
    const seen = new Set([a]);
    const queue = [a];
    while (queue.length) {
      const n = queue.pop()!;
      for (const m of adj.get(n)?.keys() ?? []) {
        if ((n === a && m === b) || (n === b && m === a) || seen.has(m)) continue;
        if (m === b) return true;
        seen.add(m);
        queue.push(m);
      }
    }
    return false;
  }

  /**
   * Path length from `from` to `to` without using the edge from-`avoid` (ms; Infinity if none):
   * what a link to `avoid` saves is the overlay's measure of that link's worth.
   */
  distanceAvoiding(from: NodeName, to: NodeName, avoid: NodeName): number {
    const adj = this.edges();
    const dist = new Map<NodeName, number>([[from, 0]]);
    const done = new Set<NodeName>();
    const heap = new MinHeap();
    heap.push(0, from);
    while (heap.size) {
      const [d, n] = heap.pop();
      if (done.has(n)) continue;
      if (n === to) return d;
      done.add(n);
      for (const [m, w] of adj.get(n) ?? []) {
        if (done.has(m) || (n === from && m === avoid) || (n === avoid && m === from)) continue;
        const nd = d + w;
        if (nd < (dist.get(m) ?? Infinity)) {
          dist.set(m, nd);
          heap.push(nd, m);
        }
      }
    }
    return Infinity;
  }

  /** The shortest-path tree rooted at `origin` (cached until the graph changes, for the busiest origins). */
  tree(origin: NodeName): Tree {
    const cached = this.trees.get(origin);
    if (cached?.version === this.version) {
      // Re-insert: Map order is the LRU order the bound below evicts by.
      this.trees.delete(origin);
      this.trees.set(origin, cached);
      return cached.tree;
    }
    const tree = shortestPathTree(this.edges(), origin);
    remember(this.trees, origin, { version: this.version, tree });
    return tree;
  }
}

/**
 * Dijkstra from `origin` with a binary heap ordered by (distance, name). Among equal-distance
 * parents the smaller name wins, and children are ordered by name, so the tree depends only on
 * the graph. Trees are cached per origin until the graph changes.
 */
export function shortestPathTree(adj: Map<NodeName, Map<NodeName, number>>, origin: NodeName): Tree {
  const dist = new Map<NodeName, number>([[origin, 0]]);
  const parent = new Map<NodeName, NodeName>();
  const done = new Set<NodeName>();
  const heap = new MinHeap();
  heap.push(0, origin);
  while (heap.size) {
    const [d, best] = heap.pop();
    if (done.has(best) || d !== dist.get(best)) continue; // a stale heap entry
    done.add(best);
    for (const [m, w] of adj.get(best) ?? []) {
      if (done.has(m)) continue;
      const nd = d + w;
      const old = dist.get(m);
      // Exact float comparison is safe: every node computes from the same inputs in the same order.
      if (old === undefined || nd < old) {
        dist.set(m, nd);
        parent.set(m, best);
        heap.push(nd, m);
      } else if (nd === old && best < parent.get(m)!) {
        parent.set(m, best);
      }
    }
  }
  const children = new Map<NodeName, NodeName[]>();
  for (const [child, p] of parent) {
    if (!children.has(p)) children.set(p, []);
    children.get(p)!.push(child);
  }
  for (const list of children.values()) list.sort();
  const tin = new Map<NodeName, number>();
  const tout = new Map<NodeName, number>();
  let clock = 0;
  // Iterative DFS: trees of thousands of nodes can be deep (a chain), deeper than a safe call stack.
  const stack: [NodeName, number][] = [[origin, 0]];
  tin.set(origin, clock++);
  while (stack.length) {
    const top = stack[stack.length - 1]!;
    const kids = children.get(top[0]) ?? [];
    if (top[1] < kids.length) {
      const next = kids[top[1]++]!;
      tin.set(next, clock++);
      stack.push([next, 0]);
    } else {
      tout.set(top[0], clock - 1);
      stack.pop();
    }
  }
  return { children, tin, tout, dist };
}

/**
 * Trees kept per graph: each holds maps over every member, so caching one per origin grows with
 * N^2 (about 170 MB at 1,000 members). The busiest origins stay cached; others are recomputed.
 */
const TREE_CACHE = 64;

function remember(cache: Map<NodeName, { version: number; tree: Tree }>, origin: NodeName, entry: { version: number; tree: Tree }): void {
  cache.delete(origin);
  cache.set(origin, entry);
  if (cache.size > TREE_CACHE) cache.delete(cache.keys().next().value!);
}

/** A binary min-heap of (distance, name), ordered by distance then name. */
class MinHeap {
  private readonly items: [number, NodeName][] = [];

  get size(): number {
    return this.items.length;
  }

  push(d: number, n: NodeName): void {
    const items = this.items;
    items.push([d, n]);
    let i = items.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!less(items[i]!, items[p]!)) break;
      [items[i], items[p]] = [items[p]!, items[i]!];
      i = p;
    }
  }

  pop(): [number, NodeName] {
    const items = this.items;
    const top = items[0]!;
    const last = items.pop()!;
    if (items.length > 0) {
      items[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < items.length && less(items[l]!, items[m]!)) m = l;
        if (r < items.length && less(items[r]!, items[m]!)) m = r;
        if (m === i) break;
        [items[i], items[m]] = [items[m]!, items[i]!];
        i = m;
      }
    }
    return top;
  }
}

function less(a: [number, NodeName], b: [number, NodeName]): boolean {
  return a[0] < b[0] || (a[0] === b[0] && a[1] < b[1]);
}
