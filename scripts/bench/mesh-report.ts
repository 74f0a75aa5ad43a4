/**
 * Turns the mesh bench's outcomes into figures with verdicts, then into docs/benchmarks-mesh.md and
 * the plain-text summary printed at the end of `bun scripts/bench-mesh.ts`.
 *
 * Medians: every counted run is listed in the report, and a table shows the median run, so one
 * run disturbed by a neighbour on this shared machine neither makes nor breaks a figure.
 */
import type { Attempt, ChainOutcome, Setup } from "./mesh-chain.ts";
import type { MembershipOutcome } from "./mesh-membership.ts";
import { BUDGET_HOLD_MS, IDLE_WINDOW_MS, MAX_PEERS, POLL_MS, START_BATCH } from "./mesh-membership.ts";
import type { SimOutcome } from "./mesh-sim.ts";
import type { MeshFanoutResult, MeshHopsResult } from "./mesh-types.ts";
import type { Machine } from "./machine.ts";
import { median, medianIndex } from "./stats.ts";
import { CORES } from "./plan.ts";
import { SATURATED } from "./summary.ts";

/** Targets from issue 3, "Benchmark". */
export const TARGETS = { fanoutRatio: 0.5, hopP50Ms: 0.3 } as const;

export interface BenchMeta {
  machine: Machine;
  command: string;
  seconds: number;
  /** /proc/loadavg at the start and the end: this machine is shared, and the report should say how busy it was. */
  loadStart: string;
  loadEnd: string;
  /** Why the simulator ran at the sizes it did. */
  simNote: string;
}

type Verdict = "PASS" | "MISS" | "n/a";

const counted = <R>(runs: Attempt<R>[], setup: Setup): Attempt<R>[] => runs.filter((r) => r.setup === setup && r.discarded === null);
const perSec = (r: MeshFanoutResult): number => r.deliveries / r.window.wallSeconds;
/**
 * Node CPU-seconds per million deliveries (all nodes together, or one). Less sensitive than msg/s to
 * neighbours on this shared machine: a neighbour slows a run down but barely changes what each
 * delivered message costs, so this is the steadier way to compare the chain with the single node.
 */
const cpuPerM = (r: MeshFanoutResult, node?: number): number =>
  ((node === undefined ? r.window.serverCpuSeconds : r.window.perServerCpuSeconds[node]!) / r.deliveries) * 1e6;
const cpuM = (x: number): string => (Number.isFinite(x) ? `${x.toFixed(2)} CPU-s/M` : "n/a");
const msgs = (x: number): string => (Number.isFinite(x) ? `${Math.round(x).toLocaleString("en-US")} msg/s` : "n/a");
const ms = (x: number, digits = 3): string => (Number.isFinite(x) ? `${x.toFixed(digits)} ms` : "n/a");
const sec = (x: number | null): string => (x === null || !Number.isFinite(x) ? "n/a" : `${(x / 1000).toFixed(2)} s`);
const mib = (x: number): string => (Number.isFinite(x) ? `${(x / 2 ** 20).toFixed(1)} MiB` : "n/a");
const pct = (x: number): string => (Number.isFinite(x) ? `${x.toFixed(x < 10 ? 1 : 0)}%` : "n/a");
const bold = (v: Verdict): string => (v === "n/a" ? "n/a" : `**${v}**`);

function cpuOf(r: MeshFanoutResult | MeshHopsResult, names: readonly string[]): string {
  const w = r.window;
  return w.perServerCpuSeconds.map((s, i) => `${names[i] ?? `node ${i}`} ${pct((100 * s) / w.wallSeconds)}`).join(", ");
}
const genCpu = (r: MeshFanoutResult | MeshHopsResult): string => pct((100 * r.window.generatorCpuSeconds) / r.window.wallSeconds);

/**
 * Which core limited a closed-loop run: the server core (every node) or the generator's, counting
 * everyone's use of it (ours, other sessions', interrupts, steal), since on this shared machine a
 * neighbour can fill the generator's core and cap a figure without any of our processes being busy.
 */
