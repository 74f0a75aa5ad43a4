/**
 * The contract between the bench orchestrator (scripts/bench.ts) and the load generator process
 * (scripts/bench/loadgen.ts): a scenario goes in as JSON on the command line, a result comes back
 * as JSON on stdout. Kept in one file so both sides agree on every field.
 */

import type { CodecName } from "./codecs/index.ts";

/** Where the server under test listens, which process to sample for CPU and memory, and how to speak to it. */
interface Target {
  port: number;
  serverPid: number;
  /** The protocol codec (codecs/index.ts) for this system. */
  codec: CodecName;
}

/**
 * Closed-loop throughput: one publisher keeps at most `window` publishes in flight, where a publish
 * is in flight until all its deliveries (and, for codecs with acks, its ack) have come back.
 * Bounding on deliveries keeps the server's send buffers short, so no server ever meets its
 * backpressure limit and the figure is a steady state, not a burst into buffers.
 */
export interface ClosedLoopScenario extends Target {
  kind: "closed-loop";
  /** Subscriber connections; subscriber i joins channel i % channels, so every channel has the same fan-out. */
  subscribers: number;
  channels: number;
  /** Bytes of the payload's JSON text (what Relay's --max-payload counts). */
  payloadBytes: number;
  window: number;
  warmupMs: number;
  durationMs: number;
}

/** Open-loop latency: publishes paced at a fixed rate, each payload carrying its send time. */
export interface LatencyScenario extends Target {
  kind: "latency";
  subscribers: number;
  ratePerSecond: number;
  payloadBytes: number;
  warmupMs: number;
  durationMs: number;
}

/**
 * Memory: RSS of the idle server, then with many idle subscribed connections, read at each step of
 * `steps` (cumulative counts: [5000, 20000] reads at 5,000 and again after 15,000 more).
 */
export interface IdleScenario extends Target {
  kind: "idle-connections";
  steps: number[];
  channels: number;
  /** Connections opened at once; batches keep the accept queue from overflowing. */
  batch: number;
  /** Wait before the first RSS reading, so the freshly started server has settled. */
  settleMs: number;
  /** Quiet time after the last connection before sampling, and the length of the idle-CPU window. */
  idleMs: number;
}

/**
 * Connection rate: `connections` connections, `concurrency` in progress at any moment, each counted
 * once its protocol handshake is done (upgrade plus welcome, CONNECT/PONG, CONNACK or the Socket.IO
 * connect). They stay open until the end, so the server accepts into a growing table.
 */
export interface ConnectRateScenario extends Target {
  kind: "connect-rate";
  connections: number;
  concurrency: number;
  settleMs: number;
}

export type Scenario = ClosedLoopScenario | LatencyScenario | IdleScenario | ConnectRateScenario;

/** CPU and wall time over one measured window. Generator CPU includes all its threads (getrusage). */
export interface WindowStats {
  wallSeconds: number;
  generatorCpuSeconds: number;
  serverCpuSeconds: number;
  /**
   * How each core's time was used over the window (index = core number), as shares of it.
   * `processes` minus our own process's share is someone else's load on that core.
   */
  cores: CoreShare[];
}

/** One core's time over a window, as shares of the window (see procfs.ts CoreTime). */
export interface CoreShare {
  processes: number;
  irq: number;
  steal: number;
}

/** Error frames the server sent: any at all means the figure is suspect, so they are reported. */
export interface ErrorTally {
  count: number;
  /** The first error frame's text, to tell why. */
  first: string | null;
}

export interface ClosedLoopResult {
  kind: "closed-loop";
  window: WindowStats;
  /** msg frames received by all subscribers inside the window. */
  deliveries: number;
  /** Publishes acknowledged inside the window. */
  acks: number;
  /** Deliveries still missing after the loop stopped and drained: messages the server dropped. */
  missing: number;
  errors: ErrorTally;
  /** Connections the server closed during the run (a slow-consumer cut would show here). */
  closes: number;
}

export interface LatencyResult {
  kind: "latency";
  window: WindowStats;
  /** Publishes sent inside the measured window. */
  published: number;
  /** Deliveries of those publishes that arrived; should equal published x subscribers. */
  received: number;
  expected: number;
  p50Ms: number;
  p99Ms: number;
  p999Ms: number;
  maxMs: number;
  errors: ErrorTally;
  closes: number;
}

/** A process's resident memory, from /proc/PID/status. */
export interface Memory {
  /** VmRSS: everything resident, including the mapped executable. */
  rssBytes: number;
  /** RssAnon: heap and other anonymous memory, the part that grows with connections. */
  rssAnonBytes: number;
}

/** The server with `connections` idle connections open. */
export interface IdleStep {
  connections: number;
  loaded: Memory;
  /** How long opening and subscribing this step's new connections took. */
  setupSeconds: number;
  /** CPU while the connections sit idle (timers, sweeps, pings). */
  idleWindow: WindowStats;
}

export interface IdleResult {
  kind: "idle-connections";
  idle: Memory;
  steps: IdleStep[];
  errors: ErrorTally;
  closes: number;
}

export interface ConnectRateResult {
  kind: "connect-rate";
  /** Opening every connection, from the first connect to the last handshake done. */
  window: WindowStats;
  connections: number;
  /** Connection attempts that failed (refused, reset, timed out); each is retried once, then counted here. */
  failed: number;
  errors: ErrorTally;
  closes: number;
}

export type LoadgenResult = ClosedLoopResult | LatencyResult | IdleResult | ConnectRateResult;
