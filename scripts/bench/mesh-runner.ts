/**
 * Runs the mesh load generator (mesh-loadgen.ts) as its own process pinned to the generator's core,
 * hands it a scenario and reads back its JSON result, as loadgen-runner.ts does for the single-node
 * bench. Its stderr goes straight to ours, so its progress and failures show while the bench runs.
 */
import { join } from "node:path";
import { CORES } from "./plan.ts";
import { spawnPinned, stop } from "./processes.ts";
import type { MeshResult, MeshScenario } from "./mesh-types.ts";

const LOADGEN = join(import.meta.dir, "mesh-loadgen.ts");

/** Runs one scenario; throws if the generator fails or exceeds `timeoutMs`. */
export async function runMeshLoadgen(scenario: MeshScenario, timeoutMs: number): Promise<MeshResult> {
  const proc = spawnPinned([process.execPath, LOADGEN, JSON.stringify(scenario)], { core: CORES.generator, stdout: "pipe", stderr: 2 });
  const timer = setTimeout(() => void stop(proc, 500), timeoutMs);
  try {
    const [code, out] = await Promise.all([proc.exited, new Response(proc.stdout as ReadableStream).text()]);
    if (code !== 0) throw new Error(`mesh load generator exited ${code} (scenario ${scenario.kind})`);
    const line = out.trim().split("\n").pop();
    if (!line) throw new Error(`mesh load generator printed no result (scenario ${scenario.kind})`);
    return JSON.parse(line) as MeshResult;
  } finally {
    clearTimeout(timer);
  }
}
