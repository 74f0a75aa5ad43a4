/**
 * The mesh benchmark (issue 3, "Benchmark"): writes docs/benchmarks-mesh.md and prints a summary.
 *
 *   1. a 3-node chain A-B-C of real dist/relay processes against one node: fan-out throughput
 *      (publisher on A, 100 subscribers on C) and the latency each hop adds (subscribers on A, B, C);
 *   2. membership convergence with 16 and 50 real processes seeding one node;
 *   3. the simulator's table (scripts/sim.ts) at scale.
 *
 * Usage: bun scripts/bench-mesh.ts [--quick] [--only chain,members,sim] [--sim-nodes 100,1000] [--members 16,50]
 *   --quick      short runs (1 per setup, 16 processes, simulator at 100 nodes): a smoke test of the
 *                bench itself; its figures are too short to trust, so it does not write the docs
 *   --only       run a subset of the parts
 *   --sim-nodes  simulator sizes (default 100,1000, about 20 minutes; 100,300 is quicker)
 *   --members    process counts for part 2 (default 16,50)
 * Only a full run (neither --quick nor --only) rewrites docs/benchmarks-mesh.md, so partial
 * figures never land there. Progress goes to stderr, the summary to stdout. Every process the
 * bench starts is tracked by PID and killed when it ends, however it ends.
 */
import { join } from "node:path";
import { readFileSync } from "node:fs";
import { describeMachine } from "./bench/machine.ts";
import { CHAIN_PLAN, runChain, type ChainOutcome } from "./bench/mesh-chain.ts";
import { runMembership, type MembershipOutcome } from "./bench/mesh-membership.ts";
import { renderConsole, renderMarkdown } from "./bench/mesh-report.ts";
import { runSim, type SimOutcome } from "./bench/mesh-sim.ts";
import { stopAll } from "./bench/processes.ts";
import { ensureRelayBinary } from "./bench/relay-binary.ts";
import { ROOT } from "./bench/servers.ts";

const DOCS = join(ROOT, "docs", "benchmarks-mesh.md");
const PARTS = ["chain", "members", "sim"] as const;
type Part = (typeof PARTS)[number];

/**
 * The simulator's sizes: 100 and 1,000 nodes, as issue 3 asks. On the 2-core machine this bench was
 * written on (2026-11-30), `bun scripts/sim.ts --nodes 1000` takes about 20 minutes of wall time
 * and 7.8 GiB resident (28-33 minutes before the simulator's own overheads were cut), so this part
 * is most of the bench's time. What is left is the core itself: every LSA is applied by all 1,000
 * cores, each updating its own map-based graph (about half the time), and those graphs and member
 * tables are most of the ~5 GiB a full collection leaves. `--sim-nodes 100,300` is the quicker
 * choice while working on the bench (300 nodes: about 1.5 minutes, 1.8 GiB).
 */
const DEFAULT_SIM_NODES = [100, 1000];
const SIM_NOTE_SMALLER =
  "Issue 3 asks for 100 and 1,000 nodes; this run asked for other sizes (`--sim-nodes`). A 1,000-node run takes about 20 minutes " +
  "of wall time and 7.8 GiB resident on this 2-core machine; `npm run bench` runs it.";
/**
 * Sizes up to 300 get what is left of BENCH_BUDGET_MS of the whole bench, but always at least
 * SIM_MIN_MS, so the 100-node table (under a minute) is never crowded out.
 */
const BENCH_BUDGET_MS = 10.5 * 60_000;
const SIM_MIN_MS = 3 * 60_000;
/**
 * The simulator's time when a size above 300 is asked for: a 1,000-node run takes about 20 minutes
 * here; an hour leaves room for a busier machine, or for another size asked for with it.
 */
const SIM_LARGE_MS = 60 * 60_000;
/** How long part 2 waits for a mesh to settle after its last process started. */
const MEMBERS_DEADLINE_MS = (n: number): number => 30_000 + n * 1_000;

const log = (line: string): void => void process.stderr.write(`bench-mesh: ${line}\n`);

function usage(message: string): never {
  log(message);
  log("usage: bun scripts/bench-mesh.ts [--quick] [--only chain,members,sim] [--sim-nodes 100,1000] [--members 16,50]");
  process.exit(2);
}

