/**
 * Runs the load generator (scripts/bench/loadgen.ts) as its own process pinned to the generator's
 * core, hands it a scenario and reads back its JSON result. Its stderr goes straight to ours, so its
 * progress and failures show while the bench runs. Both benches use it: scripts/bench.ts with the
 * single-node scenarios, mesh-chain.ts with the mesh ones.
 */
import { join } from "node:path";
import type { MeshResult, MeshScenario } from "./mesh-types.ts";
import { CORES } from "./plan.ts";
import { spawnPinned, stop } from "./processes.ts";
import type { LoadgenResult, Scenario } from "./types.ts";

const LOADGEN = join(import.meta.dir, "loadgen.ts");

export type AnyScenario = Scenario | MeshScenario;
export type AnyResult = LoadgenResult | MeshResult;
/** Every scenario's result has the scenario's kind. */
export type ResultOf<S extends AnyScenario> = Extract<AnyResult, { kind: S["kind"] }>;

/** Runs one scenario; throws if the generator fails or exceeds `timeoutMs`. */
export async function runLoadgen<S extends AnyScenario>(scenario: S, timeoutMs: number): Promise<ResultOf<S>> {
  const proc = spawnPinned([process.execPath, LOADGEN, JSON.stringify(scenario)], { core: CORES.generator, stdout: "pipe", stderr: 2 });
  const timer = setTimeout(() => void stop(proc, 500), timeoutMs);
  try {
    const [code, out] = await Promise.all([proc.exited, new Response(proc.stdout as ReadableStream).text()]);
    if (code !== 0) throw new Error(`load generator exited ${code} (scenario ${scenario.kind})`);
    const line = out.trim().split("\n").pop();
    if (!line) throw new Error(`load generator printed no result (scenario ${scenario.kind})`);
    return JSON.parse(line) as ResultOf<S>;
  } finally {
    clearTimeout(timer);
  }
}