function limitOf(r: MeshFanoutResult): string {
  const w = r.window;
  const busy = (core: number): number => {
    const c = w.cores[core];
    return c ? c.processes + c.irq + c.steal : NaN;
  };
  const server = busy(CORES.server);
  const gen = busy(CORES.generator);
  const which = server >= SATURATED && gen >= SATURATED ? "both cores full" : server >= SATURATED ? "server core full" : gen >= SATURATED ? "generator's core full" : "neither core full";
  // Our own share beside the total, so a core filled by other sessions reads as such.
  const ours = (cpu: number): string => pct((100 * cpu) / w.wallSeconds);
  return `${which} (core ${CORES.server} ${pct(100 * server)}, ours ${ours(w.serverCpuSeconds)}; core ${CORES.generator} ${pct(100 * gen)}, ours ${ours(w.generatorCpuSeconds)})`;
}

// ---- figures ----

export interface FanoutFigures {
  single: MeshFanoutResult | null;
  chain: MeshFanoutResult | null;
  ratio: number;
  verdict: Verdict;
}

export function fanoutFigures(chain: ChainOutcome): FanoutFigures {
  const pick = (setup: Setup): MeshFanoutResult | null => {
    const runs = counted(chain.fanout, setup).map((a) => a.result);
    return runs.length ? runs[medianIndex(runs, perSec)]! : null;
  };
  const single = pick("single");
  const ch = pick("chain");
  const ratio = single && ch ? perSec(ch) / perSec(single) : NaN;
  return { single, chain: ch, ratio, verdict: Number.isFinite(ratio) ? (ratio >= TARGETS.fanoutRatio ? "PASS" : "MISS") : "n/a" };
}

export interface HopFigures {
  /** Median over counted runs of the single node's p50 / p99. */
  single: { p50: number; p99: number; max: number; received: number; expected: number } | null;
  /** Per hop (0, 1, 2): median over counted runs of p50 / p99 / max. */
  chain: { hops: number; p50: number; p99: number; max: number; received: number; expected: number }[];
  /** Added p50 per hop: hop k minus hop k-1, taken within each run (same messages), then the median over runs. */
  added: { from: number; to: number; p50: number; p99: number; verdict: Verdict }[];
  /** The added p50 over both hops, divided by 2. */
  meanPerHop: number;
  verdict: Verdict;
}

export function hopFigures(chain: ChainOutcome): HopFigures {
  const single = counted(chain.hops, "single").map((a) => a.result);
  const runs = counted(chain.hops, "chain").map((a) => a.result);
  const med = (xs: number[]): number => (xs.length ? median(xs) : NaN);
  const hopsCount = runs[0]?.perHop.length ?? 0;
  const perHop = Array.from({ length: hopsCount }, (_, k) => ({
    hops: k,
    p50: med(runs.map((r) => r.perHop[k]!.p50Ms)),
    p99: med(runs.map((r) => r.perHop[k]!.p99Ms)),
    max: med(runs.map((r) => r.perHop[k]!.maxMs)),
    received: runs.reduce((n, r) => n + r.perHop[k]!.received, 0),
    expected: runs.reduce((n, r) => n + r.perHop[k]!.expected, 0),
  }));
  const added = Array.from({ length: Math.max(0, hopsCount - 1) }, (_, i) => {
    const k = i + 1;
    const p50 = med(runs.map((r) => r.perHop[k]!.p50Ms - r.perHop[k - 1]!.p50Ms));
    const p99 = med(runs.map((r) => r.perHop[k]!.p99Ms - r.perHop[k - 1]!.p99Ms));
    return { from: k - 1, to: k, p50, p99, verdict: (Number.isFinite(p50) ? (p50 < TARGETS.hopP50Ms ? "PASS" : "MISS") : "n/a") as Verdict };
  });
  const meanPerHop = hopsCount > 1 ? med(runs.map((r) => (r.perHop[hopsCount - 1]!.p50Ms - r.perHop[0]!.p50Ms) / (hopsCount - 1))) : NaN;
  const verdict: Verdict = added.length === 0 ? "n/a" : added.every((a) => a.verdict === "PASS") ? "PASS" : "MISS";
  return {
    single: single.length
      ? {
          p50: med(single.map((r) => r.perHop[0]!.p50Ms)),
          p99: med(single.map((r) => r.perHop[0]!.p99Ms)),
          max: med(single.map((r) => r.perHop[0]!.maxMs)),
          received: single.reduce((n, r) => n + r.perHop[0]!.received, 0),
          expected: single.reduce((n, r) => n + r.perHop[0]!.expected, 0),
        }
      : null,
    chain: perHop,
    added,
    meanPerHop,
    verdict,
  };
}

