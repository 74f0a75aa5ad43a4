/**
 * Turns raw runs into the figures the report shows: the median run per system, Relay/raw ratios,
 * targets with PASS/MISS, CPU on both sides, and which side limited the figure.
 *
 * Why the median RUN and not a median per number: the CPU figures and the limit shown beside a
 * throughput figure must come from the same run as that figure, or they explain nothing.
 */
import { DISTURBED, otherLoad } from "./interference.ts";
import type { PlannedScenario } from "./plan.ts";
import type { SystemKey } from "./servers.ts";
import { median, medianIndex } from "./stats.ts";
import type { ClosedLoopResult, IdleResult, LatencyResult, LoadgenResult, WindowStats } from "./types.ts";

/** A core busier than this over a window is taken as saturated. */
export const SATURATED = 0.9;

export interface Run {
  system: SystemKey;
  rep: number;
  result: LoadgenResult;
  /** What the server wrote to stderr during the run (Relay logs at warn level). */
  serverLog: string;
  /** Why this attempt was thrown away and repeated (other load on our cores), or null if it counts. */
  discarded: string | null;
}

/** The measured window of any result. */
export function windowOf(r: LoadgenResult): WindowStats {
  return r.kind === "idle-connections" ? r.idleWindow : r.window;
}

export type Target =
  | { kind: "ratio-min"; value: number } // Relay/raw must be at least value
  | { kind: "ratio-max"; value: number } // Relay/raw must be at most value
  | { kind: "max"; value: number; text: string }; // Relay's own figure must be at most value

export interface Figure {
  name: string;
  relay: number;
  raw: number;
  unit: Unit;
  target: Target | null;
}

export type Unit = "msg/s" | "cpu-s/M" | "ms" | "MiB" | "bytes" | "%";

/** CPU of both processes over a system's median run, and what limited it. */
export interface Side {
  generatorCpu: number;
  serverCpu: number;
  limit: string;
  /** Other processes shared this run's cores: its CPU-dependent figures are not to be trusted. */
  disturbed: boolean;
}

export interface ScenarioSummary {
  planned: PlannedScenario;
  figures: Figure[];
  sides: Record<SystemKey, Side>;
  /** One line per run, to show the spread behind each median. */
  runLines: string[];
  /** Anything that makes a figure suspect: error frames, closed connections, lost messages, server warnings. */
  warnings: string[];
  /** Counted runs, and how many of them shared their cores with other processes anyway. */
  counted: number;
  disturbed: number;
}

export type Verdict = "PASS" | "MISS" | "";

export function ratio(f: Figure): number {
  return f.relay / f.raw;
}

export function verdict(f: Figure): Verdict {
  const t = f.target;
  if (!t) return "";
  const ok = t.kind === "ratio-min" ? ratio(f) >= t.value : t.kind === "ratio-max" ? ratio(f) <= t.value : f.relay <= t.value;
  return ok ? "PASS" : "MISS";
}

function cpuShare(w: WindowStats): { gen: number; server: number } {
  return { gen: w.generatorCpuSeconds / w.wallSeconds, server: w.serverCpuSeconds / w.wallSeconds };
}

/** Names the side that limited a throughput run. The generator is named first: if it is saturated the figure is the generator's, whatever the server did. */
function limitOf(gen: number, server: number): string {
  if (gen > SATURATED) return server > SATURATED ? "generator-bound (both saturated)" : "generator-bound";
  if (server > SATURATED) return "server-bound";
  return "neither saturated";
}

function side(w: WindowStats, limit?: string): Side {
  const { gen, server } = cpuShare(w);
  return { generatorCpu: gen, serverCpu: server, limit: limit ?? limitOf(gen, server), disturbed: otherLoad(w).worst > DISTURBED };
}

const rate = (r: ClosedLoopResult): number => r.deliveries / r.window.wallSeconds;
const cpuPerMillion = (r: ClosedLoopResult): number => r.window.serverCpuSeconds / (r.deliveries / 1e6);

const pct = (x: number): string => fmt(x * 100, "%");

/** Common warnings of any run. */
function runWarnings(run: Run, label: string): string[] {
  const out: string[] = [];
  const r = run.result;
  const other = otherLoad(windowOf(r));
  if (other.worst > DISTURBED) out.push(`${label}: ${other.text}`);
  if (r.errors.count > 0) out.push(`${label}: ${r.errors.count} error frame(s), first: ${r.errors.first}`);
  if (r.closes > 0) out.push(`${label}: the server closed ${r.closes} connection(s) during the run`);
  if (run.serverLog.trim()) out.push(`${label}: server logged: ${run.serverLog.trim().split("\n").slice(0, 3).join(" | ")}`);
  return out;
}

