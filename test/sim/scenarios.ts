/**
 * The simulation scenarios, shared by the test (test/sim/mesh.sim.test.ts, which asserts on them)
 * and scripts/sim.ts (which prints them as a table): join, settle, subscribe and publish, crash
 * 10%, partition in halves and heal, restart the crashed. Each phase returns its figures; every
 * time bound is derived from the core's timing constants, and reported beside the measurement.
 */

import { DETECT_EVERY_MS, DIAL_BACKOFF_MAX_MS, GOSSIP_BATCH_MS, LINK_DEAD_MS, MAX_PROBES_IN_FLIGHT, MIN_LINKS, OVERLAY_EVERY_MS, PUSH_PULL_MS, SWAP_EVERY_MS, TICK_MS, suspicionTimeoutMs } from "../../src/mesh/constants.ts";
import { DEAD, type DeliveryReport, type Overhead, SUSPECT_OR_DEAD, checkDeliveries, overhead, waitForDetection, waitForMembership, waitForStableOverlay, watchOverlay } from "./measure.ts";
import { regionRtt, REGIONS } from "./network.ts";
import { type Random, derive, sample, shuffled } from "./random.ts";
import { Simulator, type SimOptions } from "./simulator.ts";

/** The channel every scenario publishes on. */
export const CHANNEL = "sim/news";

/** Largest one-way latency in the matrix (ms): the slowest single hop. */
const MAX_ONE_WAY_MS = Math.max(...REGIONS.flatMap((_, i) => REGIONS.map((__, j) => regionRtt(i, j)))) / 2;

/**
 * Hops a flood may need to cross the overlay: the depth of a tree where every node has at least
 * MIN_LINKS links (fan-out MIN_LINKS - 1), so log2(N) for MIN_LINKS = 3. A real overlay with ~6
 * links per node has a far smaller diameter; this is an upper bound, not an estimate.
 */
export function floodHops(nodes: number): number {
  return Math.max(1, Math.ceil(Math.log(nodes) / Math.log(MIN_LINKS - 1)));
}

/** Time for a flood to reach every node: each hop costs at most the slowest link, a batch wait and a tick. */
export function floodMs(nodes: number): number {
  return floodHops(nodes) * (MAX_ONE_WAY_MS + GOSSIP_BATCH_MS + TICK_MS);
}

/** The time bounds the scenarios assert, each from the constants (printed beside the figures). */
export interface Bounds {
  /** Full membership: anything a flood missed is repaired by one push-pull round; plus a flood and the first dials. */
  membershipMs: number;
  /**
   * Every live node marks a crashed node suspect: its links fall silent for LINK_DEAD_MS (+ a tick
   * to notice), the withdrawn links flood out, and the detector waits LINK_DEAD_MS more while no
   * live node reports a link to it (+ DETECT_EVERY_MS, how often the detector runs).
   */
  suspectMs: number;
  /** ... and dead: suspect, then suspicionTimeoutMs(N) (+ DETECT_EVERY_MS). */
  deadMs: number;
  /** Interest changes are batched for GOSSIP_BATCH_MS, then flood. */
  interestMs: number;
  /** A message needs at most one flood time to reach everyone; twice that before counting it missing. */
  drainMs: number;
  /**
   * After a heal, the sides must merge: dials across the cut failed during the partition, so the
   * first retry may wait a full backoff (DIAL_BACKOFF_MAX_MS); then a push-pull round and two floods.
   */
  healMs: number;
  /**
   * The overlay stops changing within this long of the start: every member must be probed, at most
   * MAX_PROBES_IN_FLIGHT per OVERLAY_EVERY_MS round, then a node swaps at most once per
   * SWAP_EVERY_MS for the last improvements; 30 s of slack.
   */
  settleMs: number;
  /** ... and within this long after a crash, partition or heal (repairs, not a full probe round). */
  resettleMs: number;
}

export function bounds(nodes: number): Bounds {
  const flood = floodMs(nodes);
  const suspectMs = LINK_DEAD_MS + TICK_MS + flood + LINK_DEAD_MS + DETECT_EVERY_MS;
  return {
    membershipMs: PUSH_PULL_MS + 2 * flood,
    suspectMs,
    deadMs: suspectMs + suspicionTimeoutMs(nodes) + DETECT_EVERY_MS,
    interestMs: GOSSIP_BATCH_MS + TICK_MS + flood,
    drainMs: Math.max(5000, 2 * flood),
    healMs: DIAL_BACKOFF_MAX_MS + PUSH_PULL_MS + 2 * flood,
    settleMs: Math.ceil(nodes / MAX_PROBES_IN_FLIGHT) * OVERLAY_EVERY_MS + SWAP_EVERY_MS + 30_000,
    resettleMs: 30_000,
  };
}

