/**
 * A chain of real dist/relay nodes, N0-N1-...-Nn-1, for the mesh scenarios of both benches.
 *
 * Forcing a chain: the ends run with --max-peers 1 and the middle nodes with --max-peers 2, and
 * each node seeds the one before it. With a budget of one or two links, a node stops at its links
 * to its neighbours (overlay.ts never dials past the target, and swaps need a 5 ms gain that
 * loopback never offers), so the only path from one end to the other is through every node. The
 * bench does not take that on trust: it reads GET /topology, /healthz and /nodes on every node and
 * measures only once the links are exactly the chain's and have held for a while.
 */
import { getJson, seedOf, startNode, type BenchNode, type HealthView, type NodesView, type TopologyView } from "./mesh-nodes.ts";

/** What the nodes reported about the chain's links. */
export interface TopologyCheck {
  ok: boolean;
  /** Links as each node's /topology lists them, e.g. "chain-a: chain-a-chain-b, chain-b-chain-c". */
  seen: string[];
  /** /healthz peers per node. */
  peers: string;
}

const edgeKey = (a: string, b: string): string => (a < b ? `${a}-${b}` : `${b}-${a}`);

/** Reads every node; ok when each lists exactly the chain's links, the ends have 1 peer and the rest 2, and all are alive everywhere. */
export async function checkChainOf(nodes: readonly BenchNode[]): Promise<TopologyCheck> {
  const want = nodes
    .slice(1)
    .map((n, i) => edgeKey(nodes[i]!.name, n.name))
    .sort()
    .join(", ");
  const [topologies, healths, members] = await Promise.all([
    Promise.all(nodes.map((n) => getJson<TopologyView>(n, "/topology"))),
    Promise.all(nodes.map((n) => getJson<HealthView>(n, "/healthz"))),
    Promise.all(nodes.map((n) => getJson<NodesView>(n, "/nodes"))),
  ]);
  const linksOf = (t: TopologyView): string => [...new Set(t.links.map((l) => edgeKey(l.a, l.b)))].sort().join(", ");
  const seen = nodes.map((n, i) => {
    const t = topologies[i];
    return t ? `${n.name}: ${linksOf(t) || "(none)"}` : `${n.name}: no answer`;
  });
  const peers = nodes.map((n, i) => `${n.name}=${healths[i]?.peers ?? "?"}`).join(" ");
  const linksOk = topologies.every((t) => t !== null && linksOf(t) === want);
  const peersOk = healths.every((h, i) => h?.peers === (i === 0 || i === nodes.length - 1 ? 1 : 2));
  const alive = members.every((v) => v !== null && nodes.every((n) => v.nodes.some((r) => r.name === n.name && r.state === "alive")));
  return { ok: linksOk && peersOk && alive, seen, peers };
}

/** Polls until the chain is verified and has held for `stableMs`; returns the last check either way. */
export async function waitForChainOf(nodes: readonly BenchNode[], stableMs: number, timeoutMs: number): Promise<{ check: TopologyCheck; formed: boolean }> {
  const deadline = performance.now() + timeoutMs;
  let okSince: number | null = null;
  for (;;) {
    const check = await checkChainOf(nodes);
    const now = performance.now();
    if (check.ok) {
      okSince ??= now;
      if (now - okSince >= stableMs) return { check, formed: true };
    } else {
      okSince = null;
    }
    if (now > deadline) return { check, formed: false };
    await Bun.sleep(250);
  }
}

/**
 * Starts `names.length` nodes as a chain, each seeding the one before it, all pinned to `core`.
 * Every node started is pushed to `started` at once, so the caller can stop them whatever happens.
 */
export async function startRelayChain(names: readonly string[], clusterKey: string, core: number, started: BenchNode[]): Promise<BenchNode[]> {
  const nodes: BenchNode[] = [];
  for (let i = 0; i < names.length; i++) {
    const maxPeers = i === 0 || i === names.length - 1 ? 1 : 2;
    const node = await startNode({ name: names[i]!, clusterKey, maxPeers, seeds: i > 0 ? [seedOf(nodes[i - 1]!)] : [], core });
    nodes.push(node);
    started.push(node);
  }
  return nodes;
}