function bySystem<R extends LoadgenResult>(runs: Run[], system: SystemKey): { run: Run; result: R }[] {
  return runs.filter((r) => r.system === system && r.discarded === null).map((run) => ({ run, result: run.result as R }));
}

const LABEL: Record<SystemKey, string> = { relay: "Relay", raw: "raw Bun" };

/**
 * One line per attempt (discarded ones included, marked, so the reader sees what was thrown away
 * and why) and the warnings of the attempts that count.
 */
function describeRuns<R extends LoadgenResult>(
  runs: Run[],
  line: (r: R) => string,
  checks: (r: R) => string[] = () => [],
): { runLines: string[]; warnings: string[]; counted: number; disturbed: number } {
  const runLines: string[] = [];
  const warnings: string[] = [];
  let counted = 0;
  let disturbed = 0;
  for (const run of runs) {
    const r = run.result as R;
    const label = `${LABEL[run.system]} run ${run.rep}`;
    if (run.discarded) {
      runLines.push(`${label}, discarded attempt: ${line(r)} (${run.discarded}; repeated)`);
      continue;
    }
    runLines.push(`${label}: ${line(r)}`);
    warnings.push(...runWarnings(run, label), ...checks(r).map((w) => `${label}: ${w}`));
    counted++;
    if (otherLoad(windowOf(r)).worst > DISTURBED) disturbed++;
  }
  return { runLines, warnings, counted, disturbed };
}

function summarizeClosedLoop(planned: PlannedScenario, runs: Run[], throughputTarget: Target): ScenarioSummary {
  const pick = (system: SystemKey) => {
    const mine = bySystem<ClosedLoopResult>(runs, system);
    return mine[medianIndex(mine, (m) => rate(m.result))]!.result;
  };
  const relay = pick("relay");
  const raw = pick("raw");
  const described = describeRuns<ClosedLoopResult>(
    runs,
    (r) => {
      const { gen, server } = cpuShare(r.window);
      return `${fmt(rate(r), "msg/s")}, ${fmt(cpuPerMillion(r), "cpu-s/M")}, generator CPU ${pct(gen)}, server CPU ${pct(server)}`;
    },
    (r) => (r.deliveries === 0 ? ["no deliveries at all"] : []),
  );
  return {
    planned,
    figures: [
      { name: "delivered messages/s", relay: rate(relay), raw: rate(raw), unit: "msg/s", target: throughputTarget },
      { name: "server CPU-seconds per million deliveries", relay: cpuPerMillion(relay), raw: cpuPerMillion(raw), unit: "cpu-s/M", target: null },
    ],
    sides: { relay: side(relay.window), raw: side(raw.window) },
    ...described,
  };
}

function summarizeLatency(planned: PlannedScenario, runs: Run[]): ScenarioSummary {
  const stat = (system: SystemKey, key: "p50Ms" | "p99Ms" | "maxMs") => median(bySystem<LatencyResult>(runs, system).map((m) => m.result[key]));
  const sideOf = (system: SystemKey): Side => {
    const mine = bySystem<LatencyResult>(runs, system);
    const w = mine[medianIndex(mine, (m) => m.result.p99Ms)]!.result.window;
    const { gen } = cpuShare(w);
    return side(w, gen > SATURATED ? "generator-bound" : "paced (open loop)");
  };
  const described = describeRuns<LatencyResult>(
    runs,
    (r) => `p50 ${fmt(r.p50Ms, "ms")}, p99 ${fmt(r.p99Ms, "ms")}, max ${fmt(r.maxMs, "ms")}; ${r.received} of ${r.expected} deliveries arrived`,
    (r) => (r.received !== r.expected ? [`${r.expected - r.received} of ${r.expected} deliveries did not arrive`] : []),
  );
  return {
    planned,
    figures: [
      { name: "p50 latency", relay: stat("relay", "p50Ms"), raw: stat("raw", "p50Ms"), unit: "ms", target: null },
      { name: "p99 latency", relay: stat("relay", "p99Ms"), raw: stat("raw", "p99Ms"), unit: "ms", target: { kind: "ratio-max", value: 1.2 } },
      { name: "max latency", relay: stat("relay", "maxMs"), raw: stat("raw", "maxMs"), unit: "ms", target: null },
    ],
    sides: { relay: sideOf("relay"), raw: sideOf("raw") },
    ...described,
  };
}