// ---- rendering ----

function table(header: string[], rows: string[][]): string {
  const line = (cells: string[]) => `| ${cells.join(" | ")} |`;
  return [line(header), line(header.map(() => "---")), ...rows.map(line)].join("\n");
}

const CHAIN_NAMES = ["A", "B", "C"] as const;
const SETUP_NAMES: Record<Setup, readonly string[]> = { single: ["node"], chain: CHAIN_NAMES };
const hopLabel = (k: number): string => `${CHAIN_NAMES[k] ?? `node ${k}`} (${k} hop${k === 1 ? "" : "s"})`;

function settled(m: MembershipOutcome): Verdict {
  return m.error === null && m.convergedMs !== null && m.budgetMs !== null ? "PASS" : "MISS";
}

function summaryRows(chain: ChainOutcome | null, members: MembershipOutcome[], sim: SimOutcome | null): string[][] {
  const rows: string[][] = [];
  if (chain) {
    const f = fanoutFigures(chain);
    const h = hopFigures(chain);
    rows.push([
      "3-node chain",
      "fan-out, delivered msg/s (A to 100 subscribers on C)",
      `${msgs(f.chain ? perSec(f.chain) : NaN)} vs ${msgs(f.single ? perSec(f.single) : NaN)} single node = ${Number.isFinite(f.ratio) ? f.ratio.toFixed(2) : "n/a"}x`,
      `>= ${TARGETS.fanoutRatio}x single node`,
      bold(f.verdict),
    ]);
    if (f.single && f.chain) {
      const cost = cpuPerM(f.chain) / cpuPerM(f.single);
      rows.push([
        "3-node chain",
        "node CPU per delivered message, chain / single node",
        `${cost.toFixed(2)}x, so about ${(1 / cost).toFixed(2)}x the single node's msg/s when both saturate one core`,
        "(no target: explains the ratio above)",
        "",
      ]);
    }
    for (const a of h.added) rows.push(["3-node chain", `latency added by hop ${CHAIN_NAMES[a.from]}->${CHAIN_NAMES[a.to]}, p50`, ms(a.p50), `< ${TARGETS.hopP50Ms} ms`, bold(a.verdict)]);
  }
  for (const m of members) {
    rows.push([
      `${m.nodes} processes`,
      "full membership / within link budget, after the last process started",
      `${sec(m.convergedMs)} / ${sec(m.budgetMs)}; RSS ${mib(m.rss.median)} per process`,
      `settles (no time target)`,
      bold(settled(m)),
    ]);
  }
  if (sim) {
    for (const r of sim.runs) rows.push(["simulator", `table at ${r.nodes} nodes`, r.error ? `no table: ${r.error}` : `finished, ${r.wallSeconds.toFixed(0)} s of wall time`, "", ""]);
    for (const n of sim.skipped) rows.push(["simulator", `table at ${n} nodes`, "skipped: no time left", "", ""]);
  }
  return rows;
}

function attemptLine<R extends MeshFanoutResult | MeshHopsResult>(a: Attempt<R>, brief: (r: R) => string): string {
  const who = a.setup === "single" ? "single node" : "chain";
  const note = a.discarded !== null ? ` (discarded and repeated: ${a.discarded})` : a.other ? ` (${a.other})` : "";
  return `- ${who}, run ${a.rep}${a.discarded !== null ? ", discarded attempt" : ""}: ${brief(a.result)}${note}`;
}

