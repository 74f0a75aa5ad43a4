/**
 * The sections of the comparison: for each scenario, its metrics, and how a generator result turns
 * into a Run (summary.ts) with those metrics, a line for the run list and its warnings. Also the
 * issue's targets, in one table.
 */
import type { MeshFanoutResult, MeshHopsResult } from "./mesh-types.ts";
import { mostConnections, type PlannedScenario } from "./plan.ts";
import { fmt, type Metric, type Run, type Section, type TargetDef } from "./summary.ts";
import type { ErrorTally, IdleResult, LoadgenResult, WindowStats } from "./types.ts";

const MiB = 2 ** 20;
const pct = (share: number): string => fmt(share * 100, "%");
const cpuText = (w: WindowStats): string => `generator CPU ${pct(w.generatorCpuSeconds / w.wallSeconds)}, server CPU ${pct(w.serverCpuSeconds / w.wallSeconds)}`;

/** Server stderr lines that are warnings or errors, minus the ones every run of that server prints by design. */
const EXPECTED_LOG = [/Websocket not configured with TLS/];
export function logWarnings(stderr: string): string[] {
  return stderr
    .split("\n")
    .filter((l) => /\b(WRN|ERR|WARN|ERROR|Error|FTL)\b/.test(l) && !EXPECTED_LOG.some((re) => re.test(l)))
    .slice(0, 3)
    .map((l) => `server log: ${l.trim().slice(0, 200)}`);
}

function common(r: { errors: ErrorTally; closes: number }): string[] {
  const out: string[] = [];
  if (r.errors.count > 0) out.push(`${r.errors.count} error(s), first: ${r.errors.first}`);
  if (r.closes > 0) out.push(`the server closed ${r.closes} connection(s) during the run`);
  return out;
}

type RunBody = Pick<Run, "metrics" | "window" | "line" | "warnings">;

// ---- single node ----

const THROUGHPUT: Metric[] = [
  { id: "rate", name: "delivered msg/s", unit: "msg/s", better: "higher" },
  { id: "cpuPerM", name: "server CPU-s per million deliveries", unit: "cpu-s/M", better: "lower" },
];
const LATENCY: Metric[] = [
  { id: "p50", name: "p50", unit: "ms", better: "lower" },
  { id: "p99", name: "p99", unit: "ms", better: "lower" },
  { id: "p999", name: "p99.9", unit: "ms", better: "lower" },
  { id: "max", name: "max", unit: "ms", better: "lower" },
];
const CONNECT: Metric[] = [{ id: "rate", name: "connections/s", unit: "conn/s", better: "higher" }];

function memoryMetrics(steps: number[]): Metric[] {
  const n = (x: number): string => x.toLocaleString("en-US");
  return [
    ...steps.map((s): Metric => ({ id: `perConn${s}`, name: `RSS per idle connection at ${n(s)}`, unit: "bytes", better: "lower" })),
    { id: "idle", name: "RSS, no clients", unit: "MiB", better: "lower" },
    ...steps.map((s): Metric => ({ id: `rss${s}`, name: `RSS with ${n(s)}`, unit: "MiB", better: "lower" })),
    { id: `idleCpu`, name: `server CPU while ${n(steps[steps.length - 1]!)} sit idle`, unit: "%", better: "lower" },
  ];
}

/** The section (minus rows) of a single-node scenario. */
export function singleSection(p: PlannedScenario): Omit<Section, "rows"> {
  const base = { id: p.id, title: p.title, what: p.what, reps: p.reps, notes: [] as string[] };
  switch (p.spec.kind) {
    case "closed-loop":
      return { ...base, metrics: THROUGHPUT, primary: "rate", charts: ["rate"] };
    case "latency":
      return { ...base, metrics: LATENCY, primary: "p99", charts: ["p99"] };
    case "idle-connections": {
      const steps = p.spec.steps;
      const capped = mostConnections();
      const notes = capped.why && steps.includes(capped.count) ? [capped.why] : [];
      return { ...base, notes, metrics: memoryMetrics(steps), primary: `perConn${steps[steps.length - 1]}`, charts: steps.map((s) => `perConn${s}`) };
    }
    case "connect-rate":
      return { ...base, metrics: CONNECT, primary: "rate", charts: ["rate"] };
  }
}

/** A single-node generator result as a Run body. */
export function singleRun(r: LoadgenResult): RunBody {
  switch (r.kind) {
    case "closed-loop": {
      const rate = r.deliveries / r.window.wallSeconds;
      const cpuPerM = r.window.serverCpuSeconds / (r.deliveries / 1e6);
      const warnings = [
        ...common(r),
        ...(r.deliveries === 0 ? ["no deliveries at all"] : []),
        ...(r.missing > 0 ? [`${r.missing} deliveries never arrived (dropped by the server), each shrinking the window for good`] : []),
      ];
      return { metrics: { rate, cpuPerM }, window: r.window, line: `${fmt(rate, "msg/s")}, ${fmt(cpuPerM, "cpu-s/M")}, ${cpuText(r.window)}`, warnings };
    }
    case "latency": {
      const lost = r.expected - r.received;
      const warnings = [...common(r), ...(lost !== 0 ? [`${lost} of ${r.expected} deliveries did not arrive`] : [])];
      const line = `p50 ${fmt(r.p50Ms, "ms")}, p99 ${fmt(r.p99Ms, "ms")}, p99.9 ${fmt(r.p999Ms, "ms")}, max ${fmt(r.maxMs, "ms")}; ${r.received} of ${r.expected} arrived; ${cpuText(r.window)}`;
      return { metrics: { p50: r.p50Ms, p99: r.p99Ms, p999: r.p999Ms, max: r.maxMs }, window: r.window, line, warnings };
    }
    case "idle-connections":
      return memoryRun(r);
    case "connect-rate": {
      const rate = r.connections / r.window.wallSeconds;
      const warnings = [...common(r), ...(r.failed ? [`${r.failed} connection(s) failed twice`] : [])];
      return { metrics: { rate }, window: r.window, line: `${fmt(rate, "conn/s")} (${r.connections} in ${r.window.wallSeconds.toFixed(2)} s), ${cpuText(r.window)}`, warnings };
    }
  }
}

