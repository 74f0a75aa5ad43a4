/**
 * The contract between the bench orchestrator (scripts/bench.ts) and the load generator process
 * (scripts/bench/loadgen.ts): a scenario goes in as JSON on the command line, a result comes back
 * as JSON on stdout. Kept in one file so both sides agree on every field.
 */

/** Where the server under test listens, and which process to sample for CPU and memory. */
interface Target {
  port: number;
  serverPid: number;
}

/**
 * Closed-loop throughput: one publisher keeps at most `window` publishes in flight, where a publish
 * is in flight until its ack AND all its deliveries have come back. Bounding on deliveries (not only
 * on acks) keeps the server's send buffers short, so neither server ever meets its backpressure
 * limit and the figure is a steady state, not a burst into buffers.
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

/** Memory: RSS of the idle server, then with many idle subscribed connections. */
export interface IdleScenario extends Target {
  kind: "idle-connections";
  connections: number;
  channels: number;
  /** Connections opened at once; batches keep the accept queue from overflowing. */
  batch: number;
  /** Wait before the first RSS reading, so the freshly started server has settled. */
  settleMs: number;
  /** Quiet time after the last connection before sampling, and the length of the idle-CPU window. */
  idleMs: number;
}

export type Scenario = ClosedLoopScenario | LatencyScenario | IdleScenario;

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

export interface IdleResult {
  kind: "idle-connections";
  idle: Memory;
  loaded: Memory;
  connections: number;
  /** How long opening and subscribing every connection took. */
  setupSeconds: number;
  /** CPU while the connections sit idle (timers, sweeps, pings). */
  idleWindow: WindowStats;
  errors: ErrorTally;
  closes: number;
}

export type LoadgenResult = ClosedLoopResult | LatencyResult | IdleResult;
