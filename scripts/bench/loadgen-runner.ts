/**
 * Runs the load generator (scripts/bench/loadgen.ts) as its own process pinned to core 1, hands it
 * a scenario and reads back its JSON result. Its stderr goes straight to ours, so its progress and
 * failures show while the bench runs.
 */
import { join } from "node:path";
import { CORES } from "./plan.ts";
import { spawnPinned, stop } from "./processes.ts";
import type { LoadgenResult, Scenario } from "./types.ts";

const LOADGEN = join(import.meta.dir, "loadgen.ts");

/** Runs one scenario; throws if the generator fails or exceeds `timeoutMs`. */
export async function runLoadgen(scenario: Scenario, timeoutMs: number): Promise<LoadgenResult> {
  const proc = spawnPinned([process.execPath, LOADGEN, JSON.stringify(scenario)], { core: CORES.generator, stdout: "pipe", stderr: 2 });
  const timer = setTimeout(() => void stop(proc, 500), timeoutMs);
  try {
    const [code, out] = await Promise.all([proc.exited, new Response(proc.stdout as ReadableStream).text()]);
    if (code !== 0) throw new Error(`load generator exited ${code} (scenario ${scenario.kind})`);
    const line = out.trim().split("\n").pop();
    if (!line) throw new Error(`load generator printed no result (scenario ${scenario.kind})`);
    return JSON.parse(line) as LoadgenResult;
  } finally {
    clearTimeout(timer);
  }
}
