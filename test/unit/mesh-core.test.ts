import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { DedupWindow } from "../../src/mesh/dedup.ts";
import { HOP_COST_MS, LinkStateGraph, shortestPathTree, TRANSITION_MS, TreeCache } from "../../src/mesh/graph.ts";
import { InterestTable } from "../../src/mesh/interest.ts";
import { supersedes } from "../../src/mesh/members.ts";
import { Mesh } from "../../src/mesh/index.ts";
import { DEDUP_WINDOW } from "../../src/mesh/constants.ts";
import { MiniNet, rng } from "./helpers/mininet.ts";

describe("dedup window", () => {
  test("a number is new once, then a duplicate; older than the window counts as seen", () => {
    const d = new DedupWindow();
    expect(d.seen("a", 1, 0)).toBe(false);
    expect(d.seen("a", 1, 0)).toBe(true);
    expect(d.seen("a", 1, 5)).toBe(false);
    expect(d.seen("a", 1, 3)).toBe(false); // late but inside the window
    expect(d.seen("a", 1, 3)).toBe(true);
    expect(d.seen("a", 1, 5 + DEDUP_WINDOW)).toBe(false);
    expect(d.seen("a", 1, 5)).toBe(true); // slid out of the window
    expect(d.seen("a", 2, 0)).toBe(false); // a new incarnation starts afresh
    expect(d.seen("a", 1, 99_999)).toBe(true); // an earlier life is stale
  });

  test("property: any order of deliveries reports each number new exactly once within the window", () => {
    fc.assert(fc.property(fc.array(fc.integer({ min: 0, max: 500 }), { maxLength: 300 }), (seqs) => {
      const d = new DedupWindow();
      const fresh = new Set<number>();
      for (const s of seqs) {
        const dup = d.seen("o", 1, s);
        expect(dup).toBe(fresh.has(s));
        fresh.add(s);
      }
    }));
  });
});

describe("shortest-path trees", () => {
  const graph = (edges: [string, string, number][]) => {
    const g = new LinkStateGraph();
    const links = new Map<string, [string, number][]>();
    for (const [a, b, w] of edges) {
      links.set(a, [...(links.get(a) ?? []), [b, w]]);
      links.set(b, [...(links.get(b) ?? []), [a, w]]);
    }
    for (const [origin, l] of links) g.put({ origin, incarnation: 1, seq: 1, links: l.sort() }, 0);
    return g;
  };

  test("the lowest-latency path wins even through a third node", () => {
    const t = graph([["a", "b", 100], ["a", "c", 20], ["c", "b", 20]]).tree("a");
    expect(t.children.get("a")).toEqual(["c"]);
    expect(t.children.get("c")).toEqual(["b"]);
  });

  test("ties break by name, whatever order the LSAs arrived in", () => {
    const edges: [string, string, number][] = [["r", "x", 10], ["r", "y", 10], ["x", "z", 10], ["y", "z", 10]];
    const a = graph(edges).tree("r");
    const b = graph([...edges].reverse()).tree("r");
    expect(a.children.get("x")).toEqual(["z"]); // z's parent is x, not y: x < y
    expect(b.children).toEqual(a.children);
  });

  test("an edge reported by one end only is not used", () => {
    const g = new LinkStateGraph();
    g.put({ origin: "a", incarnation: 1, seq: 1, links: [["b", 1]] }, 0);
    g.put({ origin: "b", incarnation: 1, seq: 1, links: [] }, 0);
    expect(g.tree("a").tin.has("b")).toBe(false);
  });

  test("property: trees span the connected graph and are the same from any insertion order", () => {
    const arbEdges = fc.array(fc.tuple(fc.integer({ min: 0, max: 15 }), fc.integer({ min: 0, max: 15 }), fc.integer({ min: 1, max: 50 })), { minLength: 1, maxLength: 60 });
    fc.assert(fc.property(arbEdges, (raw) => {
      const edges = raw.filter(([a, b]) => a !== b).map(([a, b, w]) => [`n${a}`, `n${b}`, w] as [string, string, number]);
      const dedup = new Map(edges.map((e) => [[e[0], e[1]].sort().join("-"), e]));
      const list = [...dedup.values()];
      if (list.length === 0) return;
      const g1 = graph(list).edges();
      const g2 = graph([...list].reverse()).edges();
      const root = list[0]![0];
      const t1 = shortestPathTree(g1, root);
      const t2 = shortestPathTree(g2, root);
      expect(t2.children).toEqual(t1.children);
      // Every node reachable from the root is in the tree.
      expect(t1.tin.size).toBe(new Set([...t1.dist.keys()]).size);
    }), { numRuns: 300 });
  });
});

