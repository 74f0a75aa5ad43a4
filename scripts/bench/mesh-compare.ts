/**
 * The mesh scenarios of the comparison: a Relay mesh against a NATS cluster of the same size, all
 * nodes on 127.0.0.1 and pinned to the server core (so both get one core in all, as the single-node
 * systems do), the generator on the other.
 *   - 3 nodes, fan-out: publisher on node A, 100 subscribers on node C, closed loop (delivered msg/s);
 *   - 3 nodes, latency: 1,000 msg/s published on A, one subscriber on each of A, B and C;
 *   - 5 nodes, latency: the same with a subscriber on each of the five.
 * The Relay mesh is forced into a chain (relay-chain.ts), so C is two hops from A and the fifth node
 * four. A NATS cluster is a full mesh of routes by design: every node is one route from A. Both are
 * each system's own way to span nodes, and the report says so beside the figures.
 */
import { counted, type Budget } from "./attempts.ts";
import { runLoadgen } from "./loadgen-runner.ts";
import { BENCH_CLUSTER_KEY } from "./mesh-chain.ts";
import { stopNodes, type BenchNode } from "./mesh-nodes.ts";
import type { MeshFanoutResult, MeshFanoutScenario, MeshHopsResult, MeshHopsScenario } from "./mesh-types.ts";
import { startNatsCluster, type NatsNode } from "./nats-cluster.ts";
import { CORES } from "./plan.ts";
import { startRelayChain, waitForChainOf } from "./relay-chain.ts";
import { meshFanoutRun, meshHopsRun } from "./sections.ts";
import type { Run, SystemRef } from "./summary.ts";

export type MeshKey = "relay-mesh" | "nats-cluster";

export interface MeshPlan {
  fanout: { subscribers: number; payloadBytes: number; window: number; warmupMs: number; durationMs: number };
  hops: { ratePerSecond: number; payloadBytes: number; warmupMs: number; durationMs: number };
  reps: number;
  repeatWhenDisturbed: boolean;
  /** Longest wait for the subscribers' interest to reach the publisher's node. */
  propagationTimeoutMs: number;
  /** The Relay chain must hold this long before anything is measured. */
  chainStableMs: number;
  chainTimeoutMs: number;
}

export function meshPlan(quick: boolean): MeshPlan {
  return {
    // Window 256 as in the mesh bench (mesh-chain.ts says why): at 64 no core saturates on a chain.
    fanout: { subscribers: 100, payloadBytes: 64, window: 256, warmupMs: quick ? 500 : 1500, durationMs: quick ? 1500 : 5000 },
    hops: { ratePerSecond: 1000, payloadBytes: 64, warmupMs: quick ? 500 : 1000, durationMs: quick ? 1500 : 5000 },
    reps: quick ? 1 : 3,
    repeatWhenDisturbed: !quick,
    propagationTimeoutMs: 15_000,
    chainStableMs: quick ? 1_000 : 2_000,
    chainTimeoutMs: 30_000,
  };
}

export const NODE_NAMES = ["A", "B", "C", "D", "E"] as const;
/** Runs in one mesh section. */
export const MESH_RUNS_PER_REP = { three: 4, five: 2 };

export interface MeshOutcome {
  systems: SystemRef[];
  fanout3: Run[];
  hops3: Run[];
  hops5: Run[];
  /** Links a message crosses from the first node to the last, per system and size. */
  hopsToLast: Record<MeshKey, { three: number; five: number }>;
  /** What went wrong, if anything (the figures gathered so far are kept). */
  errors: string[];
}

interface Endpoint {
  key: MeshKey;
  ports: number[];
  pids: number[];
}

type Log = (line: string) => void;

/**
 * Runs every mesh scenario. `natsBinary` is null when nats-server could not be installed
 * (`natsSkip` says why); the Relay side still runs. `step` announces each run for the progress line.
 */
