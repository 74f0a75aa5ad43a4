/**
 * What the simulator measures: membership convergence, failure detection, overlay settling,
 * per-message delivery (exactly once, nothing to the uninterested), latency and stretch, and
 * gossip overhead. Every function reads the simulator's ground truth and the cores' public views.
 */

import type { Published, SimNode, Simulator, Traffic } from "./simulator.ts";

/** p50/p99/max of a sample (nearest rank); zeros for an empty sample. */
export interface Distribution {
  count: number;
  p50: number;
  p99: number;
  max: number;
}

export function distribution(values: readonly number[]): Distribution {
  if (values.length === 0) return { count: 0, p50: 0, p99: 0, max: 0 };
  const sorted = Float64Array.from(values).sort();
  const at = (p: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))] as number;
  return { count: sorted.length, p50: at(0.5), p99: at(0.99), max: sorted[sorted.length - 1] as number };
}

/**
 * Each live node's current incarnation, as its own core reports it: a core raises its incarnation
 * to refute a suspicion, so the simulator's boot incarnation is only a lower bound.
 */
export function liveIncarnations(sim: Simulator): Map<string, number> {
  const out = new Map<string, number>();
  for (const n of sim.liveNodes()) out.set(n.name, n.mesh.self?.incarnation ?? n.mesh.members().find((m) => m.name === n.name)?.incarnation ?? n.incarnation);
  return out;
}

/** Whether `node` lists every live node as alive with its current incarnation (or a newer one). */
export function seesAllAlive(node: SimNode, live: ReadonlyMap<string, number>): boolean {
  const mesh = node.mesh;
  if (mesh.member !== undefined) {
    for (const [name, incarnation] of live) {
      const m = mesh.member(name);
      if (m === undefined || m.state !== "alive" || m.incarnation < incarnation) return false;
    }
    return true;
  }
  const alive = new Map<string, number>();
  for (const m of node.mesh.members()) if (m.state === "alive") alive.set(m.name, m.incarnation);
  for (const [name, incarnation] of live) if ((alive.get(name) ?? -1) < incarnation) return false;
  return true;
}

/**
 * Runs until every live node lists every live node as alive (with its current incarnation);
 * returns that virtual time, or null after timeoutMs. Nodes already seen converged are rechecked
 * only when all the others look converged, which keeps a 1,000-node check cheap without ever
 * accepting a state where some node had fallen back out.
 */
export function waitForMembership(sim: Simulator, everyMs: number, timeoutMs: number): number | null {
  let pending = sim.liveNodes();
  return sim.runUntilTrue(
    () => {
      const live = liveIncarnations(sim);
      pending = pending.filter((n) => n.up && !seesAllAlive(n, live));
      if (pending.length > 0) return false;
      pending = sim.liveNodes().filter((n) => !seesAllAlive(n, live)); // the full pass: all at the same instant
      return pending.length === 0;
    },
    everyMs,
    timeoutMs,
  );
}

/** Nodes in `live` that do not yet see each of `gone` in one of `states` (absent counts as dead: forgotten). */
export function notDetecting(live: readonly SimNode[], gone: readonly string[], states: ReadonlySet<string>): SimNode[] {
  const goneSet = new Set(gone);
  return live.filter((n) => {
    const mesh = n.mesh;
    if (mesh.member !== undefined) return gone.some((g) => !states.has(mesh.member!(g)?.state ?? "dead"));
    const seen = new Map<string, string>();
    for (const m of n.mesh.members()) if (goneSet.has(m.name)) seen.set(m.name, m.state);
    return gone.some((g) => !states.has(seen.get(g) ?? "dead"));
  });
}

export const SUSPECT_OR_DEAD: ReadonlySet<string> = new Set(["suspect", "dead"]);
export const DEAD: ReadonlySet<string> = new Set(["dead"]);

/**
 * Runs until every node in `observers()` sees every one of `gone` in `states`; the time, or null.
 * As in waitForMembership, observers already seen detecting are rechecked only in a full pass once
 * all the others detect, so the answer is still "all at the same instant".
 */
export function waitForDetection(sim: Simulator, observers: () => SimNode[], gone: readonly string[], states: ReadonlySet<string>, everyMs: number, timeoutMs: number): number | null {
  let pending: SimNode[] | null = null;
  return sim.runUntilTrue(
    () => {
      const all = observers();
      const live = new Set(all);
      pending = notDetecting(pending === null ? all : pending.filter((n) => live.has(n)), gone, states);
      if (pending.length > 0) return false;
      pending = notDetecting(all, gone, states);
      return pending.length === 0;
    },
    everyMs,
    timeoutMs,
  );
}

/** Each live node's set of link peers. */
function overlayShape(sim: Simulator): Map<string, Set<string>> {
  return new Map(sim.liveNodes().map((n) => [n.name, new Set(n.mesh.links().map((l) => l.peer))]));
}

/** Links added or removed between two shapes, counted at each end. */
function shapeChanges(a: Map<string, Set<string>>, b: Map<string, Set<string>>): number {
  let changes = 0;
  for (const [name, now] of b) {
    const before = a.get(name) ?? new Set<string>();
    for (const p of now) if (!before.has(p)) changes++;
    for (const p of before) if (!now.has(p)) changes++;
  }
  return changes;
}

/** What watchOverlay saw: link changes (at each end), when the last one was seen, the most links at one node. */
export interface OverlayWatch {
  changes: number;
  lastChange: number | null;
  peakDegree: number;
}

