/**
 * Other load on our cores. The bench machine is shared (other sessions run tests and type checks
 * on it), and on 2 cores any other process lands on the server's or the generator's core: a run
 * that shares its cores measures the neighbour as much as the server. This module tells how much
 * of each core was someone else's, and waits for the machine to be quiet before a run.
 */
import { CORES } from "./plan.ts";
import { coreTimes } from "./procfs.ts";
import { TASKSET } from "./processes.ts";
import type { WindowStats } from "./types.ts";

/** Another process's share of one of our cores above this disturbs a run. */
export const DISTURBED = 0.1;

/** How much of our cores was not ours over a window, the worst core first. */
export interface OtherLoad {
  /** The largest share of one core taken by other processes or by the hypervisor (steal). */
  worst: number;
  /** Readable account, e.g. "other processes took 35% of core 0 (the server's)"; empty when none. */
  text: string;
}

/** Other load on the server's and the generator's cores during a measured window. */
export function otherLoad(w: WindowStats): OtherLoad {
  // Unpinned, our processes move between cores and the split below means nothing.
  if (!TASKSET) return { worst: 0, text: "" };
  const ours = { server: w.serverCpuSeconds / w.wallSeconds, generator: w.generatorCpuSeconds / w.wallSeconds };
  let worst = 0;
  const notes: string[] = [];
  for (const who of ["server", "generator"] as const) {
    const core = CORES[who];
    const c = w.cores[core];
    if (!c) continue;
    const other = Math.max(0, c.processes - ours[who]);
    worst = Math.max(worst, other, c.steal);
    if (other > DISTURBED / 2) notes.push(`other processes took ${(other * 100).toFixed(0)}% of core ${core} (the ${who}'s)`);
    if (c.steal > DISTURBED / 2) notes.push(`the hypervisor stole ${(c.steal * 100).toFixed(0)}% of core ${core}`);
  }
  return { worst, text: notes.join("; ") };
}

/** How long to sample the cores when checking that the machine is quiet. */
const QUIET_SAMPLE_MS = 500;

/**
 * Waits until both our cores are nearly idle (nothing else is running) over a short sample, for at
 * most `maxWaitMs`; then the run goes ahead anyway and its own check flags it. Returns how long it
 * waited, so the caller can say so.
 */
export async function waitForQuiet(maxWaitMs: number): Promise<{ waitedMs: number; quiet: boolean }> {
  const started = performance.now();
  for (;;) {
    const before = coreTimes();
    await Bun.sleep(QUIET_SAMPLE_MS);
    const after = coreTimes();
    const busiest = Math.max(
      ...[CORES.server, CORES.generator].map((core) => {
        const a = after[core];
        const b = before[core];
        if (!a || !b || a.total <= b.total) return 0;
        return (a.processes - b.processes + (a.steal - b.steal)) / (a.total - b.total);
      }),
    );
    const waitedMs = performance.now() - started;
    if (busiest < DISTURBED) return { waitedMs, quiet: true };
    if (waitedMs >= maxWaitMs) return { waitedMs, quiet: false };
  }
}