function memoryRun(r: IdleResult): RunBody {
  const metrics: Record<string, number> = { idle: r.idle.rssBytes / MiB };
  const parts = [`no clients ${fmt(r.idle.rssBytes / MiB, "MiB")}`];
  for (const s of r.steps) {
    metrics[`perConn${s.connections}`] = (s.loaded.rssBytes - r.idle.rssBytes) / s.connections;
    metrics[`rss${s.connections}`] = s.loaded.rssBytes / MiB;
    parts.push(`${s.connections} connections ${fmt(s.loaded.rssBytes / MiB, "MiB")} (anon ${fmt(s.loaded.rssAnonBytes / MiB, "MiB")}, opened in ${s.setupSeconds.toFixed(1)} s)`);
  }
  const last = r.steps[r.steps.length - 1]!;
  metrics.idleCpu = (100 * last.idleWindow.serverCpuSeconds) / last.idleWindow.wallSeconds;
  return { metrics, window: last.idleWindow, line: `${parts.join("; ")}; idle server CPU ${fmt(metrics.idleCpu, "%")}`, warnings: common(r) };
}

// ---- mesh ----

export const MESH_FANOUT: Metric[] = [
  { id: "rate", name: "delivered msg/s", unit: "msg/s", better: "higher" },
  { id: "cpuPerM", name: "CPU-s of all nodes per million deliveries", unit: "cpu-s/M", better: "lower" },
  { id: "interest", name: "subscription reaching node A", unit: "ms", better: "lower" },
];

export function meshFanoutRun(r: MeshFanoutResult, nodeNames: readonly string[]): RunBody {
  const w = r.window;
  const rate = r.deliveries / w.wallSeconds;
  const cpuPerM = w.serverCpuSeconds / (r.deliveries / 1e6);
  const nodes = w.perServerCpuSeconds.map((s, i) => `${nodeNames[i] ?? i} ${pct(s / w.wallSeconds)}`).join(", ");
  const warnings = [...common(r), ...(r.missing > 0 ? [`${r.missing} deliveries missing after the drain`] : [])];
  return {
    metrics: { rate, cpuPerM, interest: r.propagationMs },
    window: w,
    line: `${fmt(rate, "msg/s")}, ${fmt(cpuPerM, "cpu-s/M")}, node CPU ${nodes}, generator CPU ${pct(w.generatorCpuSeconds / w.wallSeconds)}, ${r.missing} missing`,
    warnings,
  };
}

/** Metrics of a latency run with one subscriber per node: p50 and p99 at each node, and p50 added per hop. */
export function meshHopsMetrics(nodeNames: readonly string[]): Metric[] {
  return [
    ...nodeNames.map((n, i): Metric => ({ id: `p50-${i}`, name: `p50 at ${n}`, unit: "ms", better: "lower" })),
    ...nodeNames.map((n, i): Metric => ({ id: `p99-${i}`, name: `p99 at ${n}`, unit: "ms", better: "lower" })),
    { id: "perHop", name: `p50 added per hop (${nodeNames[0]} to ${nodeNames[nodeNames.length - 1]})`, unit: "ms", better: "lower" },
  ];
}

/** `hopsToLast`: links a message crosses from the first node to the last (n-1 on a chain, 1 in a full mesh). */
export function meshHopsRun(r: MeshHopsResult, nodeNames: readonly string[], hopsToLast: number): RunBody {
  const metrics: Record<string, number> = {};
  for (const h of r.perHop) {
    metrics[`p50-${h.hops}`] = h.p50Ms;
    metrics[`p99-${h.hops}`] = h.p99Ms;
  }
  const first = r.perHop[0]!;
  const last = r.perHop[r.perHop.length - 1]!;
  metrics.perHop = (last.p50Ms - first.p50Ms) / hopsToLast;
  const lost = r.perHop.filter((h) => h.received !== h.expected).map((h) => `${nodeNames[h.hops]}: ${h.expected - h.received} of ${h.expected} did not arrive`);
  const line = r.perHop.map((h) => `${nodeNames[h.hops]} p50 ${fmt(h.p50Ms, "ms")} p99 ${fmt(h.p99Ms, "ms")}`).join("; ") + `; ${cpuText(r.window)}`;
  return { metrics, window: r.window, line, warnings: [...common(r), ...lost] };
}

// ---- targets ----

/** The targets, as ratios measured in the same run (or, for memory, Relay's own figure). */
export function targets(memorySteps: number[]): TargetDef[] {
  return [
    { section: "fanout", metric: "rate", kind: "ratio-min", of: "relay", to: "raw", value: 0.9 },
    { section: "fanout", metric: "rate", kind: "ratio-min", of: "relay", to: "nats", value: 1.6 },
    { section: "channels", metric: "rate", kind: "ratio-min", of: "relay", to: "nats", value: 1.0 },
    { section: "latency", metric: "p99", kind: "ratio-max", of: "relay", to: "raw", value: 1.2 },
    ...memorySteps.map((s): TargetDef => ({ section: "memory", metric: `perConn${s}`, kind: "max", of: "relay", value: 4096, text: "<= 4 KiB per idle connection" })),
    { section: "mesh-fanout", metric: "rate", kind: "ratio-min", of: "relay-mesh", to: "nats-cluster", value: 1.0 },
  ];
}