/** Runs until `until`, sampling every node's links every `everyMs`. */
export function watchOverlay(sim: Simulator, until: number, everyMs: number): OverlayWatch {
  let shape = overlayShape(sim);
  const w: OverlayWatch = { changes: 0, lastChange: null, peakDegree: 0 };
  const sample = () => {
    const next = overlayShape(sim);
    for (const peers of next.values()) w.peakDegree = Math.max(w.peakDegree, peers.size);
    const c = shapeChanges(shape, next);
    if (c > 0) {
      w.changes += c;
      w.lastChange = sim.now;
    }
    shape = next;
  };
  sample();
  while (sim.now < until) {
    sim.runUntil(Math.min(sim.now + everyMs, until));
    sample();
  }
  return w;
}

/**
 * Runs until no live node's set of links has changed for `quietMs` (sampled every `everyMs`), or
 * for `timeoutMs`; returns the time of the last change seen, or null if it never went quiet.
 */
export function waitForStableOverlay(sim: Simulator, quietMs: number, everyMs: number, timeoutMs: number): number | null {
  let shape = overlayShape(sim);
  let changedAt = sim.now;
  const done = sim.runUntilTrue(
    () => {
      const next = overlayShape(sim);
      if (shapeChanges(shape, next) > 0) changedAt = sim.now;
      shape = next;
      return sim.now - changedAt >= quietMs;
    },
    everyMs,
    timeoutMs,
  );
  return done === null ? null : changedAt;
}

/** One missing or unexpected delivery, to reproduce from. */
export interface DeliveryProblem {
  id: string;
  origin: string;
  node: string;
  time: number;
}

/** How a batch of messages was delivered. */
export interface DeliveryReport {
  messages: number;
  /** (message, interested receiver) pairs. */
  expected: number;
  /** Pairs delivered at least once. */
  delivered: number;
  missing: number;
  /** Extra copies: the same message delivered again to the same node. */
  duplicates: number;
  /** Deliveries to nodes that were not to receive the message (uninterested, the origin, or across a partition). */
  unexpected: number;
  /** Publish-to-delivery time (ms), first copy at each expected receiver. */
  latency: Distribution;
  /** latency / direct one-way latency (RTT/2) between origin and receiver. */
  stretch: Distribution;
  /** The worst-stretch delivery, to see which pair routes badly. */
  worst: { id: string; origin: string; node: string; latency: number; direct: number } | null;
  /** The first few problems of each kind. */
  missingSample: DeliveryProblem[];
  unexpectedSample: DeliveryProblem[];
  duplicateSample: DeliveryProblem[];
}

/** Checks every message in `messages` against the deliveries recorded so far. */
export function checkDeliveries(sim: Simulator, messages: readonly Published[]): DeliveryReport {
  const r: DeliveryReport = { messages: messages.length, expected: 0, delivered: 0, missing: 0, duplicates: 0, unexpected: 0, latency: distribution([]), stretch: distribution([]), worst: null, missingSample: [], unexpectedSample: [], duplicateSample: [] };
  const latencies: number[] = [];
  const stretches: number[] = [];
  let worstStretch = -1;
  const sample = (list: DeliveryProblem[], p: DeliveryProblem) => {
    if (list.length < 5) list.push(p);
  };
  for (const msg of messages) {
    const got = new Map<string, number[]>();
    for (const d of sim.deliveries.get(msg.id) ?? []) {
      let times = got.get(d.node);
      if (times === undefined) got.set(d.node, (times = []));
      times.push(d.time);
    }
    const expected = new Set(msg.expected);
    r.expected += expected.size;
    const origin = sim.node(msg.origin);
    for (const name of expected) {
      const times = got.get(name);
      if (times === undefined) {
        r.missing++;
        sample(r.missingSample, { id: msg.id, origin: msg.origin, node: name, time: msg.time });
        continue;
      }
      r.delivered++;
      const latency = (times[0] as number) - msg.time;
      const direct = sim.rtt(origin, sim.node(name)) / 2;
      latencies.push(latency);
      const stretch = latency / direct;
      stretches.push(stretch);
      if (stretch > worstStretch) {
        worstStretch = stretch;
        r.worst = { id: msg.id, origin: msg.origin, node: name, latency, direct };
      }
    }
    for (const [name, times] of got) {
      if (times.length > 1) {
        r.duplicates += times.length - 1;
        sample(r.duplicateSample, { id: msg.id, origin: msg.origin, node: name, time: times[1] as number });
      }
      if (!expected.has(name)) {
        r.unexpected += times.length;
        sample(r.unexpectedSample, { id: msg.id, origin: msg.origin, node: name, time: times[0] as number });
      }
    }
  }
  r.latency = distribution(latencies);
  r.stretch = distribution(stretches);
  return r;
}

/** Overhead between two traffic snapshots. */
export interface Overhead {
  /** Bytes of every frame but "data", per node per second of virtual time. */
  gossipBytesPerNodeSec: number;
  /** The same, by frame type. */
  byType: Record<string, number>;
  seconds: number;
}

export function overhead(from: Traffic, to: Traffic, nodes: number): Overhead {
  const seconds = (to.time - from.time) / 1000;
  const byType: Record<string, number> = {};
  let total = 0;
  for (const [t, b] of Object.entries(to.bytes)) {
    if (t === "data") continue;
    const delta = b - (from.bytes[t] ?? 0);
    byType[t] = seconds > 0 ? delta / nodes / seconds : 0;
    total += delta;
  }
  return { gossipBytesPerNodeSec: seconds > 0 ? total / nodes / seconds : 0, byType, seconds };
}
