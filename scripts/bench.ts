/**
 * `npm run bench` (with scripts/bench-mesh.ts after it): the comparison. Relay against raw Bun.serve
 * (the ceiling), nats-server, mosquitto, Socket.IO 4 and a plain `ws` relay on one node, in five
 * scenarios (fan-out, many channels, latency, idle memory, connection rate); then a 3- and 5-node
 * Relay mesh against NATS clusters of the same size. Writes docs/benchmarks.md and docs/bench/*.svg
 * and prints the tables.
 *
 * Usage: bun scripts/bench.ts [--quick] [--json] [--only fanout,channels,latency,memory,connect,mesh] [--systems relay,raw,nats,mosquitto,socketio,ws]
 *   --quick    every system and scenario once, small and short: a smoke test of the bench itself
 *   --json     machine-readable results on stdout (the tables then go to stderr)
 *   --only     a subset of the scenarios
 *   --systems  a subset of the single-node systems (Relay is always kept: every target is about it)
 * Only a full run (none of --quick, --only, --systems) rewrites docs/benchmarks.md and its charts,
 * so partial figures never land there; a partial run renders them into a temporary folder instead.
 *
 * Each single-node run: a fresh server pinned to core 0, the load generator pinned to core 1, the
 * result read back as JSON. See docs/benchmarks.md, "How measured", and scripts/bench/.
 */
import { mkdirSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { counted, type Budget } from "./bench/attempts.ts";
import { allCharts } from "./bench/charts.ts";
import { checkCodecs, type CodecCheck } from "./bench/check-codecs.ts";
import { runLoadgen } from "./bench/loadgen-runner.ts";
import { describeMachine } from "./bench/machine.ts";
import { MESH_FANOUT, meshHopsMetrics, logWarnings, singleRun, singleSection, targets } from "./bench/sections.ts";
import { meshPlan, NODE_NAMES, runMeshComparison, type MeshOutcome } from "./bench/mesh-compare.ts";
import { makePlan, runTimeoutMs, SCENARIO_IDS, type PlannedScenario } from "./bench/plan.ts";
import { stopAll, TASKSET } from "./bench/processes.ts";
import { Progress } from "./bench/progress.ts";
import { ensureRelayBinary } from "./bench/relay-binary.ts";
import { renderConsole, renderMarkdown, type Comparison } from "./bench/report.ts";
import { ROOT, startServer } from "./bench/servers.ts";
import { judgeTargets, summarizeSection, type Run, type Section, type SystemRef } from "./bench/summary.ts";
import { NATS, SYSTEM_KEYS, SYSTEMS, type System, type SystemKey } from "./bench/systems.ts";
import type { LoadgenResult } from "./bench/types.ts";

const DOCS = join(ROOT, "docs");
const PARTS = [...SCENARIO_IDS, "mesh"] as const;
type Part = (typeof PARTS)[number];

/**
 * What a busy machine may add to the bench, in all: repeats of disturbed or failed runs, and waits
 * for quiet cores. A quiet machine uses none of it.
 */
const budget: Budget = { repeats: 16, waitMs: 120_000 };

const log = (line: string): void => void process.stderr.write(`bench: ${line}\n`);

interface Args {
  quick: boolean;
  json: boolean;
  only: Set<Part> | null;
  systems: Set<SystemKey> | null;
}

function usage(message: string): never {
  log(message);
  log("usage: bun scripts/bench.ts [--quick] [--json] [--only fanout,channels,latency,memory,connect,mesh] [--systems relay,raw,nats,mosquitto,socketio,ws]");
  process.exit(2);
}

function parseArgs(argv: string[]): Args {
  const known = new Set(["--quick", "--json", "--only", "--systems"]);
  for (const a of argv) if (a.startsWith("--") && !known.has(a)) usage(`unknown flag ${a}`);
  const list = <T extends string>(flag: string, allowed: readonly T[]): Set<T> | null => {
    const at = argv.indexOf(flag);
    if (at < 0) return null;
    const ids = (argv[at + 1] ?? "").split(",").filter(Boolean);
    if (ids.length === 0 || ids.some((id) => !allowed.includes(id as T))) usage(`${flag} takes a comma-separated list of ${allowed.join(", ")}`);
    return new Set(ids as T[]);
  };
  const systems = list("--systems", SYSTEM_KEYS);
  systems?.add("relay");
  return { quick: argv.includes("--quick"), json: argv.includes("--json"), only: list("--only", PARTS), systems };
}

/** Makes every selected system ready (installs, codec checks); returns each one's skip reason or null. */
async function prepareSystems(systems: readonly System[]): Promise<{ skips: Map<SystemKey, string | null>; checks: CodecCheck[] }> {
  const skips = new Map<SystemKey, string | null>();
  for (const s of systems) {
    const why = await s.prepare(log);
    if (why) log(`${s.label}: skipped: ${why}`);
    skips.set(s.key, why);
  }
  const checks = await checkCodecs(
    systems.filter((s) => skips.get(s.key) === null).map((s) => s.key),
    log,
  );
  for (const c of checks) if (c.error) skips.set(c.system, `its codec check against the official client failed: ${c.error}`);
  return { skips, checks };
}

/** One line about a single-node run, for the log. */
const brief = (r: LoadgenResult): string => singleRun(r).line;

/** Runs one single-node scenario on every ready system, alternating systems within each repetition. */
async function runScenario(p: PlannedScenario, systems: readonly System[], progress: Progress, problems: string[]): Promise<Run[]> {
  const runs: Run[] = [];
  for (let rep = 1; rep <= p.reps; rep++) {
    // Alternating spreads drift on the VM (a noisy neighbour, thermal state) over every system.
    for (const system of systems) {
      progress.step(`${p.id}: ${system.label}, run ${rep} of ${p.reps}`);
      let serverLog = "";
      try {
        const attempts = await counted(
          async () => {
            const server = await startServer(system);
            try {
              return await runLoadgen({ ...p.spec, port: server.port, serverPid: server.pid, codec: system.codec }, runTimeoutMs(p.spec));
            } finally {
              serverLog = server.stderr();
              await server.stop();
            }
          },
          { budget, repeatWhenDisturbed: p.repeatWhenDisturbed, windowOf: (r) => singleRun(r).window, brief, log },
        );
        for (const a of attempts) {
          const body = singleRun(a.result);
          runs.push({ system: system.key, rep, ...body, warnings: [...body.warnings, ...logWarnings(serverLog)], discarded: a.discarded });
        }
      } catch (err) {
        const why = `${p.id}: ${system.label} run ${rep} failed every attempt: ${(err as Error).message.split("\n")[0]}`;
        log(why);
        problems.push(why);
      }
    }
  }
  return runs;
}

/** The mesh sections from the mesh runs. */
function meshSections(m: MeshOutcome, reps: number): Section[] {
  const names3 = NODE_NAMES.slice(0, 3);
  const names5 = NODE_NAMES.slice(0, 5);
  const shape = (five: boolean) =>
    `The Relay mesh is a chain ${(five ? names5 : names3).join("-")} (forced with --max-peers and checked on /topology before and after the runs), so ` +
    `${five ? "E is four hops" : "C is two hops"} from A; a NATS cluster is a full mesh of routes by design, so every node is one route from A. ` +
    "Each is that system's own way to span nodes; per hop = (p50 at the last node - p50 at A) / the links crossed.";
  return [
    summarizeSection(
      {
        id: "mesh-fanout",
        title: "3 nodes, fan-out: publish on node A, 100 subscribers on node C",
        what: "64-byte payloads, closed loop with 256 publishes in flight; all nodes share core 0",
        reps,
        metrics: MESH_FANOUT,
        primary: "rate",
        charts: ["rate"],
        notes: [shape(false)],
      },
      m.systems,
      m.fanout3,
      "throughput",
    ),
    summarizeSection(
      {
        id: "mesh-latency",
        title: "3 nodes, latency: 1,000 msg/s published on A, a subscriber on each of A, B and C",
        what: "open loop, paced every millisecond, about 64-byte payloads; all nodes share core 0",
        reps,
        metrics: meshHopsMetrics(names3),
        primary: "p99-2",
        charts: ["p50-2", "perHop"],
        notes: [shape(false)],
      },
      m.systems,
      m.hops3,
      "paced",
    ),
    summarizeSection(
      {
        id: "chain5",
        title: "5 nodes, latency: 1,000 msg/s published on A, a subscriber on each of A to E",
        what: "open loop, paced every millisecond, about 64-byte payloads; all nodes share core 0",
        reps,
        metrics: meshHopsMetrics(names5),
        primary: "p99-4",
        charts: ["p50-4", "perHop"],
        notes: [shape(true)],
      },
      m.systems,
      m.hops5,
      "paced",
    ),
  ];
}

/** Writes the markdown and its charts into `dir` (docs/ for a full run). */
async function writeReport(dir: string, comparison: Omit<Comparison, "charts">, sections: Section[]): Promise<string> {
  const chartDir = join(dir, "bench");
  mkdirSync(chartDir, { recursive: true });
  // The folder holds only generated charts: clear old ones, so a renamed chart leaves nothing stale.
  for (const f of readdirSync(chartDir)) if (f.endsWith(".svg")) rmSync(join(chartDir, f));
  const charts: Record<string, string[]> = {};
  for (const c of allCharts(sections)) {
    await Bun.write(join(chartDir, c.file), c.svg);
    (charts[c.section] ??= []).push(`bench/${c.file}`);
  }
  const path = join(dir, "benchmarks.md");
  await Bun.write(path, renderMarkdown({ ...comparison, charts }));
  return path;
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const args = parseArgs(argv);
  const full = !args.quick && !args.only && !args.systems;
  // A smoke run should end in a few minutes even on a busy machine: little waiting for quiet cores.
  if (args.quick) budget.waitMs = 15_000;
  const runs = (p: Part): boolean => !args.only || args.only.has(p);
  const started = performance.now();
  // A developer's RELAY_* settings (a port, a seed, a key) must not change what is measured.
  for (const key of Object.keys(process.env)) if (key.startsWith("RELAY_")) delete process.env[key];

  await ensureRelayBinary(log);
  const machine = describeMachine();
  if (!TASKSET) log("taskset not found: servers and generator run unpinned");

  const wanted = SYSTEMS.filter((s) => !args.systems || args.systems.has(s.key));
  const { skips, checks } = await prepareSystems(runs("mesh") && !wanted.includes(NATS) ? [...wanted, NATS] : wanted);
  const ready = wanted.filter((s) => skips.get(s.key) === null);
  const refs: SystemRef[] = wanted.map((s) => ({ key: s.key, label: s.label, skipped: skips.get(s.key) ?? null }));

  const plan = makePlan(args.quick, args.only);
  const mesh = meshPlan(args.quick);
  const natsReady = skips.get("nats") === null;
  const meshSteps = runs("mesh") ? mesh.reps * (2 + 2 + 2) * (natsReady ? 1 : 0.5) : 0;
  const progress = new Progress(plan.scenarios.reduce((n, s) => n + s.reps * ready.length, 0) + meshSteps, log);
  const problems: string[] = [];

  const sections: Section[] = [];
  for (const p of plan.scenarios) {
    const scenarioRuns = await runScenario(p, ready, progress, problems);
    sections.push(summarizeSection(singleSection(p), refs, scenarioRuns, p.spec.kind === "latency" ? "paced" : p.spec.kind === "idle-connections" ? "idle" : "throughput"));
  }
  if (runs("mesh")) {
    const natsBin = natsReady ? (Bun.which("nats-server", { PATH: `${process.env.PATH ?? ""}:/usr/sbin:/sbin` }) ?? "nats-server") : null;
    const m = await runMeshComparison(mesh, natsBin, skips.get("nats") ?? "not selected", budget, log, (what) => progress.step(what));
    problems.push(...m.errors);
    sections.push(...meshSections(m, mesh.reps));
  }

  const memory = plan.scenarios.find((s) => s.id === "memory");
  const targetResults = judgeTargets(targets(memory?.spec.kind === "idle-connections" ? memory.spec.steps : []), sections);
  const seconds = (performance.now() - started) / 1000;
  const versions = [...wanted, ...(wanted.includes(NATS) ? [] : runs("mesh") ? [NATS] : [])].map((s) => ({
    label: s.label,
    version: skips.get(s.key) === null ? s.version() : `not run: ${skips.get(s.key)}`,
    how: s.how,
  }));
  const comparison = { machine, versions, command: `bun scripts/bench.ts${argv.length ? ` ${argv.join(" ")}` : ""}`, seconds, quick: args.quick, checks, sections, targets: targetResults, problems };
  if (full) comparison.command = "npm run bench";

  const text = renderConsole({ ...comparison, charts: {} });
  if (args.json) {
    process.stderr.write(text);
    process.stdout.write(JSON.stringify({ ...comparison, full }, null, 2) + "\n");
  } else {
    process.stdout.write(text);
  }
  if (full) {
    const path = await writeReport(DOCS, comparison, sections);
    log(`wrote ${path} and docs/bench/*.svg (${Math.round(seconds)} s in all)`);
  } else {
    const path = await writeReport(join(tmpdir(), "relay-bench-partial"), comparison, sections);
    log(`partial run: docs/benchmarks.md left as it was; this run's report and charts are in ${path} (${Math.round(seconds)} s in all)`);
  }
}

try {
  await main();
} catch (err) {
  log(`failed: ${(err as Error).stack ?? err}`);
  process.exitCode = 1;
} finally {
  await stopAll();
}