describe("link-state graph kept up to date per LSA", () => {
  /** The adjacency as the whole-graph rebuild defines it: an edge both ends report, weight the mean RTT plus HOP_COST_MS. */
  const rebuild = (lsas: Map<string, [string, number][]>) => {
    const adj = new Map<string, Map<string, number>>();
    for (const [origin, links] of lsas) {
      for (const [peer, rtt] of links) {
        const back = lsas.get(peer)?.find(([n]) => n === origin);
        if (!back) continue;
        if (!adj.has(origin)) adj.set(origin, new Map());
        adj.get(origin)!.set(peer, (rtt + back[1]) / 2 + HOP_COST_MS);
      }
    }
    return adj;
  };
  const reach = (adj: Map<string, Map<string, number>>, from: string) => {
    const seen = new Set([from]);
    const queue = [from];
    while (queue.length) for (const m of adj.get(queue.pop()!)?.keys() ?? []) if (!seen.has(m) && (seen.add(m), true)) queue.push(m);
    return seen;
  };
  const sorted = (m: ReadonlyMap<string, ReadonlyMap<string, number>>) => [...m].map(([k, row]) => [k, [...row].sort()] as const).sort(([a], [b]) => (a < b ? -1 : 1));

  test("property: after any puts and removes, edges, reachability and trees (current and previous) match a rebuild", () => {
    const op = fc.record({
      origin: fc.integer({ min: 0, max: 9 }),
      remove: fc.boolean(),
      links: fc.uniqueArray(fc.tuple(fc.integer({ min: 0, max: 9 }), fc.integer({ min: 1, max: 40 })), { selector: ([p]) => p, maxLength: 5 }),
      gap: fc.constantFrom(0, 500, 3000),
    });
    fc.assert(
      fc.property(fc.array(op, { minLength: 1, maxLength: 60 }), (ops) => {
        const g = new LinkStateGraph();
        const held = new Map<string, [string, number][]>();
        const seq = new Map<string, number>();
        let now = 0;
        let stable: Map<string, Map<string, number>> | null = null;
        let changedAt = -Infinity;
        for (const o of ops) {
          now += o.gap;
          const origin = `n${o.origin}`;
          // The graph notes a change (and, after a quiet spell, keeps the graph before it) only when something changes.
          if (!o.remove || held.has(origin)) {
            if (now - changedAt >= TRANSITION_MS) stable = rebuild(held);
            changedAt = now;
          }
          if (o.remove) {
            g.remove(origin, now);
            held.delete(origin);
          } else {
            const links = o.links.map(([p, rtt]) => [`n${p}`, rtt] as [string, number]);
            const s = (seq.get(origin) ?? 0) + 1;
            seq.set(origin, s);
            expect(g.put({ origin, incarnation: 1, seq: s, links }, now)).toBe(true);
            held.set(origin, links);
          }
          const want = rebuild(held);
          expect(sorted(g.edges())).toEqual(sorted(want));
          expect([...g.reachableFrom("n0")].sort()).toEqual([...reach(want, "n0")].sort());
          expect(g.tree("n1").children).toEqual(shortestPathTree(want, "n1").children);
          const previous = g.previousTree("n2", now);
          expect(previous?.children).toEqual(stable && now - changedAt < TRANSITION_MS ? shortestPathTree(stable, "n2").children : undefined);
        }
      }),
      { numRuns: 300 },
    );
  });

  test("graphs sharing a tree cache share trees only when they hold the same LSAs", () => {
    const cache = new TreeCache(16);
    const a = new LinkStateGraph(cache);
    const b = new LinkStateGraph(cache);
    const lsa = (origin: string, seq: number, links: [string, number][]) => ({ origin, incarnation: 1, seq, links });
    for (const g of [a, b]) {
      g.put(lsa("x", 1, [["y", 10]]), 0);
      g.put(lsa("y", 1, [["x", 10]]), 0);
    }
    expect(b.tree("x")).toBe(a.tree("x"));
    b.put(lsa("y", 2, [["x", 10], ["z", 5]]), 0);
    b.put(lsa("z", 1, [["y", 5]]), 0);
    expect(b.tree("x")).not.toBe(a.tree("x"));
    expect(b.tree("x").tin.has("z")).toBe(true);
    expect(a.tree("x").tin.has("z")).toBe(false);
  });
});

