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
  readonly children: ReadonlyMap<NodeName, readonly NodeName[]>;
  /** Entry and exit order of a DFS: n is in the subtree of c iff tin[c] <= tin[n] <= tout[c]. */
  readonly tin: ReadonlyMap<NodeName, number>;
  readonly tout: ReadonlyMap<NodeName, number>;
  /** Path length from the origin, ms. */
  readonly dist: ReadonlyMap<NodeName, number>;
}

/**
 * Dijkstra from `origin` with a binary heap ordered by (distance, name). Among equal-distance
 * parents the smaller name wins, and children are ordered by name, so the tree depends only on
 * the graph, never on the order its rows or LSAs were built in.
 *
 * Nodes are numbered in the order the search meets them, and their state kept in arrays: one map
 * look-up per edge. At 1,000 members every node runs this about once a second while the graph moves.
 */
export function shortestPathTree(adj: Rows, origin: NodeName): Tree {
  const visits = new Visits(origin);
  const { names, dist, parent, done } = visits;
  const heap = new MinHeap(names);
  heap.push(0, 0);
  while (heap.size) {
    const d = heap.topDistance;
    const best = heap.pop();
    if (done[best] || d !== dist[best]) continue; // a stale heap entry
    done[best] = true;
    const row = adj.get(names[best]!);
    if (row === undefined) continue;
    for (const [m, w] of row) {
      const j = visits.number(m);
      if (done[j]) continue;
      const nd = d + w;
      const old = dist[j]!;
      // Exact float comparison is safe: every node computes from the same inputs in the same order.
      if (nd < old) {
        dist[j] = nd;
        parent[j] = best;
        heap.push(nd, j);
      } else if (nd === old && names[best]! < names[parent[j]!]!) {
        parent[j] = best;
      }
    }
  }
  return new SearchTree(names, dist, parent);
}

/**
 * A search's state by node number: nodes are numbered in the order the search meets them, so one
 * map look-up per edge finds a node's distance, parent and whether it is settled, in arrays.
 */
class Visits {
  private readonly index = new Map<NodeName, number>();
  readonly names: NodeName[] = [];
  readonly dist: number[] = [];
  readonly parent: number[] = [];
  readonly done: boolean[] = [];

  /** Starts at `origin`, number 0, at distance 0. */
  constructor(origin: NodeName) {
    this.number(origin);
    this.dist[0] = 0;
  }

  /** The number of `name`, which is numbered now (unreached: no distance, no parent) if the search had not met it. */
  number(name: NodeName): number {
    let j = this.index.get(name);
    if (j === undefined) {
      j = this.names.length;
      this.index.set(name, j);
      this.names.push(name);
      this.dist.push(Infinity);
      this.parent.push(-1);
      this.done.push(false);
    }
    return j;
  }
}

/**
 * A tree as the search left it (names, distances and parents by number), with its maps built on
 * first use: the overlay reads only `dist` of its own tree, forwarding only the other three.
 */
class SearchTree implements Tree {
  private distMap: Map<NodeName, number> | null = null;
  private shape: { children: Map<NodeName, NodeName[]>; tin: Map<NodeName, number>; tout: Map<NodeName, number> } | null = null;

  constructor(
    private readonly names: readonly NodeName[],
    private readonly distances: readonly number[],
    private readonly parents: readonly number[],
  ) {}

  get dist(): ReadonlyMap<NodeName, number> {
    if (this.distMap === null) {
      this.distMap = new Map();
      for (let i = 0; i < this.names.length; i++) this.distMap.set(this.names[i]!, this.distances[i]!);
    }
    return this.distMap;
  }

  get children(): ReadonlyMap<NodeName, readonly NodeName[]> {
    return this.build().children;
  }

  get tin(): ReadonlyMap<NodeName, number> {
    return this.build().tin;
  }

  get tout(): ReadonlyMap<NodeName, number> {
    return this.build().tout;
  }