function parseArgs(argv: string[]): { quick: boolean; only: Set<Part> | null; simNodes: number[]; members: number[] } {
  const value = (flag: string): string | undefined => {
    const at = argv.indexOf(flag);
    if (at < 0) return undefined;
    const v = argv[at + 1];
    if (v === undefined || v.startsWith("--")) usage(`${flag} needs a value`);
    return v;
  };
  const known = new Set(["--quick", "--only", "--sim-nodes", "--members"]);
  for (let i = 0; i < argv.length; i++) {
    if (!argv[i]!.startsWith("--")) continue;
    if (!known.has(argv[i]!)) usage(`unknown flag ${argv[i]}`);
  }
  const quick = argv.includes("--quick");
  const list = (flag: string, fallback: number[], min: number): number[] => {
    const v = value(flag);
    if (v === undefined) return fallback;
    const xs = v.split(",").map(Number);
    if (xs.length === 0 || xs.some((x) => !Number.isInteger(x) || x < min)) usage(`${flag} takes whole numbers of at least ${min}, comma-separated`);
    return xs;
  };
  const onlyText = value("--only");
  let only: Set<Part> | null = null;
  if (onlyText !== undefined) {
    const ids = onlyText.split(",").filter(Boolean);
    if (ids.length === 0 || ids.some((id) => !PARTS.includes(id as Part))) usage(`--only takes a comma-separated subset of ${PARTS.join(",")}`);
    only = new Set(ids as Part[]);
  }
  return { quick, only, simNodes: list("--sim-nodes", quick ? [100] : DEFAULT_SIM_NODES, 4), members: list("--members", quick ? [16] : [16, 50], 2) };
}

const loadavg = (): string => readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(", ");

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const { quick, only, simNodes, members } = parseArgs(argv);
  const runs = (p: Part): boolean => !only || only.has(p);
  const started = performance.now();
  const loadStart = loadavg();

  // A developer's RELAY_* settings (a port, a seed, a key) must not change what is measured:
  // every node here is configured by flags alone. Children inherit process.env.
  for (const key of Object.keys(process.env)) if (key.startsWith("RELAY_")) delete process.env[key];

  await ensureRelayBinary(log);
  const machine = describeMachine();

  const plan = quick
    ? { ...CHAIN_PLAN, reps: 1, fanout: { ...CHAIN_PLAN.fanout, warmupMs: 500, durationMs: 1500 }, hops: { ...CHAIN_PLAN.hops, warmupMs: 500, durationMs: 1500 } }
    : CHAIN_PLAN;
  const chain: ChainOutcome | null = runs("chain") ? await runChain(log, plan) : null;

  const memberOutcomes: MembershipOutcome[] = [];
  if (runs("members")) for (const n of members) memberOutcomes.push(await runMembership(n, MEMBERS_DEADLINE_MS(n), log));

  const simDeadline = simNodes.some((n) => n > 300) ? performance.now() + SIM_LARGE_MS : Math.max(started + BENCH_BUDGET_MS, performance.now() + SIM_MIN_MS);
  const sim: SimOutcome | null = runs("sim") ? await runSim(simNodes, simDeadline, log) : null;
  const simNote = simNodes.includes(100) && simNodes.includes(1000) ? "These are the sizes issue 3 asks for." : SIM_NOTE_SMALLER;

  const seconds = (performance.now() - started) / 1000;
  process.stdout.write("\n" + renderConsole(chain, memberOutcomes, sim));
  if (!quick && !only) {
    const command = `bun scripts/bench-mesh.ts${argv.length ? ` ${argv.join(" ")}` : ""}`;
    await Bun.write(DOCS, renderMarkdown({ machine, command, seconds, loadStart, loadEnd: loadavg(), simNote }, chain, memberOutcomes, sim));
    log(`wrote ${DOCS} (${Math.round(seconds)} s in all)`);
  } else {
    log(`partial run (${quick ? "--quick" : "--only"}): docs/benchmarks-mesh.md left as it was (${Math.round(seconds)} s)`);
  }
  // A simulator size cut short by a budget is reported, not failed: at the default sizes that is the
  // expected outcome on a 2-core machine, and `npm run bench` should not fail for it.
  const failed = [chain?.error, ...memberOutcomes.map((m) => m.error), ...(sim?.runs ?? []).filter((r) => !r.cutShort).map((r) => r.error)].filter(
    (e): e is string => typeof e === "string",
  );
  if (failed.length) {
    log(`finished with ${failed.length} part(s) incomplete; the report says which`);
    process.exitCode = 1;
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
