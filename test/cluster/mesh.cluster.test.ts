/**
 * The mesh with real `dist/relay` processes on 127.0.0.1 (issue 3, "Cluster"): a 5-node chain
 * under --max-peers 2 (membership, exactly-once delivery over several hops, a SIGKILLed middle
 * node detected and routed around, its restart as a new incarnation), a node with the wrong
 * cluster key refused, and 16 nodes joining through one seed under the default link budget.
 *
 * Every node binds port 0; every wait polls a condition under a deadline; each describe block
 * stops its own nodes in afterAll, and killAll() reaps whatever a failure left behind. Figures
 * (convergence, detection, reroute times) are printed to stderr as `[cluster] ...` lines.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { LINK_DEAD_MS, OVERLAY_EVERY_MS, TICK_MS, suspicionTimeoutMs } from "../../src/mesh/constants.ts";
import { BUILD_TIMEOUT_MS, ensureBuilt } from "../helpers/build.ts";
import {
  CLUSTER_KEY,
  describeViews,
  duplicates,
  getNodes,
  getTopology,
  hopsBetween,
  linkCounts,
  nodesOfAll,
  pollUntil,
  publishBatch,
  publishUntilDelivered,
  rowOf,
  seedOf,
  seesAllAlive,
  startMeshNode,
  stopAll,
  subscribe,
  waitForLinkBudget,
  waitForMembership,
  waitForMemberState,
  type MeshNode,
  type NodesView,
} from "../helpers/cluster.ts";
import { RawClient } from "../helpers/node.ts";
import { killAll } from "../helpers/proc.ts";

/** Prints one figure line; `bun test` shows stderr of passing tests too. */
function figure(text: string): void {
  process.stderr.write(`[cluster] ${text}\n`);
}

const ms = (x: number) => `${Math.round(x)} ms`;

beforeAll(ensureBuilt, BUILD_TIMEOUT_MS);
afterAll(killAll);

