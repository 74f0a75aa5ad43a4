/**
 * The contract between the mesh bench orchestrator (scripts/bench-mesh.ts) and the load generator
 * process (scripts/bench/loadgen.ts, which hands these to mesh-loadgen.ts): a scenario goes in as
 * JSON on the command line, a result comes back as one JSON line on stdout. One file, so both sides
 * agree on every field.
 *
 * Unlike the single-node scenarios (types.ts), a mesh scenario names several ports (publisher and
 * subscribers sit on different nodes) and several server PIDs (every node's CPU counts).
 */
import type { CodecName } from "./codecs/index.ts";
import type { ErrorTally, WindowStats } from "./types.ts";

/** The nodes whose CPU the window samples, in the order the result reports them. */
interface Servers {
  /** The protocol codec: "relay-acked" for the mesh bench (its probes wait for acks), another system's for the comparison. */
  codec: CodecName;
  /** PIDs of every server process taking part (one for a single node, one per node of a mesh or cluster). */
  serverPids: number[];
  /** Longest wait for the subscribers' interest to reach the publisher's node. */
  propagationTimeoutMs: number;
}

/**
 * Closed-loop fan-out: one publisher on `pubPort`, `subscribers` connections on `subPort`, one
 * channel. A publish is in flight until its ack AND all its deliveries are back (as in
 * closed-loop.ts), so the figure is delivered throughput, never buffering.
 */
export interface MeshFanoutScenario extends Servers {
  kind: "mesh-fanout";
  pubPort: number;
  subPort: number;
  subscribers: number;
  /** Bytes of the payload's JSON text. */
  payloadBytes: number;
  window: number;
  warmupMs: number;
  durationMs: number;
}

/**
 * Open-loop latency at a paced rate to one subscriber per entry of `subPorts`, publisher on
 * `pubPort`; each payload carries its send time, so latency is receive time minus send time on one
 * clock (every client lives in the generator process).
 */
export interface MeshHopsScenario extends Servers {
  kind: "mesh-hops";
  pubPort: number;
  /** One subscriber per port; index i is the node i hops from the publisher's. */
  subPorts: number[];
  ratePerSecond: number;
  payloadBytes: number;
  warmupMs: number;
  durationMs: number;
}

export type MeshScenario = MeshFanoutScenario | MeshHopsScenario;

/** A measured window (wall time, generator CPU, the summed CPU of every node, per-core shares) plus each node's own CPU. */
export interface MeshWindow extends WindowStats {
  /** CPU-seconds of each node over the window, in the order of `serverPids`. */
  perServerCpuSeconds: number[];
}

export interface MeshFanoutResult {
  kind: "mesh-fanout";
  window: MeshWindow;
  /** Time from the first probe publish until every subscriber had received one: interest reaching the publisher's node. */
  propagationMs: number;
  /** Probes published before every subscriber had one (those before the interest arrived are dropped by design). */
  probes: number;
  /** msg frames received by all subscribers inside the window. */
  deliveries: number;
  acks: number;
  /** After the loop stopped and drained: publishes sent x subscribers minus deliveries (0 = nothing lost). */
  missing: number;
  errors: ErrorTally;
  closes: number;
}

/** Latency at one subscriber. */
export interface HopLatency {
  /** Hops from the publisher's node (the index in subPorts). */
  hops: number;
  received: number;
  expected: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  p999Ms: number;
  maxMs: number;
}

export interface MeshHopsResult {
  kind: "mesh-hops";
  window: MeshWindow;
  propagationMs: number;
  probes: number;
  /** Publishes sent inside the measured window. */
  published: number;
  perHop: HopLatency[];
  errors: ErrorTally;
  closes: number;
}

export type MeshResult = MeshFanoutResult | MeshHopsResult;