describe("interest", () => {
  test("only 0 <-> 1 crossings are announced, batched, and a crossing back cancels out", () => {
    const t = new InterestTable("me", 1);
    t.setLocal("a", true);
    t.setLocal("b", true);
    t.setLocal("b", false);
    expect(t.flush()).toEqual({ origin: "me", incarnation: 1, version: 1, full: false, add: ["a"], remove: [] });
    expect(t.flush()).toBeNull();
  });

  test("deltas apply in order; a gap asks for the full set", () => {
    const t = new InterestTable("me", 1);
    expect(t.apply({ origin: "x", incarnation: 1, version: 1, full: false, add: ["c"], remove: [] })).toBe("applied");
    expect(t.apply({ origin: "x", incarnation: 1, version: 3, full: false, add: ["d"], remove: [] })).toBe("gap");
    expect(t.apply({ origin: "x", incarnation: 1, version: 1, full: false, add: ["c"], remove: [] })).toBe("old");
    expect(t.apply({ origin: "x", incarnation: 1, version: 3, full: true, add: ["d"], remove: [] })).toBe("applied");
    expect([...(t.nodesFor("d") ?? [])]).toEqual(["x"]);
    expect(t.nodesFor("c")).toBeUndefined();
    t.forget("x");
    expect(t.nodesFor("d")).toBeUndefined();
  });
});

describe("member precedence (SWIM)", () => {
  const r = (incarnation: number, state: "alive" | "suspect" | "dead" | "left") => ({ name: "n", url: "", region: "", incarnation, state });
  test("a higher incarnation wins; at equal incarnation left > dead > suspect > alive", () => {
    expect(supersedes(r(2, "alive"), r(1, "dead"))).toBe(true);
    expect(supersedes(r(1, "suspect"), r(1, "alive"))).toBe(true);
    expect(supersedes(r(1, "alive"), r(1, "suspect"))).toBe(false);
    expect(supersedes(r(1, "left"), r(1, "dead"))).toBe(true);
    expect(supersedes(r(1, "alive"), r(1, "alive"))).toBe(false);
  });
});