describe("5 nodes in a chain under --max-peers 2", () => {
  const SIZE = 5;
  const MAX_PEERS = 2;
  const N = 20;
  const CHANNEL = "mesh.chain";
  /** The middle node of the chain, SIGKILLed and restarted. */
  const VICTIM = 2;
  const names = Array.from({ length: SIZE }, (_, i) => `chain-${i}`);
  /** nodes[i] is the live process of names[i] (replaced when the victim restarts). */
  const nodes: MeshNode[] = [];
  const started: MeshNode[] = [];
  let publisher: RawClient | undefined;
  /** One subscriber on each node but the first, by node index: the last node's is the one the issue names. */
  const subscribers = new Map<number, RawClient>();

  /*
   * Bounds after the SIGKILL of the middle node, from src/mesh/constants.ts (N = 5 members, so
   * suspicionTimeoutMs(5) = 4 * max(1, log10 5) * 1000 = 4000 ms):
   *
   * - link death: a killed process's sockets are closed by the kernel, so its neighbours see
   *   linkDown at once; at worst (no FIN) a link is dead after LINK_DEAD_MS of silence, noticed
   *   at the next tick (TICK_MS).
   * - suspect: the neighbours' new LSAs no longer list the victim (flooded in milliseconds on
   *   loopback); each node marks a member suspect once no live node has reported a link to it for
   *   LINK_DEAD_MS (the grace that keeps a member learnt a moment ago from being suspected),
   *   checked every TICK_MS; a node may also learn the verdict by gossip sooner.
   *   SUSPECT_BOUND = LINK_DEAD_MS + LINK_DEAD_MS + 2 * TICK_MS = 6200 ms.
   * - dead: suspect for suspicionTimeoutMs(N). DEAD_BOUND = SUSPECT_BOUND + suspicionTimeoutMs(5) = 10200 ms.
   * - reroute: if the overlay without the victim is still connected, the tree is recomputed as
   *   soon as the neighbours' LSAs arrive; otherwise the overlay repairs: a node under its target
   *   dials a new peer at its next upkeep (OVERLAY_EVERY_MS), and until the victim is suspect it
   *   may still pick the victim (whose dial is refused at once, then backed off), so
   *   REROUTE_BOUND = LINK_DEAD_MS + LINK_DEAD_MS (victim no longer a candidate) + 3 * OVERLAY_EVERY_MS
   *   (dial, link up, LSA flood and one retry) = 9000 ms.
   *
   * The asserted limits add MARGIN for a loaded 2-core machine (process scheduling, HTTP polling at
   * 50 ms); the measured figures are printed, and sit far below the bounds on loopback.
   */
  const MARGIN = 2_000;
  const SUSPECT_BOUND = 2 * LINK_DEAD_MS + 2 * TICK_MS;
  const DEAD_BOUND = SUSPECT_BOUND + suspicionTimeoutMs(SIZE);
  const REROUTE_BOUND = 2 * LINK_DEAD_MS + 3 * OVERLAY_EVERY_MS;

  /** performance.now() when the first node was started. */
  let firstStarted = 0;

  beforeAll(async () => {
    firstStarted = performance.now();
    for (let i = 0; i < SIZE; i++) {
      const prev = nodes[i - 1];
      const node = await startMeshNode({ name: names[i]!, maxPeers: MAX_PEERS, seeds: prev ? [seedOf(prev)] : [] });
      nodes.push(node);
      started.push(node);
    }
  }, 30_000);

  afterAll(async () => {
    await Promise.all([publisher, ...subscribers.values()].map((c) => c?.close().catch(() => undefined)));
    await stopAll(started);
  }, 15_000);

  test("membership converges: every node lists all 5 alive", async () => {
    const took = await waitForMembership(nodes, names, 20_000);
    figure(`chain of ${SIZE} (--max-peers ${MAX_PEERS}): full membership at every node ${ms(took)} after the last node started (${ms(performance.now() - firstStarted)} after the first)`);
  }, 25_000);

  test("the overlay keeps to --max-peers 2, so messages cross several hops", async () => {
    // With at most 2 links per node, 5 nodes form a path or a ring: some pairs are 2+ hops apart.
    const { settledMs, counts } = await waitForLinkBudget(nodes, MAX_PEERS, 15_000, 2 * OVERLAY_EVERY_MS);
    const topo = await getTopology(nodes[0]!);
    expect(topo).not.toBeNull();
    const hops = hopsBetween(topo!, names[0]!, names[SIZE - 1]!);
    figure(`chain: every node at <= ${MAX_PEERS} links after ${ms(settledMs)} (links ${counts.join(" ")}); topology ${topo!.links.map((l) => `${l.a}-${l.b}`).join(" ")}; ${names[0]} -> ${names[SIZE - 1]} ${hops} hops`);
    expect(hops).not.toBeNull();
  }, 25_000);

  test("a subscriber on the last node gets exactly one copy of each publish on the first", async () => {
    // Subscribers on every other node too, so some copies surely cross 2+ hops whatever the overlay.
    for (let i = 1; i < SIZE; i++) subscribers.set(i, await subscribe(nodes[i]!, CHANNEL));
    const subs = [...subscribers.values()];
    publisher = await RawClient.open(nodes[0]!.url);
    const interest = await publishUntilDelivered(publisher, subs, CHANNEL, "warmup", 15_000);
    const topo = await getTopology(nodes[0]!);
    const hops = [...subscribers.keys()].map((i) => `${names[i]} ${topo ? hopsBetween(topo, names[0]!, names[i]!) : "?"}`).join(", ");
    figure(`chain: every subscriber reached ${ms(interest)} after subscribing (interest propagation); hops from ${names[0]}: ${hops}`);
    const copies = await publishBatch(publisher, subs, CHANNEL, "steady", N, 10_000);
    const all = Array.from({ length: N }, (_, i) => i);
    // Exactly once: every number, and no number twice, at every subscriber (the last node's first).
    expect(copies[subs.length - 1]!.length).toBe(N);
    expect(copies.map((c) => [...c].sort((x, y) => x - y))).toEqual(subs.map(() => all));
    expect(subs.map(duplicates)).toEqual(subs.map(() => []));
  }, 30_000);

  test("SIGKILL of the middle node: detected by all others, and routes go around it", async () => {
    expect(publisher).toBeDefined();
    const victim = nodes[VICTIM]!;
    const observers = nodes.filter((_, i) => i !== VICTIM);
    const live = [...subscribers].filter(([i]) => i !== VICTIM).map(([, c]) => c);
    expect(live.length).toBe(SIZE - 2);

    const t0 = performance.now();
    victim.proc.kill("SIGKILL");
    await victim.proc.exited;

    // Detection and rerouting are watched at once, each timed from the kill.
    const [suspectMs, deadMs, rerouteMs] = await Promise.all([
      waitForMemberState(observers, victim.name, ["suspect", "dead"], SUSPECT_BOUND + MARGIN, t0),
      waitForMemberState(observers, victim.name, ["dead"], DEAD_BOUND + MARGIN, t0),
      publishUntilDelivered(publisher!, live, CHANNEL, "reroute", REROUTE_BOUND + MARGIN).then(() => performance.now() - t0),
    ]);
    figure(`chain: SIGKILL of ${victim.name}: suspect at all others ${ms(suspectMs)} (bound ${SUSPECT_BOUND} + ${MARGIN}), dead at all ${ms(deadMs)} (bound ${DEAD_BOUND} + ${MARGIN}), first delivery at every live subscriber ${ms(rerouteMs)} (bound ${REROUTE_BOUND} + ${MARGIN})`);
    expect(suspectMs).toBeLessThan(SUSPECT_BOUND + MARGIN);
    expect(deadMs).toBeLessThan(DEAD_BOUND + MARGIN);
    expect(rerouteMs).toBeLessThan(REROUTE_BOUND + MARGIN);

    // Routes around the dead node: a fresh batch arrives complete at every live subscriber, each message once.
    const copies = await publishBatch(publisher!, live, CHANNEL, "after-kill", N, 10_000);
    const all = Array.from({ length: N }, (_, i) => i);
    expect(copies.map((c) => [...c].sort((x, y) => x - y))).toEqual(live.map(() => all));
    expect(live.map(duplicates)).toEqual(live.map(() => []));
    const topo = await getTopology(nodes[0]!);
    figure(`chain topology after the kill: ${topo?.links.map((l) => `${l.a}-${l.b}`).join(" ")}; ${names[0]} -> ${names[SIZE - 1]} ${topo ? hopsBetween(topo, names[0]!, names[SIZE - 1]!) : "?"} hops`);
  }, 30_000);

  test("the restarted node rejoins with a higher incarnation", async () => {
    const observers = nodes.filter((_, i) => i !== VICTIM);
    const oldIncarnation = Math.max(...(await nodesOfAll(observers)).map((v) => rowOf(v, names[VICTIM]!)?.incarnation ?? -1));
    expect(oldIncarnation).toBeGreaterThan(0);
    const t0 = performance.now();
    const restarted = await startMeshNode({ name: names[VICTIM]!, maxPeers: MAX_PEERS, seeds: [seedOf(nodes[VICTIM - 1]!)] });
    started.push(restarted);
    nodes[VICTIM] = restarted;
    let last: (NodesView | null)[] = [];
    try {
      await pollUntil(
        async () => {
          last = await nodesOfAll(nodes);
          return last.every((view) => names.every((name) => rowOf(view, name)?.state === "alive")) && last.every((view) => (rowOf(view, restarted.name)?.incarnation ?? 0) > oldIncarnation);
        },
        `every node listing ${restarted.name} alive with an incarnation above ${oldIncarnation}`,
        15_000,
      );
    } catch (err) {
      throw new Error(`${(err as Error).message}\n${describeViews(nodes, last)}`);
    }
    const newIncarnation = rowOf(last[0]!, restarted.name)!.incarnation!;
    figure(`chain: ${restarted.name} restarted: alive again at every node ${ms(performance.now() - t0)} after its restart, incarnation ${oldIncarnation} -> ${newIncarnation}`);
    // Every observer agrees on the one new incarnation.
    expect(new Set(last.map((v) => rowOf(v, restarted.name)?.incarnation)).size).toBe(1);
  }, 25_000);
});