/**
 * How long a phase waits before giving up: well past its bound, so a slow result is measured (and
 * shown against the bound) rather than cut off; the test asserts the bound, not this.
 */
export function patience(boundMs: number): number {
  return Math.max(2 * boundMs, boundMs + 30_000);
}

/** What a run measured; null times mean nothing happened within patience(bound). */
export interface Figures {
  nodes: number;
  seed: number;
  bounds: Bounds;
  join: { membershipMs: number | null; overhead: Overhead };
  /**
   * settledMs: the last link change, if the links then held still for a whole quiet window (null:
   * they never did); lateChanges: link changes (counted at each end) in the window right after the
   * bound, 0 for an overlay settled in time; overhead: over the last window watched (the quiet one
   * when there is one); degree.peak: the most links at one node meanwhile.
   */
  settle: { settledMs: number | null; lateChanges: number; overhead: Overhead; degree: { min: number; mean: number; max: number; peak: number } } | null;
  steady: DeliveryReport | null;
  crash: { crashed: string[]; suspectMs: number | null; deadMs: number | null; after: DeliveryReport } | null;
  partition: { sizes: [number, number]; splitMs: number | null; during: DeliveryReport; healMs: number | null; after: DeliveryReport } | null;
  restart: { rejoinMs: number | null; after: DeliveryReport } | null;
  /** Sums of every core's counters at the end. */
  core: Record<string, number>;
  anomalies: Simulator["anomalies"];
  wallMs: number;
}

export interface ScenarioOptions extends Partial<SimOptions> {
  nodes: number;
  seed: number;
  /** Fraction of nodes that subscribe to CHANNEL (default 0.3). */
  interestFraction?: number;
  /** Publishes per batch (default 200). */
  publishes?: number;
  /** Fraction of nodes crashed (default 0.1). */
  crashFraction?: number;
  /**
   * Keep waiting past a bound, up to patience(bound), to measure how late a slow result is (the
   * script, default); false stops at the bound, so a failing test fails fast.
   */
  waitPastBounds?: boolean;
  /** Progress lines (the script sends them to stderr). */
  progress?: (line: string) => void;
}

/** A run in progress: the simulator, the driver's own random stream, and the phases in order. */
export class Scenario {
  readonly sim: Simulator;
  readonly bounds: Bounds;
  private readonly random: Random;
  private readonly progress: (line: string) => void;
  /** Nodes crashed by crash(), restarted by restart(). */
  private crashed: string[] = [];
  /** Nodes that subscribed, so a restarted one subscribes again (its clients reconnect). */
  private subscribers = new Set<string>();

  constructor(readonly options: ScenarioOptions) {
    this.sim = new Simulator(options);
    this.bounds = bounds(options.nodes);
    this.random = derive(options.seed, "driver");
    this.progress = options.progress ?? (() => {});
  }

  /** How long to wait for something bounded by `boundMs`. */
  private cap(boundMs: number): number {
    return this.options.waitPastBounds === false ? boundMs : patience(boundMs);
  }

  private say(line: string): void {
    this.progress(`[${this.options.nodes} nodes, t=${(this.sim.now / 1000).toFixed(1)} s] ${line}`);
  }

  /** All nodes start together; runs until every node lists every node as alive. */
  join(): Figures["join"] {
    const before = this.sim.traffic();
    const membershipMs = waitForMembership(this.sim, TICK_MS, this.cap(this.bounds.membershipMs));
    this.say(`membership ${membershipMs === null ? "NOT reached" : `reached at ${membershipMs} ms`}`);
    return { membershipMs, overhead: overhead(before, this.sim.traffic(), this.sim.liveNodes().length) };
  }

