/**
 * The mesh simulator at scale: the scenarios of test/sim (join, settle, publish, crash 10%,
 * partition and heal, restart) on the real mesh core with virtual time over the 28-region RTT
 * matrix, printed as tables. Deterministic: the same --seed gives the same figures.
 *
 * Usage: bun scripts/sim.ts [--nodes 100,1000] [--seed 1] [--phases ...] [--json] [--wire codec|copy]
 *   --nodes  comma-separated sizes, run one after another (default 100,1000)
 *   --seed   seed of every random choice (default 1)
 *   --phases comma-separated subset of settle,steady,crash,partition,restart to run after the
 *            join (default all); a large mesh can be measured a phase at a time
 *   --json   print the full figures as JSON instead of tables
 *   --wire   how frames cross links: "codec" encodes and decodes each with the real peer codec;
 *            "copy" sizes them exactly without encoding and hands every receiver the same frozen
 *            frame, several times faster; one frame in 8 (in 64 above 200 nodes) is still checked
 *            against the real codec. Default: codec up to 200 nodes, copy above.
 *   --max-rss-gb  stop a run whose resident memory passes this (default 8): every simulated node
 *            holds a full member table and link-state database, so memory grows with N squared,
 *            and the machine may be shared
 * Progress goes to stderr; tables (or JSON) to stdout. Set SIM_LOG=debug|info|warn to print the
 * cores' log directives. A size stopped by the memory guard prints its progress only, and the
 * script exits 1 after the other sizes.
 */
import { boundsTable, deliveryTable, summaryTable } from "../test/sim/report.ts";
import { type Figures, PHASES, type Phase, runAll } from "../test/sim/scenarios.ts";
import type { Wire } from "../test/sim/simulator.ts";

const log = (line: string): void => void process.stderr.write(`sim: ${line}\n`);

function usage(message: string): never {
  log(message);
  log("usage: bun scripts/sim.ts [--nodes 100,1000] [--seed N] [--phases settle,steady,crash,partition,restart] [--json] [--wire codec|copy] [--max-rss-gb 8]");
  process.exit(2);
}

function parseArgs(argv: string[]): { sizes: number[]; seed: number; json: boolean; wire: Wire | null; phases: Phase[]; maxRss: number } {
  const value = (flag: string): string | undefined => {
    const at = argv.indexOf(flag);
    if (at < 0) return undefined;
    const v = argv[at + 1];
    if (v === undefined || v.startsWith("--")) usage(`${flag} needs a value`);
    return v;
  };
  const sizes = (value("--nodes") ?? "100,1000").split(",").map(Number);
  if (sizes.some((n) => !Number.isInteger(n) || n < 4)) usage("--nodes takes whole numbers of at least 4");
  const seed = Number(value("--seed") ?? "1");
  if (!Number.isInteger(seed)) usage("--seed takes a whole number");
  const wire = value("--wire") ?? null;
  if (wire !== null && wire !== "codec" && wire !== "copy") usage("--wire is codec or copy");
  const phases = (value("--phases") ?? PHASES.join(",")).split(",").filter(Boolean);
  const unknown = phases.filter((p) => !PHASES.includes(p as Phase));
  if (unknown.length) usage(`--phases takes a subset of ${PHASES.join(",")}`);
  const maxRssGb = Number(value("--max-rss-gb") ?? "8");
  if (!(maxRssGb > 0)) usage("--max-rss-gb takes a positive number");
  return { sizes, seed, json: argv.includes("--json"), wire, phases: phases as Phase[], maxRss: maxRssGb * 2 ** 30 };
}

const LOG_LEVELS = ["debug", "info", "warn"] as const;
const envLog = process.env.SIM_LOG;
const printLogs = LOG_LEVELS.find((l) => l === envLog);

const { sizes, seed, json, wire, phases, maxRss } = parseArgs(process.argv.slice(2));

/**
 * Stops a run that outgrows its memory allowance (checked every 10,000 simulated events), and keeps
 * resident memory nearer what the run holds. A large run makes garbage far faster than it keeps
 * state, and the collector lets the heap grow well past the live data before it collects it all
 * (a 300-node run had reached 4.5 GiB; 1.8 GiB now). So a full collection runs whenever resident
 * memory passes GC_GROWTH times what the last one left (and GC_FLOOR), at most every GC_SPACING_MS
 * of wall time, and in any case past three quarters of the allowance. At 1,000 nodes a collection
 * leaves about 5 GiB, so there it is the three quarters that bound the peak (7.8 GiB of 8).
 */
class OutOfMemoryBudget extends Error {}
const GC_FLOOR = 1.5 * 2 ** 30;
const GC_GROWTH = 1.6;
const GC_SPACING_MS = 10_000;
let lastCollect = -Infinity;
let collectAbove = GC_FLOOR;
const watchdog = (): void => {
  let rss = process.memoryUsage().rss;
  if (rss > Math.min(collectAbove, 0.75 * maxRss) && performance.now() - lastCollect > GC_SPACING_MS) {
    Bun.gc(true);
    lastCollect = performance.now();
    rss = process.memoryUsage().rss;
    collectAbove = Math.max(GC_FLOOR, GC_GROWTH * rss);
  }
  if (rss > maxRss) throw new OutOfMemoryBudget(`resident memory ${(rss / 2 ** 30).toFixed(1)} GB passed --max-rss-gb ${(maxRss / 2 ** 30).toFixed(1)}`);
};

const runs: Figures[] = [];
let stopped = false;
for (const nodes of sizes) {
  const w = wire ?? (nodes <= 200 ? "codec" : "copy");
  log(`${nodes} nodes, seed ${seed}, frames by ${w}, phases join,${phases.join(",")}`);
  try {
    const codecSample = nodes > 200 ? 64 : 8;
    const figures = runAll({ nodes, seed, wire: w, codecSample, phases, watchdog, progress: log, ...(printLogs ? { printLogs } : {}) });
    log(`${nodes} nodes done in ${(figures.wallMs / 1000).toFixed(1)} s of wall time`);
    runs.push(figures);
  } catch (e) {
    if (!(e instanceof OutOfMemoryBudget)) throw e;
    log(`${nodes} nodes stopped: ${e.message}; the figures above are all this size reached`);
    stopped = true;
    Bun.gc(true);
  }
}

if (json) {
  console.log(JSON.stringify(runs, null, 2));
} else {
  console.log(`Mesh simulation, seed ${seed} (times in virtual seconds; latency and stretch from the steady-state batch)\n`);
  console.log(summaryTable(runs));
  console.log("\nDeliveries per phase\n");
  console.log(deliveryTable(runs));
  console.log("\nBounds the test asserts (derived from src/mesh/constants.ts)\n");
  console.log(boundsTable(runs));
  for (const f of runs) {
    const a = f.anomalies;
    console.log(`\n${f.nodes} nodes: core counters ${JSON.stringify(f.core)}`);
    console.log(`${f.nodes} nodes: shell anomalies ${JSON.stringify(a)}`);
    if (f.steady?.worst) console.log(`${f.nodes} nodes: worst stretch ${JSON.stringify(f.steady.worst)}`);
  }
}
if (stopped) process.exitCode = 1;