describe("a node with the wrong cluster key", () => {
  const started: MeshNode[] = [];
  afterAll(() => stopAll(started), 15_000);

  test("is refused with bad_key and never becomes a member", async () => {
    const good = await startMeshNode({ name: "key-good" });
    started.push(good);
    const bad = await startMeshNode({ name: "key-bad", clusterKey: `${CLUSTER_KEY}-but-another`, seeds: [seedOf(good)] });
    started.push(bad);
    // The refusal is logged on the intruder's side with the stable code; waiting for a second one
    // (the seed is retried with backoff) gives the good node time in which a wrongly admitted
    // member would have shown up.
    const refusal = /mesh: .*refused.*: bad_key/;
    const first = await bad.stderr.waitForLine(refusal, 10_000);
    figure(`wrong key: the intruder logged "${first.replace(/^.*mesh: /, "mesh: ")}"`);
    await pollUntil(
      async () => {
        const view = await getNodes(good);
        if (view?.nodes.some((n) => n.name === "key-bad")) throw new Error(`key-bad became a member of key-good: ${JSON.stringify(view)}`);
        return bad.stderr.lines.filter((l) => refusal.test(l)).length >= 2;
      },
      "a second refusal after the retry",
      10_000,
    );
    // The good node logs its side too (it refused, or it was told it was refused).
    expect(good.stderr.lines.some((l) => /refused.*bad_key/.test(l))).toBe(true);
    const goodView = await getNodes(good);
    expect(goodView?.nodes.map((n) => n.name)).toEqual(["key-good"]);
    const badView = await getNodes(bad);
    expect(badView?.nodes.map((n) => n.name)).toEqual(["key-bad"]);
    const counts = await linkCounts(good);
    expect(counts).toEqual({ linked: 0, peers: 0 });
  }, 30_000);
});