  /**
   * Runs to the settle bound, then watches a quiet window (a push-pull period, which is at least a
   * swap period, so every node had its chance to swap) for link changes, measuring the overhead
   * there. Settled means no link changed in that window. Past the bound (the script only), more
   * windows follow until one is quiet, to measure how late the overlay settles.
   */
  settle(): NonNullable<Figures["settle"]> {
    const windowMs = Math.max(PUSH_PULL_MS, SWAP_EVERY_MS);
    const first = watchOverlay(this.sim, this.bounds.settleMs, 500);
    const before = this.sim.traffic();
    const quiet = watchOverlay(this.sim, this.sim.now + windowMs, 500);
    const oh = overhead(before, this.sim.traffic(), this.sim.liveNodes().length);
    let peak = Math.max(first.peakDegree, quiet.peakDegree);
    let last = quiet.lastChange ?? first.lastChange;
    let window = quiet;
    let windowOverhead = oh;
    while (window.changes > 0 && this.options.waitPastBounds !== false && this.sim.now < patience(this.bounds.settleMs)) {
      const start = this.sim.traffic();
      window = watchOverlay(this.sim, this.sim.now + windowMs, 500);
      windowOverhead = overhead(start, this.sim.traffic(), this.sim.liveNodes().length);
      peak = Math.max(peak, window.peakDegree);
      last = window.lastChange ?? last;
    }
    const settledMs = window.changes === 0 ? (last ?? 0) : null;
    this.say(`overlay ${settledMs === null ? "still changing" : `settled at ${settledMs} ms`}; ${quiet.changes} link changes in the ${windowMs / 1000} s after the bound; at most ${peak} links at a node`);
    const degrees = this.sim.liveNodes().map((n) => n.mesh.links().length);
    return {
      settledMs,
      lateChanges: quiet.changes,
      overhead: windowOverhead,
      degree: { min: Math.min(...degrees), mean: degrees.reduce((a, b) => a + b, 0) / degrees.length, max: Math.max(...degrees), peak },
    };
  }

  /** A random `interestFraction` of the nodes subscribe to CHANNEL; waits for the news to spread. */
  subscribe(): string[] {
    const names = this.sim.nodes.map((n) => n.name);
    const chosen = sample(this.random, names, Math.round((this.options.interestFraction ?? 0.3) * names.length)).sort();
    for (const name of chosen) {
      this.sim.interest(name, CHANNEL, true);
      this.subscribers.add(name);
    }
    this.sim.runFor(this.bounds.interestMs);
    this.say(`${chosen.length} nodes subscribed`);
    return chosen;
  }

  /**
   * Publishes `publishes` messages from random live nodes (among `origins` if given), 10 ms apart
   * so many are in flight at once, waits drainMs after the last, and checks every delivery.
   */
  publish(label: string, origins?: readonly string[]): DeliveryReport {
    const pool = origins ?? this.sim.liveNodes().map((n) => n.name);
    const count = this.options.publishes ?? 200;
    const first = this.sim.published.length;
    const start = this.sim.now;
    for (let i = 0; i < count; i++) this.sim.publish(pool[Math.floor(this.random() * pool.length)] as string, CHANNEL, start + i * 10);
    this.sim.runUntil(start + count * 10 + this.bounds.drainMs);
    const report = checkDeliveries(this.sim, this.sim.published.slice(first));
    this.say(`${label}: ${report.delivered}/${report.expected} delivered, ${report.missing} missing, ${report.duplicates} duplicates, ${report.unexpected} unexpected`);
    return report;
  }

  /** Crashes a random `crashFraction` of the nodes; waits for detection, then publishes. */
  crash(): NonNullable<Figures["crash"]> {
    const names = this.sim.liveNodes().map((n) => n.name);
    this.crashed = sample(this.random, names, Math.max(1, Math.round((this.options.crashFraction ?? 0.1) * names.length))).sort();
    for (const name of this.crashed) this.sim.crash(name);
    const t0 = this.sim.now;
    const observers = () => this.sim.liveNodes();
    const suspect = waitForDetection(this.sim, observers, this.crashed, SUSPECT_OR_DEAD, TICK_MS, this.cap(this.bounds.suspectMs));
    const dead = waitForDetection(this.sim, observers, this.crashed, DEAD, TICK_MS, this.cap(this.bounds.deadMs) - (this.sim.now - t0));
    const rel = (t: number | null) => (t === null ? null : t - t0);
    this.say(`crashed ${this.crashed.length}: all suspect after ${rel(suspect)} ms, all dead after ${rel(dead)} ms`);
    waitForStableOverlay(this.sim, 3000, 500, this.bounds.resettleMs);
    return { crashed: this.crashed, suspectMs: rel(suspect), deadMs: rel(dead), after: this.publish("after crash") };
  }

