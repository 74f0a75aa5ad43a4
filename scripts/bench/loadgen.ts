/**
 * The load generator process: `bun scripts/bench/loadgen.ts '<scenario json>'`.
 *
 * It runs one scenario (types.ts for the single-node bench, mesh-types.ts for the mesh bench) and
 * prints the result as one JSON line on stdout; progress and errors go to stderr. It is the same
 * program for every system and setup under test, so any cost it has weighs on every figure alike.
 * The benches pin it to its own core.
 */
import { runClosedLoop } from "./closed-loop.ts";
import { runConnectRate } from "./connect-rate.ts";
import { runIdleConnections } from "./idle-connections.ts";
import { runLatency } from "./latency.ts";
import { runMeshFanout, runMeshHops } from "./mesh-loadgen.ts";
import type { AnyResult, AnyScenario } from "./loadgen-runner.ts";

/**
 * A run that takes this long has hung; give up rather than stall the bench. Generous: opening
 * 20,000 connections to a slow server is the longest legitimate run.
 */
const OVERRUN_MS = 240_000;

async function run(scenario: AnyScenario): Promise<AnyResult> {
  switch (scenario.kind) {
    case "closed-loop":
      return runClosedLoop(scenario);
    case "latency":
      return runLatency(scenario);
    case "idle-connections":
      return runIdleConnections(scenario);
    case "connect-rate":
      return runConnectRate(scenario);
    case "mesh-fanout":
      return runMeshFanout(scenario);
    case "mesh-hops":
      return runMeshHops(scenario);
  }
}

const arg = process.argv[2];
if (!arg) {
  process.stderr.write("usage: bun scripts/bench/loadgen.ts '<scenario json>'\n");
  process.exit(2);
}
const scenario = JSON.parse(arg) as AnyScenario;
setTimeout(() => {
  process.stderr.write(`loadgen: ${scenario.kind} did not finish in time; giving up\n`);
  process.exit(3);
}, OVERRUN_MS).unref();

try {
  const result = await run(scenario);
  process.stdout.write(JSON.stringify(result) + "\n");
  // Exit at once: the sockets are closed, and waiting for every FIN would only add time.
  process.exit(0);
} catch (err) {
  process.stderr.write(`loadgen: ${scenario.kind} failed: ${(err as Error).stack ?? err}\n`);
  process.exit(1);
}
