/**
 * Part 3 of the mesh bench: the simulator's own tables (scripts/sim.ts) as child processes, their
 * stdout kept verbatim for the report and their progress lines passed through to our stderr.
 *
 * Why a child process and not an import: sim.ts is a script that runs at import and owns its
 * output format; running it exactly as a developer would keeps the tables in the report identical
 * to what `bun scripts/sim.ts --nodes N` prints.
 *
 * Why one child per size rather than `--nodes 100,300` at once: sim.ts prints its tables only when
 * every size is done, so a large size cut at the deadline would take the small size's table with
 * it. Per size, a size that does not finish still leaves its progress lines (the phases it reached,
 * with their figures) for the report.
 *
 * Two guards, because the simulator's cost grows steeply with the node count (on the shared 2-core
 * machine this was written on: 100 nodes in about 30 s and 0.6 GiB, 300 in about 1.5 minutes and
 * 1.8 GiB, 1,000 in about 20 minutes and 7.8 GiB): a shared deadline (bench-mesh.ts sets it from the
 * sizes asked for), past which the running size is killed and later sizes are skipped; and a memory
 * floor, since the machine is shared and an out-of-memory kill could hit someone else's process.
 *
 * The child is not pinned (the simulator is one thread, but Bun's garbage collector uses several),
 * so processes.ts, which pins, does not start it; it is tracked here by PID and SIGKILLed if the
 * bench exits first (processes.ts turns Ctrl-C into process.exit, which runs the hook below).
 */
import type { Subprocess } from "bun";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT } from "./servers.ts";

const SIM = join(ROOT, "scripts", "sim.ts");
/** Below this much available memory the simulator is killed: leave the shared machine room. */
const MIN_AVAILABLE_BYTES = 2 * 2 ** 30;
/** Memory and peak RSS are sampled this often. */
const SAMPLE_MS = 1_000;

let running: Subprocess | null = null;
process.on("exit", () => {
  try {
    running?.kill("SIGKILL");
  } catch {
    // Already gone.
  }
});

export interface SimRun {
  nodes: number;
  command: string;
  /** stdout as printed: the tables (empty when the run did not finish). */
  table: string;
  /** The simulator's progress lines (stderr), kept for runs that did not finish. */
  progress: string[];
  wallSeconds: number;
  /** Peak RSS of the simulator (VmHWM, bytes), from the last sample before it exited. */
  peakRssBytes: number | null;
  /** Why it has no table: killed at the deadline, for memory, or a non-zero exit; null when it finished. */
  error: string | null;
  /**
   * True when it stopped at a budget (the bench's deadline or memory floor, or sim.ts's own
   * --max-rss-gb guard) rather than failing: an expected outcome on a small machine, which the
   * report shows, not a reason to fail the bench.
   */
  cutShort: boolean;
}

export interface SimOutcome {
  sizes: number[];
  runs: SimRun[];
  /** Sizes not started because the deadline had passed. */
  skipped: number[];
}

function availableBytes(): number {
  const kib = /^MemAvailable:\s+(\d+) kB$/m.exec(readFileSync("/proc/meminfo", "utf8"))?.[1];
  return kib ? Number(kib) * 1024 : Infinity;
}

function peakRss(pid: number): number | null {
  try {
    const kib = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1];
    return kib ? Number(kib) * 1024 : null;
  } catch {
    return null; // It has exited.
  }
}

/** Reads the child's stderr line by line: each line to our stderr at once, and kept. */
async function relay(stream: ReadableStream<Uint8Array>, lines: string[]): Promise<void> {
  const decoder = new TextDecoder();
  let partial = "";
  const reader = stream.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    const text = partial + decoder.decode(value, { stream: true });
    const parts = text.split("\n");
    partial = parts.pop() ?? "";
    for (const line of parts) {
      lines.push(line);
      process.stderr.write(line + "\n");
    }
  }
  if (partial) lines.push(partial);
}

/**
 * The memory allowance for sizes above 300. sim.ts's default of 8 GiB is what a 1,000-node run
 * peaks at (7.8 GiB in one run on 2026-11-30; in the next, on the same code, it passed 8.0 GiB just
 * after the restart phase and the table was lost), so the bench, which runs on a 24 GiB machine,
 * gives it 12.
 */
const LARGE_RSS_GB = 12;

async function runOne(nodes: number, deadline: number, log: (line: string) => void): Promise<SimRun> {
  const command = `bun scripts/sim.ts --nodes ${nodes}${nodes > 300 ? ` --max-rss-gb ${LARGE_RSS_GB}` : ""}`;
  const timeoutMs = Math.max(0, deadline - performance.now());
  log(`part 3: ${command} (deadline in ${Math.round(timeoutMs / 1000)} s)`);
  const started = performance.now();
  const memory = nodes > 300 ? ["--max-rss-gb", String(LARGE_RSS_GB)] : [];
  const proc = Bun.spawn([process.execPath, SIM, "--nodes", String(nodes), ...memory], { cwd: ROOT, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  running = proc;
  const progress: string[] = [];
  let killedFor: string | null = null;
  let peakRssBytes: number | null = null;
  const kill = (why: string): void => {
    if (killedFor !== null) return;
    killedFor = why;
    proc.kill("SIGKILL");
  };
  const timer = setTimeout(() => kill(`killed at the deadline, after ${Math.round(timeoutMs / 1000)} s, before it finished`), timeoutMs);
  const sampler = setInterval(() => {
    peakRssBytes = peakRss(proc.pid) ?? peakRssBytes;
    const free = availableBytes();
    if (free < MIN_AVAILABLE_BYTES) kill(`killed because the machine had only ${(free / 2 ** 30).toFixed(1)} GiB of memory left (the machine is shared)`);
  }, SAMPLE_MS);
  try {
    const [code, table] = await Promise.all([proc.exited, new Response(proc.stdout).text(), relay(proc.stderr, progress)]);
    const wallSeconds = (performance.now() - started) / 1000;
    // sim.ts says why it stopped early on its last progress line (its own memory guard, for one).
    const stopLine = [...progress].reverse().find((l) => /stopped|failed|error/i.test(l));
    // A signal the bench did not send (killedFor is unset) came from outside: say so rather than print 128+N.
    const signalled = proc.signalCode !== null ? `killed by ${proc.signalCode} from outside the bench` : null;
    const error = killedFor ?? signalled ?? (code !== 0 ? `exited ${code}${stopLine ? `: ${stopLine.replace(/^sim: /, "")}` : ""}` : null);
    const cutShort = killedFor !== null || (signalled === null && stopLine !== undefined && /stopped: resident memory/.test(stopLine));
    log(`  ${nodes} nodes: ${error ?? "finished"} (${wallSeconds.toFixed(0)} s)`);
    return { nodes, command, table: error ? "" : table.trimEnd(), progress, wallSeconds, peakRssBytes, error, cutShort };
  } finally {
    clearTimeout(timer);
    clearInterval(sampler);
    running = null;
  }
}

/** Runs the simulator once per size, in order, all within `deadline` (a performance.now() time). */
export async function runSim(sizes: number[], deadline: number, log: (line: string) => void): Promise<SimOutcome> {
  const out: SimOutcome = { sizes, runs: [], skipped: [] };
  for (const nodes of sizes) {
    if (performance.now() >= deadline) {
      out.skipped.push(nodes);
      log(`part 3: no time left for ${nodes} nodes; skipped`);
      continue;
    }
    out.runs.push(await runOne(nodes, deadline, log));
  }
  return out;
}