function chainSection(c: ChainOutcome): string {
  const p = c.plan;
  const parts: string[] = ["## 1. Three-node chain A-B-C against one node", ""];
  parts.push(
    `Nodes A and C run with \`--max-peers 1\`, B with \`--max-peers 2\`; B starts first and A and C seed it. ` +
      `Before anything was measured, GET /topology on all three listed exactly the links A-B and B-C ` +
      `(and /healthz peers 1, 2, 1) for ${p.chainStableMs / 1000} s in a row.`,
    "",
  );
  if (c.before) parts.push(`- Before the runs${c.formedMs !== null ? ` (chain verified ${(c.formedMs / 1000).toFixed(1)} s after B started)` : ""}: ${c.before.seen.join("; ")}; peers ${c.before.peers}`);
  if (c.after) parts.push(`- After the runs: ${c.after.ok ? "unchanged, " : "**CHANGED**, "}${c.after.seen.join("; ")}; peers ${c.after.peers}`);
  if (c.error) parts.push("", `**Part 1 did not complete:** ${c.error}`);
  parts.push("");

  const f = fanoutFigures(c);
  parts.push(
    "### Fan-out throughput",
    "",
    `1 publisher, ${p.fanout.subscribers} subscribers on one channel, ${p.fanout.payloadBytes}-byte payloads, closed loop with ` +
      `${p.fanout.window} publishes in flight (a publish is in flight until its ack and all ${p.fanout.subscribers} deliveries are back), ` +
      `${p.fanout.warmupMs / 1000} s warm-up then ${p.fanout.durationMs / 1000} s measured; median of ${p.reps} runs per setup, alternating. ` +
      `Single node: publisher and subscribers on one node without the mesh. Chain: publisher on A, subscribers on C, so every message crosses A->B->C.`,
    "",
  );
  const fanRow = (label: string, setup: Setup, r: MeshFanoutResult | null): string[] =>
    r
      ? [label, msgs(perSec(r)), cpuOf(r, SETUP_NAMES[setup]), cpuM(cpuPerM(r)), genCpu(r), limitOf(r), setup === "chain" ? `${Math.round(r.propagationMs)} ms` : "n/a (local)", String(r.missing), String(r.errors.count), String(r.closes)]
      : [label, "not measured", "", "", "", "", "", "", "", ""];
  parts.push(
    table(
      ["Setup", "Delivered msg/s", "Node CPU (share of one core)", "Node CPU per million deliveries", "Generator CPU", "Limit: each core's use by everyone (ours)", "Interest reached A after", "Missing after drain", "Error frames", "Server closes"],
      [fanRow("single node", "single", f.single), fanRow("chain A->B->C", "chain", f.chain)],
    ),
    "",
    `**Chain / single node: ${Number.isFinite(f.ratio) ? f.ratio.toFixed(2) : "n/a"}x** (target >= ${TARGETS.fanoutRatio}x): ${bold(f.verdict)}.`,
    "",
    ...(f.single && f.chain
      ? [
          `Per delivered message, the chain's three nodes together spent ${(cpuPerM(f.chain) / cpuPerM(f.single)).toFixed(2)}x the single node's CPU ` +
            `(C alone, which does the same fan-out to 100 subscribers as the single node, ${(cpuPerM(f.chain, 2) / cpuPerM(f.single)).toFixed(2)}x; ` +
            `A and B, which only forward, ${((cpuPerM(f.chain, 0) + cpuPerM(f.chain, 1)) / cpuPerM(f.single)).toFixed(2)}x). ` +
            `On one shared core, the inverse of the first figure (${(cpuPerM(f.single) / cpuPerM(f.chain)).toFixed(2)}x) is the throughput ratio to expect when both setups saturate it, and it moves less with neighbours than msg/s does.`,
          "",
        ]
      : []),
    "Every run:",
    "",
    ...c.fanout.map((a) => attemptLine(a, (r) => `${msgs(perSec(r))}; CPU ${cpuOf(r, SETUP_NAMES[a.setup])} (${cpuM(cpuPerM(r))}); generator ${genCpu(r)}; ${limitOf(r)}; ${r.missing} missing`)),
    "",
  );

  const h = hopFigures(c);
  parts.push(
    "### Latency per hop",
    "",
    `Open loop at ${p.hops.ratePerSecond.toLocaleString("en-US")} msg/s paced every millisecond, ~${p.hops.payloadBytes}-byte payloads carrying their send time; ` +
      `${p.hops.warmupMs / 1000} s warm-up then ${p.hops.durationMs / 1000} s measured; median of ${p.reps} runs. The publisher is on A and one subscriber each on A, B ` +
      `and C, all in the one generator process, so one clock times every delivery of the same messages.`,
    "",
  );
  const rows: string[][] = [];
  const count = (x: { received: number; expected: number }): string => `${x.received.toLocaleString("en-US")} / ${x.expected.toLocaleString("en-US")}`;
  if (h.single) rows.push(["single node, no mesh (reference)", "0", ms(h.single.p50), ms(h.single.p99), ms(h.single.max), count(h.single)]);
  for (const x of h.chain) rows.push([`chain, subscriber on ${hopLabel(x.hops)}`, String(x.hops), ms(x.p50), ms(x.p99), ms(x.max), count(x)]);
  parts.push(table(["Subscriber", "Hops", "p50", "p99", "max", "Delivered / sent (counted runs)"], rows), "");
  parts.push(
    table(
      ["Hop", "Added p50", "Added p99", "Target (p50)", "Result"],
      [
        ...h.added.map((a) => [`${CHAIN_NAMES[a.from]} -> ${CHAIN_NAMES[a.to]}`, ms(a.p50), ms(a.p99), `< ${TARGETS.hopP50Ms} ms`, bold(a.verdict)]),
        ["mean of the two hops", ms(h.meanPerHop), "", `< ${TARGETS.hopP50Ms} ms`, ""],
      ],
    ),
    "",
    "Every run:",
    "",
    ...c.hops.map((a) => attemptLine(a, (r) => r.perHop.map((x) => `${a.setup === "chain" ? CHAIN_NAMES[x.hops] : "node"} p50 ${ms(x.p50Ms)} p99 ${ms(x.p99Ms)}`).join(", ") + `; CPU ${cpuOf(r, SETUP_NAMES[a.setup])}`)),
  );
  if (c.warnings.length) parts.push("", "Warnings the nodes logged:", "", ...c.warnings.map((w) => `- \`${w}\``));
  return parts.join("\n");
}