  /**
   * Splits the live nodes into two random halves; waits until each side sees the other suspect or
   * dead, publishes within the sides; heals, waits for full membership again, publishes to all.
   */
  partition(): NonNullable<Figures["partition"]> {
    const live = shuffled(this.random, this.sim.liveNodes().map((n) => n.name));
    const a = live.slice(0, Math.floor(live.length / 2)).sort();
    const b = live.slice(a.length).sort();
    this.sim.partition(a, b);
    const t0 = this.sim.now;
    const side = (names: string[]) => () => names.map((n) => this.sim.node(n)).filter((n) => n.up);
    const splitA = waitForDetection(this.sim, side(a), b, SUSPECT_OR_DEAD, TICK_MS, this.cap(this.bounds.suspectMs));
    const splitB = waitForDetection(this.sim, side(b), a, SUSPECT_OR_DEAD, TICK_MS, this.cap(this.bounds.suspectMs) - (this.sim.now - t0));
    const splitMs = splitA === null || splitB === null ? null : Math.max(splitA, splitB) - t0;
    this.say(`partitioned ${a.length}/${b.length}: sides apart after ${splitMs} ms`);
    waitForStableOverlay(this.sim, 3000, 500, this.bounds.resettleMs);
    const during = this.publish("during partition");
    this.sim.heal();
    const t1 = this.sim.now;
    const merged = waitForMembership(this.sim, TICK_MS, this.cap(this.bounds.healMs));
    const healMs = merged === null ? null : merged - t1;
    this.say(`healed: ${healMs === null ? "membership NOT merged" : `membership merged after ${healMs} ms`}`);
    waitForStableOverlay(this.sim, 3000, 500, this.bounds.resettleMs);
    return { sizes: [a.length, b.length], splitMs, during, healMs, after: this.publish("after heal") };
  }

  /** Restarts the crashed nodes as new incarnations; their subscribers come back at once. */
  restart(): NonNullable<Figures["restart"]> {
    for (const name of this.crashed) this.sim.restart(name);
    for (const name of this.crashed) if (this.subscribers.has(name)) this.sim.interest(name, CHANNEL, true);
    const t0 = this.sim.now;
    const back = waitForMembership(this.sim, TICK_MS, this.cap(this.bounds.membershipMs));
    const rejoinMs = back === null ? null : back - t0;
    this.say(`restarted ${this.crashed.length}: ${rejoinMs === null ? "NOT all back" : `all alive again after ${rejoinMs} ms`}`);
    waitForStableOverlay(this.sim, 3000, 500, this.bounds.resettleMs);
    this.sim.runFor(this.bounds.interestMs);
    return { rejoinMs, after: this.publish("after restart") };
  }

  /** Every core's counters, summed over live nodes. */
  coreStats(): Record<string, number> {
    const sum: Record<string, number> = {};
    for (const n of this.sim.liveNodes()) for (const [k, v] of Object.entries(n.mesh.stats())) if (typeof v === "number") sum[k] = (sum[k] ?? 0) + v;
    return sum;
  }
}

/** The phases after join, in the order they run; each needs the ones before it only loosely. */
export const PHASES = ["settle", "steady", "crash", "partition", "restart"] as const;
export type Phase = (typeof PHASES)[number];

/**
 * Runs join and then the chosen phases (all by default) in order, and returns the figures.
 * Publishing phases subscribe first if "steady" did not run.
 */
export function runAll(options: ScenarioOptions & { phases?: readonly Phase[] }): Figures {
  const wall = performance.now();
  const want = new Set<Phase>(options.phases ?? PHASES);
  const s = new Scenario(options);
  const join = s.join();
  const settle = want.has("settle") ? s.settle() : null;
  let subscribed = false;
  const subscribeOnce = () => {
    if (!subscribed) s.subscribe();
    subscribed = true;
  };
  const needsSubscribers = <T>(phase: Phase, run: () => T): T | null => {
    if (!want.has(phase)) return null;
    subscribeOnce();
    return run();
  };
  const steady = needsSubscribers("steady", () => s.publish("steady state"));
  const crash = needsSubscribers("crash", () => s.crash());
  const partition = needsSubscribers("partition", () => s.partition());
  const restart = want.has("crash") ? needsSubscribers("restart", () => s.restart()) : null;
  return { nodes: options.nodes, seed: options.seed, bounds: s.bounds, join, settle, steady, crash, partition, restart, core: s.coreStats(), anomalies: s.sim.anomalies, wallMs: performance.now() - wall };
}
