import type { NodeName } from "./types.ts";

/**
 * Shortest-path trees over the link-state graph, and the cache that keeps them.
 *
 * A tree depends only on the adjacency it was computed from: ties break by name and every float
 * is summed in the same order, so two nodes holding the same LSAs compute the same tree (which is
 * what makes forwarding along it deliver each message exactly once).
 */

/** Undirected weighted adjacency: node -> neighbour -> weight (ms). Read-only to everyone but its graph. */
export type Adjacency = ReadonlyMap<NodeName, ReadonlyMap<NodeName, number>>;

/** All a path search reads of an adjacency: a node's row (a graph's snapshot is a view, not a Map). */
export interface Rows {
  get(name: NodeName): ReadonlyMap<NodeName, number> | undefined;
}

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

/**
 * Dijkstra from `origin` with a binary heap ordered by (distance, name). Among equal-distance
 * parents the smaller name wins, and children are ordered by name, so the tree depends only on
 * the graph, never on the order its rows or LSAs were built in.
 */
export function shortestPathTree(adj: Rows, origin: NodeName): Tree {
  const dist = new Map<NodeName, number>([[origin, 0]]);
  const parent = new Map<NodeName, NodeName>();
  const done = new Set<NodeName>();
  const heap = new MinHeap();
  heap.push(0, origin);
  while (heap.size) {
    const d = heap.topDistance;
    const best = heap.pop();
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
    const list = children.get(p);
    if (list === undefined) children.set(p, [child]);
    else list.push(child);
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
    const kids = children.get(top[0]);
    if (kids !== undefined && top[1] < kids.length) {
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
 * Dijkstra from `from` to `to` without the edge from-`avoid` (ms; Infinity if no path). Stops as
 * soon as `to` is settled, so a near peer costs a small part of the graph.
 */
export function distanceAvoiding(adj: Rows, from: NodeName, to: NodeName, avoid: NodeName): number {
  const dist = new Map<NodeName, number>([[from, 0]]);
  const done = new Set<NodeName>();
  const heap = new MinHeap();
  heap.push(0, from);
  while (heap.size) {
    const d = heap.topDistance;
    const n = heap.pop();
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

/**
 * A bounded LRU of trees by (graph key, origin). A graph keeps a private one keyed by its version;
 * a simulator running many cores in one process may hand every graph the same one, keyed by graph
 * content (see LinkStateGraph's constructor), so the thousand nodes that hold the same LSAs compute
 * and keep each tree once.
 */
export class TreeCache {
  private readonly entries = new Map<string, Tree>();

  /** At most `limit` trees: each holds maps over every member (~200 KB at 1,000 members). */
  constructor(readonly limit: number) {}

  get(key: string): Tree | undefined {
    const tree = this.entries.get(key);
    if (tree !== undefined) {
      // Re-insert: Map order is the LRU order the bound evicts by.
      this.entries.delete(key);
      this.entries.set(key, tree);
    }
    return tree;
  }

  set(key: string, tree: Tree): void {
    this.entries.delete(key);
    this.entries.set(key, tree);
    if (this.entries.size > this.limit) this.entries.delete(this.entries.keys().next().value!);
  }

  get size(): number {
    return this.entries.size;
  }
}

/**
 * A binary min-heap of (distance, name), ordered by distance then name, in two parallel arrays
 * (no tuple per entry: Dijkstra pushes one per edge relaxation).
 */
class MinHeap {
  private readonly ds: number[] = [];
  private readonly ns: NodeName[] = [];

  get size(): number {
    return this.ds.length;
  }

  /** Distance of the entry pop() returns next. */
  get topDistance(): number {
    return this.ds[0]!;
  }

  push(d: number, n: NodeName): void {
    const ds = this.ds;
    const ns = this.ns;
    let i = ds.length;
    ds.push(d);
    ns.push(n);
    while (i > 0) {
      const p = (i - 1) >> 1;
      const pd = ds[p]!;
      const pn = ns[p]!;
      if (!(d < pd || (d === pd && n < pn))) break;
      ds[i] = pd;
      ns[i] = pn;
      i = p;
    }
    ds[i] = d;
    ns[i] = n;
  }

  /** Removes the smallest entry and returns its name (read topDistance first for its distance). */
  pop(): NodeName {
    const ds = this.ds;
    const ns = this.ns;
    const top = ns[0]!;
    const d = ds.pop()!;
    const n = ns.pop()!;
    const size = ds.length;
    if (size > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= size) break;
        const r = l + 1;
        let c = l;
        if (r < size && (ds[r]! < ds[l]! || (ds[r] === ds[l] && ns[r]! < ns[l]!))) c = r;
        const cd = ds[c]!;
        const cn = ns[c]!;
        if (!(cd < d || (cd === d && cn < n))) break;
        ds[i] = cd;
        ns[i] = cn;
        i = c;
      }
      ds[i] = d;
      ns[i] = n;
    }
    return top;
  }
}