function membershipSection(members: MembershipOutcome[]): string {
  const parts = [
    "## 2. Membership convergence with real processes",
    "",
    `N \`dist/relay\` processes on 127.0.0.1, node 0 first, then the rest ${START_BATCH} at a time, every one with \`--seed\` node 0 and the ` +
      `default \`--max-peers ${MAX_PEERS}\`. Times are from the moment the last process was spawned (its own start-up included). *Full membership*: every ` +
      `node's GET /nodes lists all N alive. *Within link budget*: every node holds at most ${MAX_PEERS} links (by /nodes and by /healthz) and ` +
      `keeps to it for ${BUDGET_HOLD_MS / 1000} s. Both are polled every ${POLL_MS} ms on every node, so each is an upper bound within one poll ` +
      `interval plus one round of requests (the slowest round is shown). RSS and idle CPU are read from /proc after the mesh settled, ` +
      `idle CPU over ${IDLE_WINDOW_MS / 1000} s with nothing polling.`,
    "",
    table(
      ["Processes", "All started within", "Full membership after", "Within link budget after", "Budget lapses", "Slowest poll", "Links per node (min / median / max)", "RSS per process (median, min-max)", "RssAnon per process (median)", "RSS, all processes", "Idle CPU per node (median, max)", "Result"],
      members.map((m) => [
        String(m.nodes),
        sec(m.startSpanMs),
        sec(m.convergedMs),
        sec(m.budgetMs),
        String(m.budgetLapses),
        ms(m.slowestPollMs, 0),
        m.links ? `${m.links.min} / ${m.links.median} / ${m.links.max}` : "n/a",
        `${mib(m.rss.median)} (${mib(m.rss.min)}-${mib(m.rss.max)})`,
        mib(m.rssAnon.median),
        mib(m.rss.total),
        `${pct(m.idleCpuPercent.median)}, ${pct(m.idleCpuPercent.max)}`,
        bold(settled(m)),
      ]),
    ),
  ];
  for (const m of members) {
    if (m.error) parts.push("", `**${m.nodes} processes:** ${m.error}${m.lastSeen ? `; ${m.lastSeen}` : ""}`);
    if (m.warnings.length) {
      const shown = m.warnings.slice(0, 12);
      parts.push("", `Warnings the ${m.nodes} nodes logged (${m.warnings.length}${m.warnings.length > shown.length ? `, first ${shown.length} shown` : ""}):`, "", ...shown.map((w) => `- \`${w}\``));
    }
  }
  return parts.join("\n");
}