describe("the core end to end (zero-latency network)", () => {
  test("a chain of 5 with --max-peers 2 converges, and a publish reaches the far end exactly once", () => {
    const net = new MiniNet();
    net.add("a", [], 2);
    for (const [n, seed] of [["b", "a"], ["c", "b"], ["d", "c"], ["e", "d"]] as const) {
      net.nodes.set(n, new Mesh({ self: { name: n, incarnation: 1, region: "r", url: `ws://${n}` }, seeds: [seed], maxPeers: 2 }, rng(n.charCodeAt(0))));
    }
    net.run(5000);
    for (const mesh of net.nodes.values()) {
      expect(mesh.members().filter((m) => m.state === "alive").map((m) => m.name)).toEqual(["a", "b", "c", "d", "e"]);
      expect(mesh.links().length).toBeLessThanOrEqual(2);
    }
    // A subscriber on e opens the channel (its owner binds it), then subscribes; a publisher on a
    // opens it too and gets the same record.
    net.event("e", { type: "open", req: 1, channel: "ch", verifier: null, strict: false });
    net.run(500);
    const record = net.opened.get("e/1")!;
    expect(record).toMatchObject({ name: "ch", creator: "e", verifier: null });
    net.event("e", { type: "interest", channel: "ch", interested: true });
    net.event("a", { type: "open", req: 1, channel: "ch", verifier: null, strict: false });
    net.run(1000);
    expect(net.opened.get("a/1")).toEqual(record);
    // Another instance of the name is never delivered where this one is held.
    net.event("a", { type: "publish", channel: "ch", instance: "z~1~0", data: "other instance", from: "c1" });
    net.event("a", { type: "publish", channel: "ch", instance: record.instance, data: "hello", from: "c1" });
    net.run(200);
    expect(net.delivered).toEqual([{ node: "e", channel: "ch", instance: record.instance, data: "hello" }]);
    const dups = [...net.nodes.values()].reduce((n, m) => n + m.stats().duplicates, 0);
    expect(dups).toBe(0);
  });

  test("routes follow every interest and link change between messages (forwarding never uses a stale route)", () => {
    // After every event on every node, the kept route of each origin and channel equals one computed afresh.
    let checked = 0;
    const net: MiniNet = new MiniNet({
      observer: {
        handled(node) {
          const mesh = net.nodes.get(node)! as unknown as { targets(o: string, c: string): Iterable<string> | null; computeTargets(o: string, c: string): string[] | null; wantedElsewhere(c: string): boolean };
          if (!mesh.wantedElsewhere("ch")) return;
          for (const origin of net.nodes.keys()) {
            const kept = mesh.targets(origin, "ch");
            expect(kept === null ? null : [...kept]).toEqual(mesh.computeTargets(origin, "ch"));
            checked++;
          }
        },
      },
    });
    net.add("a", [], 2);
    for (const [n, seed] of [["b", "a"], ["c", "b"], ["d", "c"]] as const) {
      net.nodes.set(n, new Mesh({ self: { name: n, incarnation: 1, region: "r", url: `ws://${n}` }, seeds: [seed], maxPeers: 2 }, rng(n.charCodeAt(0))));
    }
    net.run(5000);
    net.event("a", { type: "open", req: 1, channel: "ch", verifier: null, strict: false });
    net.run(500);
    const { instance } = net.opened.get("a/1")!;
    let n = 0;
    /** Publishes one message from a and returns the nodes it was delivered at. */
    const publish = (): string[] => {
      const data = `m${++n}`;
      net.event("a", { type: "publish", channel: "ch", instance, data, from: "c1" });
      net.run(200);
      return net.delivered.filter((d) => d.data === data).map((d) => d.node).sort();
    };
    const interest = (node: string, interested: boolean): void => {
      net.event(node, { type: "interest", channel: "ch", interested });
      net.run(1000);
    };
    interest("c", true);
    expect(publish()).toEqual(["c"]);
    expect(publish()).toEqual(["c"]);
    interest("d", true);
    expect(publish()).toEqual(["c", "d"]);
    interest("c", false);
    expect(publish()).toEqual(["d"]);
    // A new node past d: the graph changes, then its interest does.
    net.nodes.set("e", new Mesh({ self: { name: "e", incarnation: 1, region: "r", url: "ws://e" }, seeds: ["d"], maxPeers: 2 }, rng(101)));
    net.run(3000);
    expect(publish()).toEqual(["d"]);
    interest("e", true);
    expect(publish()).toEqual(["d", "e"]);
    interest("d", false);
    expect(publish()).toEqual(["e"]);
    interest("e", false);
    const routed = [...net.nodes.values()].map((m) => m.stats().routed);
    expect(publish()).toEqual([]);
    // Nobody wants it any more: not one frame leaves a.
    expect([...net.nodes.values()].map((m) => m.stats().routed)).toEqual(routed);
    expect([...net.nodes.values()].reduce((sum, m) => sum + m.stats().duplicates, 0)).toBe(0);
    // A partition and its heal, with a subscriber again: links go, trees change, previous trees are
    // held for a while; the kept routes still match fresh ones after every event.
    interest("d", true);
    net.partition([["a", "b"], ["c", "d", "e"]], true);
    for (let i = 0; i < 30; i++) publish();
    net.heal();
    for (let i = 0; i < 40; i++) publish();
    expect(checked).toBeGreaterThan(1000);
  });
});