  private build(): NonNullable<SearchTree["shape"]> {
    if (this.shape !== null) return this.shape;
    const names = this.names;
    const kids: number[][] = names.map(() => []);
    for (let i = 1; i < names.length; i++) kids[this.parents[i]!]!.push(i);
    const children = new Map<NodeName, NodeName[]>();
    for (let i = 0; i < names.length; i++) {
      const list = kids[i]!;
      if (list.length === 0) continue;
      list.sort((a, b) => (names[a]! < names[b]! ? -1 : 1));
      children.set(names[i]!, list.map((k) => names[k]!));
    }
    const tin = new Map<NodeName, number>();
    const tout = new Map<NodeName, number>();
    let clock = 0;
    // Iterative DFS: trees of thousands of nodes can be deep (a chain), deeper than a safe call stack.
    const stack: [number, number][] = [[0, 0]];
    tin.set(names[0]!, clock++);
    while (stack.length) {
      const top = stack[stack.length - 1]!;
      const list = kids[top[0]]!;
      if (top[1] < list.length) {
        const next = list[top[1]++]!;
        tin.set(names[next]!, clock++);
        stack.push([next, 0]);
      } else {
        tout.set(names[top[0]]!, clock - 1);
        stack.pop();
      }
    }
    return (this.shape = { children, tin, tout });
  }
}

/**
 * Dijkstra from `from` to `to` without the edge from-`avoid` (ms; Infinity if no path). Stops as
 * soon as `to` is settled, so a near peer costs a small part of the graph. Numbered as in
 * shortestPathTree.
 */
export function distanceAvoiding(adj: Rows, from: NodeName, to: NodeName, avoid: NodeName): number {
  const visits = new Visits(from);
  const { names, dist, done } = visits;
  const heap = new MinHeap(names);
  heap.push(0, 0);
  while (heap.size) {
    const d = heap.topDistance;
    const i = heap.pop();
    if (done[i]) continue;
    const n = names[i]!;
    if (n === to) return d;
    done[i] = true;
    for (const [m, w] of adj.get(n) ?? []) {
      if ((n === from && m === avoid) || (n === avoid && m === from)) continue;
      const j = visits.number(m);
      if (done[j]) continue;
      const nd = d + w;
      if (nd < dist[j]!) {
        dist[j] = nd;
        heap.push(nd, j);
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
 * A binary min-heap of (distance, node number), ordered by distance then by the node's name, in
 * two parallel arrays (no tuple per entry: Dijkstra pushes one per edge relaxation).
 */
class MinHeap {
  private readonly ds: number[] = [];
  private readonly ns: number[] = [];

  /** `names`: the search's names by number (it grows as the search meets nodes). */
  constructor(private readonly names: readonly NodeName[]) {}

  get size(): number {
    return this.ds.length;
  }

  /** Distance of the entry pop() returns next. */
  get topDistance(): number {
    return this.ds[0]!;
  }

  push(d: number, n: number): void {
    const ds = this.ds;
    const ns = this.ns;
    let i = ds.length;
    ds.push(d);
    ns.push(n);
    while (i > 0) {
      const p = (i - 1) >> 1;
      const pd = ds[p]!;
      const pn = ns[p]!;
      if (!this.before(d, n, pd, pn)) break;
      ds[i] = pd;
      ns[i] = pn;
      i = p;
    }
    ds[i] = d;
    ns[i] = n;
  }

  /** Removes the smallest entry and returns its node number (read topDistance first for its distance). */
  pop(): number {
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
        if (r < size && this.before(ds[r]!, ns[r]!, ds[l]!, ns[l]!)) c = r;
        const cd = ds[c]!;
        const cn = ns[c]!;
        if (!this.before(cd, cn, d, n)) break;
        ds[i] = cd;
        ns[i] = cn;
        i = c;
      }
      ds[i] = d;
      ns[i] = n;
    }
    return top;
  }

  /** True when entry (d, n) comes out before (d2, n2): nearer first, ties by the node's name. */
  private before(d: number, n: number, d2: number, n2: number): boolean {
    return d < d2 || (d === d2 && this.names[n]! < this.names[n2]!);
  }
}
