/**
 * One counted run, whatever is measured: wait for quiet cores, run, and repeat the run (within a
 * shared budget) when it failed outright or when other processes took more than DISTURBED of the
 * server's or the generator's core. A disturbed attempt is kept, marked discarded, for the report.
 */
import { DISTURBED, otherLoad, waitForQuiet } from "./interference.ts";
import type { WindowStats } from "./types.ts";

/** Attempts per run at most. */
const MAX_ATTEMPTS = 3;
/** Longest wait for quiet cores before one run. */
const QUIET_WAIT_MS = 5_000;

/** What a busy machine may add to the bench, in all: repeats of runs, and time spent waiting for quiet cores. */
export interface Budget {
  repeats: number;
  waitMs: number;
}

export interface Attempt<T> {
  result: T;
  /** Why this attempt was thrown away and repeated, or null when it counts. */
  discarded: string | null;
}

export interface AttemptOptions<T> {
  budget: Budget;
  /** Repeat a disturbed attempt (not for memory, and not in --quick). */
  repeatWhenDisturbed: boolean;
  windowOf: (result: T) => WindowStats;
  brief: (result: T) => string;
  log: (line: string) => void;
}

/** Runs `attempt` until one counts; throws the last failure when no attempt or budget is left. */
export async function counted<T>(attempt: () => Promise<T>, o: AttemptOptions<T>): Promise<Attempt<T>[]> {
  const out: Attempt<T>[] = [];
  for (let n = 1; ; n++) {
    const quiet = await waitForQuiet(Math.min(QUIET_WAIT_MS, o.budget.waitMs));
    o.budget.waitMs = Math.max(0, o.budget.waitMs - quiet.waitedMs);
    if (quiet.waitedMs > 1000) o.log(`  waited ${(quiet.waitedMs / 1000).toFixed(1)} s for other processes to leave our cores${quiet.quiet ? "" : "; they did not, running anyway"}`);
    let result: T;
    try {
      result = await attempt();
    } catch (err) {
      if (n >= MAX_ATTEMPTS || o.budget.repeats <= 0) throw err;
      o.budget.repeats--;
      o.log(`  failed: ${(err as Error).message.split("\n")[0]}; repeating (attempt ${n + 1} of ${MAX_ATTEMPTS}, ${o.budget.repeats} repeats left)`);
      continue;
    }
    const other = otherLoad(o.windowOf(result));
    const repeat = o.repeatWhenDisturbed && other.worst > DISTURBED && n < MAX_ATTEMPTS && o.budget.repeats > 0;
    o.log(`  ${o.brief(result)}${other.text ? ` [${other.text}]` : ""}`);
    out.push({ result, discarded: repeat ? other.text : null });
    if (!repeat) return out;
    o.budget.repeats--;
    o.log(`  disturbed by other processes; repeating (attempt ${n + 1} of ${MAX_ATTEMPTS}, ${o.budget.repeats} repeats left)`);
  }
}
