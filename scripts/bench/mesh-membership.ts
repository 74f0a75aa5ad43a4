/**
 * Part 2 of the mesh bench: membership convergence with N real processes on 127.0.0.1, all seeding
 * node 0, at the default --max-peers (8).
 *
 * Two times, both from the moment the last process was spawned (so they include that process's own
 * start-up, as "from the last process starting" asks):
 *   - converged: every node's GET /nodes lists all N members alive;
 *   - within budget: every node holds at most --max-peers links (by /nodes `linked` rows and by
 *     /healthz `peers`), and keeps to it for BUDGET_HOLD_MS. Every node seeding node 0 pushes node 0
 *     over its budget at first (a node at its budget still accepts a peer with no other link, so
 *     that a joining node always gets in), so this time is the overlay trimming back, and can come
 *     after membership.
 * Both are read by polling every node every POLL_MS, so each is an upper bound within about one
 * poll interval plus the time one round of requests takes (reported beside the figures).
 *
 * Placement: node i is pinned to core i mod cores, so the processes share the machine's cores
 * evenly and the bench process (which only polls) is left to the scheduler.
 */
import { availableParallelism } from "node:os";
import { cpuSeconds, memory } from "./procfs.ts";
import { getJson, seedOf, startNode, stopNodes, type BenchNode, type HealthView, type NodesView } from "./mesh-nodes.ts";
import { median } from "./stats.ts";
import { BENCH_CLUSTER_KEY } from "./mesh-chain.ts";

/** Processes started at once: starting 50 compiled binaries together would measure the start-up storm, not the mesh. */
export const START_BATCH = 10;
/** The default --max-peers: the budget every node should settle within. */
export const MAX_PEERS = 8;
/** Poll period: often enough for sub-second resolution, rare enough that 50 nodes are not busy answering the poller. */
export const POLL_MS = 200;
/** The budget must hold this long to count: a mesh that dips under the budget while it still churns does not pass. */
export const BUDGET_HOLD_MS = 5_000;
/** Idle CPU is sampled over this window after convergence, with nothing polling the nodes. */
export const IDLE_WINDOW_MS = 3_000;

export interface Spread {
  min: number;
  median: number;
  max: number;
}

export interface MembershipOutcome {
  nodes: number;
  /** From spawning node 0 until the last node listened. */
  startSpanMs: number;
  /** From the last spawn until every node listed all N alive; null if it never did before the deadline. */
  convergedMs: number | null;
  /** From the last spawn until every node was within --max-peers for good (held BUDGET_HOLD_MS); null if never. */
  budgetMs: number | null;
  /** Times the all-within-budget state was lost again after it was first reached. */
  budgetLapses: number;
  /** The longest round of polling requests (ms): the resolution of the two times above. */
  slowestPollMs: number;
  /** Links per node (/healthz peers) at the end. */
  links: Spread | null;
  /** VmRSS per process after convergence, bytes. */
  rss: Spread & { total: number };
  /** RssAnon per process after convergence, bytes (heap: what grows with members and links). */
  rssAnon: Spread;
  /** CPU per node over IDLE_WINDOW_MS after convergence, with nothing polling: pings and gossip. Percent of one core. */
  idleCpuPercent: Spread;
  /** What the nodes saw when the deadline passed (on failure). */
  lastSeen: string | null;
  warnings: string[];
  error: string | null;
}

type Log = (line: string) => void;

function spread(values: number[]): Spread {
  if (values.length === 0) return { min: NaN, median: NaN, max: NaN };
  return { min: Math.min(...values), median: median(values), max: Math.max(...values) };
}

const nameOf = (i: number): string => `m${String(i).padStart(2, "0")}`;