export async function runMeshComparison(
  plan: MeshPlan,
  natsBinary: string | null,
  natsSkip: string | null,
  budget: Budget,
  log: Log,
  step: (what: string) => void,
): Promise<MeshOutcome> {
  const out: MeshOutcome = {
    systems: [
      { key: "relay-mesh", label: "Relay mesh", skipped: null },
      { key: "nats-cluster", label: "NATS cluster", skipped: natsBinary ? null : natsSkip },
    ],
    fanout3: [],
    hops3: [],
    hops5: [],
    hopsToLast: { "relay-mesh": { three: 2, five: 4 }, "nats-cluster": { three: 1, five: 1 } },
    errors: [],
  };
  for (const size of [3, 5] as const) {
    const relayNodes: BenchNode[] = [];
    const natsNodes: NatsNode[] = [];
    const names = NODE_NAMES.slice(0, size);
    try {
      const endpoints: Endpoint[] = [];
      log(`mesh, ${size} nodes: starting a Relay chain ${names.join("-")} and a NATS cluster (all pinned to core ${CORES.server})`);
      try {
        const chain = await startRelayChain(names.map((n) => `relay${size}-${n.toLowerCase()}`), BENCH_CLUSTER_KEY, CORES.server, relayNodes);
        const { check, formed } = await waitForChainOf(chain, plan.chainStableMs, plan.chainTimeoutMs);
        if (!formed) throw new Error(`the Relay overlay did not hold the chain within ${plan.chainTimeoutMs / 1000} s: ${check.seen.join("; ")}; peers ${check.peers}`);
        log(`  Relay chain verified: ${check.seen.join("; ")}`);
        endpoints.push({ key: "relay-mesh", ports: chain.map((n) => n.port), pids: chain.map((n) => n.pid) });
      } catch (err) {
        out.errors.push(`Relay mesh, ${size} nodes: ${(err as Error).message}`);
        log(`  Relay mesh failed: ${(err as Error).message}`);
      }
      if (natsBinary) {
        try {
          const cluster = await startNatsCluster(natsBinary, names.map((n) => `nats${size}-${n.toLowerCase()}`), CORES.server, natsNodes);
          log(`  NATS cluster formed: ${size} nodes, each with routes to the ${size - 1} others`);
          endpoints.push({ key: "nats-cluster", ports: cluster.map((n) => n.port), pids: cluster.map((n) => n.pid) });
        } catch (err) {
          out.errors.push(`NATS cluster, ${size} nodes: ${(err as Error).message}`);
          log(`  NATS cluster failed: ${(err as Error).message}`);
        }
      }
      const codec = (key: MeshKey) => (key === "relay-mesh" ? ("relay" as const) : ("nats" as const));
      const label = (key: MeshKey) => (key === "relay-mesh" ? "Relay mesh" : "NATS cluster");
      const opts = { budget, repeatWhenDisturbed: plan.repeatWhenDisturbed, log };

      if (size === 3) {
        for (let rep = 1; rep <= plan.reps; rep++) {
          for (const e of endpoints) {
            step(`mesh fan-out, 3 nodes: ${label(e.key)}, run ${rep} of ${plan.reps}`);
            const scenario: MeshFanoutScenario = {
              kind: "mesh-fanout",
              codec: codec(e.key),
              ...plan.fanout,
              pubPort: e.ports[0]!,
              subPort: e.ports[2]!,
              serverPids: e.pids,
              propagationTimeoutMs: plan.propagationTimeoutMs,
            };
            const body = (r: MeshFanoutResult) => meshFanoutRun(r, names);
            const attempts = await counted(() => runLoadgen(scenario, plan.fanout.warmupMs + plan.fanout.durationMs + 60_000), {
              ...opts,
              windowOf: (r) => r.window,
              brief: (r) => body(r).line,
            }).catch((err: Error) => (out.errors.push(`${label(e.key)} fan-out run ${rep}: ${err.message}`), []));
            for (const a of attempts) out.fanout3.push({ system: e.key, rep, ...body(a.result), discarded: a.discarded });
          }
        }
      }
      for (let rep = 1; rep <= plan.reps; rep++) {
        for (const e of endpoints) {
          step(`mesh latency, ${size} nodes: ${label(e.key)}, run ${rep} of ${plan.reps}`);
          const scenario: MeshHopsScenario = {
            kind: "mesh-hops",
            codec: codec(e.key),
            ...plan.hops,
            pubPort: e.ports[0]!,
            subPorts: e.ports,
            serverPids: e.pids,
            propagationTimeoutMs: plan.propagationTimeoutMs,
          };
          const hops = size === 3 ? out.hopsToLast[e.key].three : out.hopsToLast[e.key].five;
          const body = (r: MeshHopsResult) => meshHopsRun(r, names, hops);
          const attempts = await counted(() => runLoadgen(scenario, plan.hops.warmupMs + plan.hops.durationMs + 60_000), {
            ...opts,
            windowOf: (r) => r.window,
            brief: (r) => body(r).line,
          }).catch((err: Error) => (out.errors.push(`${label(e.key)} latency (${size} nodes) run ${rep}: ${err.message}`), []));
          for (const a of attempts) (size === 3 ? out.hops3 : out.hops5).push({ system: e.key, rep, ...body(a.result), discarded: a.discarded });
        }
      }
      if (relayNodes.length === size) {
        const { check, formed } = await waitForChainOf(relayNodes, 0, 0);
        if (!formed) out.errors.push(`the Relay chain changed during the ${size}-node runs: ${check.seen.join("; ")}`);
      }
    } finally {
      await stopNodes(relayNodes);
      await Promise.all(natsNodes.map((n) => n.stop()));
    }
  }
  return out;
}