function simSection(sim: SimOutcome, note: string): string {
  const parts = ["## 3. The simulator at scale", "", `Each size runs as its own child process, \`bun scripts/sim.ts --nodes N\`; its output is included verbatim. ${note}`];
  for (const r of sim.runs) {
    parts.push("", `### ${r.nodes} nodes`, "");
    const rss = r.peakRssBytes !== null ? `, peak RSS ${mib(r.peakRssBytes)}` : "";
    if (r.error === null) {
      parts.push(`\`${r.command}\`: wall time ${r.wallSeconds.toFixed(0)} s${rss}.`, "", "```text", r.table || "(no output)", "```");
    } else {
      parts.push(
        `\`${r.command}\`: **did not finish: ${r.error}** (wall time ${r.wallSeconds.toFixed(0)} s${rss}). sim.ts prints its tables only at the end, ` +
          "so there is no table; the progress lines it printed up to then are below (times in virtual seconds).",
        "",
        "```text",
        r.progress.join("\n") || "(none)",
        "```",
      );
    }
  }
  if (sim.skipped.length) parts.push("", `Not run, for lack of time within the bench's budget: ${sim.skipped.join(", ")} nodes.`);
  return parts.join("\n");
}

/** The "How measured" section; the window and core count come from what ran. */
function howMeasured(cores: number, window: number): string {
  return `## How measured

- **Nodes.** The compiled \`dist/relay\` (rebuilt first with \`bun scripts/build.ts --only binary\` when it is missing or older than
  \`src/\`), each started on \`--host 127.0.0.1 --port 0\` with \`--log-level info\` and the client limits raised
  (\`--publish-rate 10000000 --publish-burst 10000000 --max-subscriptions 100000 --max-connections 1000000\`) so rate limits never
  cap a figure; mesh nodes add \`--cluster-key\` (a 31-character bench key), \`--seed\` and \`--max-peers\` as described in each part.
  The port is read from the node's \`listening on 127.0.0.1:PORT\` log line, and a node counts as up once GET /healthz answers 200.
  Every process is started through \`scripts/bench/processes.ts\` (pinned with \`taskset\`, fd limit raised, tracked by PID) and
  stopped by PID (SIGTERM, then SIGKILL), also when the bench fails or is interrupted.
- **Placement (part 1).** The single node and A, B and C are all pinned to core 0 and the load generator to core 1, so the chain
  gets the same one core of server CPU as the single node it is compared with. The chain's ratio is therefore the cost of two
  extra hops (two peer encodes and decodes, two more processes to wake) within one core, not the gain of spreading nodes over cores.
- **Load generator.** \`scripts/bench/loadgen.ts\`, its own process, the single-node bench's generator: the same closed loop
  (\`closed-loop.ts\`) and paced latency loop (\`latency.ts\`) over the same raw-TCP WebSocket client (\`ws-client.ts\`),
  connection setup (\`connections.ts\`) and frame helpers (\`frames.ts\`), with only the interest probes below added
  (\`mesh-loadgen.ts\`). It points its connections at different nodes, and samples the CPU of every node (from
  \`/proc/PID/stat\`) over the measured window.
- **Interest first.** A subscription reaches other nodes about 100 ms plus one crossing per hop after its ack
  (docs/protocol.md), and a node with no interested subtree receives nothing. So every run first publishes a probe every
  20 ms until every subscriber has one ("interest reached A after"), waits until the probes are acked and the subscribers have
  been quiet for 300 ms, and only then starts counting.
- **Fan-out.** Closed loop as in the single-node bench: a publish stays in flight until its ack and all its deliveries are back,
  so send buffers stay short and the figure is delivered throughput. The window is ${window} rather than the single-node bench's 64:
  at 64 neither setup saturated any core (both were bound by the round trip), and the chain's extra hops then showed as latency,
  not as lost capacity; at ${window} the chain can fill its core when the generator's core is free (the *Limit* column says which
  core was full in each run, counting other sessions' use of it). After the window closes, the loop stops and waits up to 2 s;
  *missing* is publishes sent x subscribers minus deliveries (0 means nothing was lost on the mesh).
- **Latency.** Open loop (the publisher never waits), paced every millisecond, each payload stamped with \`performance.now()\`
  when its frame is built; the subscriber's receive time minus that stamp, on the one clock of the generator process. Only
  messages sent inside the measured window are sampled. *Added per hop* is hop k's p50 minus hop k-1's p50 within the same run
  (the same messages), then the median over runs.
- **Membership.** See part 2. Node i is pinned to core i mod ${cores}; the poller is the bench process itself.
- **Shared machine.** Other sessions run tests on this machine. Before each part-1 run the bench waits (up to 5 s) for both cores
  to be quiet; a run in which other processes took more than 10% of the server's or the generator's core is repeated while a
  small budget lasts, and the other load of every counted run is printed beside it.`;
}