describe("16 nodes joining through one seed", () => {
  const SIZE = 16;
  /** The default --max-peers. */
  const MAX_PEERS = 8;
  const names = Array.from({ length: SIZE }, (_, i) => `star-${String(i).padStart(2, "0")}`);
  const nodes: MeshNode[] = [];

  let firstStarted = 0;

  beforeAll(async () => {
    firstStarted = performance.now();
    const seed = await startMeshNode({ name: names[0]! });
    nodes.push(seed);
    const rest = await Promise.allSettled(names.slice(1).map((name) => startMeshNode({ name, seeds: [seedOf(seed)], startTimeoutMs: 20_000 })));
    for (const r of rest) if (r.status === "fulfilled") nodes.push(r.value);
    const failed = rest.find((r) => r.status === "rejected");
    if (failed) throw (failed as PromiseRejectedResult).reason;
  }, 40_000);

  afterAll(() => stopAll(nodes), 20_000);

  test("all 16 converge to full membership at every node", async () => {
    const took = await waitForMembership(nodes, names, 20_000);
    figure(`${SIZE} nodes from one seed: full membership at every node ${ms(took)} after the last node started (${ms(performance.now() - firstStarted)} after the first)`);
  }, 25_000);

  test("each node settles at or under --max-peers links", async () => {
    // Trimming closes one link per node per OVERLAY_EVERY_MS, and the seed starts with 15 inbound
    // links, so settling takes a few seconds; 20 s is generous. The budget must then hold for 3 s.
    const { settledMs, counts } = await waitForLinkBudget(nodes, MAX_PEERS, 20_000, 3 * OVERLAY_EVERY_MS);
    figure(`${SIZE} nodes: every node at <= ${MAX_PEERS} links ${ms(settledMs)} after full membership (links ${counts.join(" ")})`);
    // Still one connected mesh with every member alive everywhere after trimming.
    const views = await nodesOfAll(nodes);
    expect(views.every((v) => seesAllAlive(v, names))).toBe(true);
    const topo = await getTopology(nodes[0]!);
    expect(names.every((name) => hopsBetween(topo!, names[0]!, name) !== null)).toBe(true);
  }, 30_000);
});