/** Runs part 2 for `n` nodes within `deadlineMs` of the last start. Every node it starts is stopped before it returns. */
export async function runMembership(n: number, deadlineMs: number, log: Log): Promise<MembershipOutcome> {
  const cores = availableParallelism();
  const nodes: BenchNode[] = [];
  const out: MembershipOutcome = {
    nodes: n,
    startSpanMs: NaN,
    convergedMs: null,
    budgetMs: null,
    budgetLapses: 0,
    slowestPollMs: 0,
    links: null,
    rss: { min: NaN, median: NaN, max: NaN, total: NaN },
    rssAnon: { min: NaN, median: NaN, max: NaN },
    idleCpuPercent: { min: NaN, median: NaN, max: NaN },
    lastSeen: null,
    warnings: [],
    error: null,
  };
  try {
    log(`part 2: ${n} processes, all seeding ${nameOf(0)}, --max-peers ${MAX_PEERS} (default), started ${START_BATCH} at a time`);
    const seed = await startNode({ name: nameOf(0), clusterKey: BENCH_CLUSTER_KEY, core: 0 });
    nodes.push(seed);
    for (let i = 1; i < n; i += START_BATCH) {
      const batch = Array.from({ length: Math.min(START_BATCH, n - i) }, (_, k) => i + k);
      // allSettled, so a batch where one node fails still hands every started node to the finally below.
      const started = await Promise.allSettled(batch.map((j) => startNode({ name: nameOf(j), clusterKey: BENCH_CLUSTER_KEY, seeds: [seedOf(seed)], core: j % cores })));
      for (const s of started) if (s.status === "fulfilled") nodes.push(s.value);
      const failed = started.find((s) => s.status === "rejected");
      if (failed) throw (failed as PromiseRejectedResult).reason;
    }
    const lastStart = Math.max(...nodes.map((x) => x.spawnedAt));
    out.startSpanMs = Math.max(...nodes.map((x) => x.listeningAt)) - seed.spawnedAt;
    log(`  all ${n} up ${(out.startSpanMs / 1000).toFixed(1)} s after the first was started; polling /nodes and /healthz every ${POLL_MS} ms`);

    const names = nodes.map((x) => x.name);
    let withinSince: number | null = null;
    let lastViews: (NodesView | null)[] = [];
    let lastHealth: (HealthView | null)[] = [];
    for (;;) {
      const pollStart = performance.now();
      [lastViews, lastHealth] = await Promise.all([
        Promise.all(nodes.map((x) => getJson<NodesView>(x, "/nodes"))),
        Promise.all(nodes.map((x) => getJson<HealthView>(x, "/healthz"))),
      ]);
      const now = performance.now();
      out.slowestPollMs = Math.max(out.slowestPollMs, now - pollStart);
      const converged = lastViews.every((v) => v !== null && names.every((name) => v.nodes.some((r) => r.name === name && r.state === "alive")));
      if (converged && out.convergedMs === null) {
        out.convergedMs = now - lastStart;
        log(`  membership: all ${n} list all ${n} alive, ${(out.convergedMs / 1000).toFixed(2)} s after the last start`);
      }
      const within = lastViews.every((v, i) => {
        const h = lastHealth[i];
        return v !== null && h != null && h.peers <= MAX_PEERS && v.nodes.filter((r) => r.linked && !r.self && r.name !== nodes[i]!.name).length <= MAX_PEERS;
      });
      if (within) {
        withinSince ??= now;
      } else if (withinSince !== null) {
        // Lost again: counted once per lapse, and the hold starts over when it is back.
        withinSince = null;
        out.budgetLapses++;
      }
      if (out.convergedMs !== null && withinSince !== null && now - withinSince >= BUDGET_HOLD_MS) {
        out.budgetMs = Math.max(0, withinSince - lastStart);
        log(`  link budget: every node at <= ${MAX_PEERS} links ${(out.budgetMs / 1000).toFixed(2)} s after the last start (held ${BUDGET_HOLD_MS / 1000} s)`);
        break;
      }
      if (now - lastStart > deadlineMs) {
        const counts = lastViews.map((v, i) => `${names[i]}=${v ? v.nodes.filter((r) => r.state === "alive").length : "?"}/${lastHealth[i]?.peers ?? "?"}`);
        out.lastSeen = `alive members / links per node: ${counts.join(" ")}`;
        out.error = `not settled ${deadlineMs / 1000} s after the last start (${out.convergedMs === null ? "membership not complete" : "link budget not held"})`;
        log(`  ${out.error}; ${out.lastSeen}`);
        break;
      }
      await Bun.sleep(Math.max(0, POLL_MS - (performance.now() - pollStart)));
    }
    out.links = spread(lastHealth.filter((h): h is HealthView => h != null).map((h) => h.peers));

    // Memory and idle CPU, with nothing polling: what N idle members cost each process.
    const cpu0 = nodes.map((x) => cpuSeconds(x.pid));
    const t0 = performance.now();
    await Bun.sleep(IDLE_WINDOW_MS);
    const wall = (performance.now() - t0) / 1000;
    out.idleCpuPercent = spread(nodes.map((x, i) => (100 * (cpuSeconds(x.pid) - cpu0[i]!)) / wall));
    const mem = nodes.map((x) => memory(x.pid));
    const rss = mem.map((m) => m.rssBytes);
    out.rss = { ...spread(rss), total: rss.reduce((a, b) => a + b, 0) };
    out.rssAnon = spread(mem.map((m) => m.rssAnonBytes));
    log(`  RSS per process: median ${(out.rss.median / 2 ** 20).toFixed(1)} MiB (${(out.rss.min / 2 ** 20).toFixed(1)}-${(out.rss.max / 2 ** 20).toFixed(1)}); idle CPU per node median ${out.idleCpuPercent.median.toFixed(1)}%`);
  } catch (err) {
    out.error = (err as Error).message;
    log(`part 2 (${n} nodes) failed: ${(err as Error).stack ?? err}`);
  } finally {
    for (const x of nodes) out.warnings.push(...x.warnings().map((w) => `${x.name}: ${w}`));
    log(`  stopping ${nodes.length} processes`);
    await stopNodes(nodes);
  }
  return out;
}