/** The report, docs/benchmarks-mesh.md. */
export function renderMarkdown(meta: BenchMeta, chain: ChainOutcome | null, members: MembershipOutcome[], sim: SimOutcome | null): string {
  const m = meta.machine;
  const parts = [
    "# Mesh benchmarks",
    "",
    "Written by `bun scripts/bench-mesh.ts` (scripts/bench-mesh.ts and scripts/bench/mesh-*.ts), which rewrites this file on every full run: edit the script, not this file.",
    "",
    "## Machine and command",
    "",
    table(
      ["", ""],
      [
        ["CPU cores (nproc)", String(m.cores)],
        ["CPU model", m.cpuModel],
        ["Memory", `${m.memoryGiB.toFixed(1)} GiB`],
        ["Kernel", m.kernel],
        ["Bun", `${m.bunVersion} (runs the bench and the generator; dist/relay is compiled by it)`],
        ["Date", m.date],
        ["Pinning", m.pinned ? "relay nodes of part 1 on core 0, load generator on core 1; part 2 spreads nodes over all cores (taskset)" : "none (taskset not found)"],
        ["Load average (1, 5, 15 min) at start / end", `${meta.loadStart} / ${meta.loadEnd}`],
        ["Command", `\`${meta.command}\``],
        ["Duration", `${Math.round(meta.seconds)} s`],
      ],
    ),
    "",
    "## Summary",
    "",
    table(["Part", "Figure", "Value", "Target", "Result"], summaryRows(chain, members, sim)),
    "",
  ];
  if (chain) parts.push(chainSection(chain), "");
  if (members.length) parts.push(membershipSection(members), "");
  if (sim) parts.push(simSection(sim, meta.simNote), "");
  parts.push(howMeasured(m.cores, chain?.plan.fanout.window ?? NaN), "");
  return parts.join("\n");
}

/** The plain-text summary printed on stdout at the end. */
export function renderConsole(chain: ChainOutcome | null, members: MembershipOutcome[], sim: SimOutcome | null): string {
  const rows = summaryRows(chain, members, sim).map((r) => r.map((cell) => cell.replace(/\*\*/g, "")));
  const header = ["Part", "Figure", "Value", "Target", "Result"];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join("  ").trimEnd();
  return [line(header), line(widths.map((w) => "-".repeat(w))), ...rows.map(line)].join("\n") + "\n";
}