function summarizeMemory(planned: PlannedScenario, runs: Run[]): ScenarioSummary {
  const pick = (system: SystemKey) => {
    const mine = bySystem<IdleResult>(runs, system);
    return mine[medianIndex(mine, (m) => m.result.loaded.rssBytes)]!.result;
  };
  const relay = pick("relay");
  const raw = pick("raw");
  const perConn = (r: IdleResult, key: "rssBytes" | "rssAnonBytes") => (r.loaded[key] - r.idle[key]) / r.connections;
  const idleCpu = (r: IdleResult) => (r.idleWindow.serverCpuSeconds / r.idleWindow.wallSeconds) * 100;
  const MiB = 1024 * 1024;
  const described = describeRuns<IdleResult>(
    runs,
    (r) =>
      `idle RSS ${fmt(r.idle.rssBytes / MiB, "MiB")} (anon ${fmt(r.idle.rssAnonBytes / MiB, "MiB")}), ` +
      `with ${r.connections} connections ${fmt(r.loaded.rssBytes / MiB, "MiB")} (anon ${fmt(r.loaded.rssAnonBytes / MiB, "MiB")}), ` +
      `opened in ${r.setupSeconds.toFixed(1)} s`,
  );
  const n = relay.connections.toLocaleString("en-US");
  return {
    planned,
    figures: [
      { name: "idle RSS, no clients", relay: relay.idle.rssBytes / MiB, raw: raw.idle.rssBytes / MiB, unit: "MiB", target: { kind: "max", value: 25, text: "<= 25 MiB" } },
      { name: "idle RssAnon, no clients", relay: relay.idle.rssAnonBytes / MiB, raw: raw.idle.rssAnonBytes / MiB, unit: "MiB", target: null },
      { name: `RSS with ${n} connections`, relay: relay.loaded.rssBytes / MiB, raw: raw.loaded.rssBytes / MiB, unit: "MiB", target: null },
      { name: "RSS per idle connection", relay: perConn(relay, "rssBytes"), raw: perConn(raw, "rssBytes"), unit: "bytes", target: { kind: "max", value: 4096, text: "<= 4 KiB" } },
      { name: "RssAnon per idle connection", relay: perConn(relay, "rssAnonBytes"), raw: perConn(raw, "rssAnonBytes"), unit: "bytes", target: null },
      { name: `server CPU while ${n} connections idle`, relay: idleCpu(relay), raw: idleCpu(raw), unit: "%", target: null },
    ],
    // RSS does not depend on a neighbour's CPU use, so memory figures are never marked disturbed.
    sides: {
      relay: { ...side(relay.idleWindow, "idle"), disturbed: false },
      raw: { ...side(raw.idleWindow, "idle"), disturbed: false },
    },
    ...described,
  };
}

/** Summarizes one scenario's runs. */
export function summarize(planned: PlannedScenario, runs: Run[]): ScenarioSummary {
  switch (planned.id) {
    case "fanout":
    case "channels":
      return summarizeClosedLoop(planned, runs, { kind: "ratio-min", value: 0.9 });
    case "latency":
      return summarizeLatency(planned, runs);
    case "memory":
      return summarizeMemory(planned, runs);
  }
}

/** Formats a number in its unit for tables and logs. */
export function fmt(value: number, unit: Unit): string {
  if (!Number.isFinite(value)) return "n/a";
  switch (unit) {
    case "msg/s":
      return `${Math.round(value).toLocaleString("en-US")} msg/s`;
    case "cpu-s/M":
      return `${value.toFixed(2)} CPU-s/M`;
    case "ms":
      return `${value.toFixed(3)} ms`;
    case "MiB":
      return `${value.toFixed(1)} MiB`;
    case "bytes":
      return `${Math.round(value).toLocaleString("en-US")} B`;
    case "%":
      return `${value.toFixed(value < 10 ? 1 : 0)}%`;
  }
}

/** The target as text, e.g. ">= 0.9x raw Bun". */
export function targetText(t: Target | null): string {
  if (!t) return "";
  if (t.kind === "ratio-min") return `>= ${t.value}x raw Bun`;
  if (t.kind === "ratio-max") return `<= ${t.value}x raw Bun`;
  return t.text;
}
