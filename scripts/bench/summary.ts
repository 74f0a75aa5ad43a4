/**
 * The comparison's data model, from runs to tables: per system, every metric's median and range
 * over the counted runs, the CPU of both sides in the median run, what limited it, and the targets'
 * verdicts. The markdown, the console table, the charts and --json all render this one model.
 *
 * Why the median RUN for CPU and limit, not a median per number: the CPU figures and the limit shown
 * beside a throughput figure must come from the same run as that figure, or they explain nothing.
 */
import { DISTURBED, otherLoad } from "./interference.ts";
import { medianIndex } from "./stats.ts";
import type { WindowStats } from "./types.ts";

/** A core busier than this over a window is taken as saturated. */
export const SATURATED = 0.9;

export type Unit = "msg/s" | "conn/s" | "cpu-s/M" | "ms" | "MiB" | "bytes" | "%";

export interface Metric {
  id: string;
  name: string;
  unit: Unit;
  better: "higher" | "lower";
}

/** How a run was limited: a paced or idle run is limited by design, a throughput run by a saturated side. */
export type LimitKind = "throughput" | "paced" | "idle";

/** One counted (or discarded) run of one system. */
export interface Run {
  system: string;
  rep: number;
  metrics: Record<string, number>;
  window: WindowStats;
  /** One line for the "every run" list. */
  line: string;
  /** Anything that makes this run's figures suspect: errors, closed connections, losses, server warnings. */
  warnings: string[];
  /** Why this attempt was thrown away and repeated (other load on our cores), or null if it counts. */
  discarded: string | null;
}

export interface Stat {
  median: number;
  min: number;
  max: number;
  runs: number;
}

export interface Row {
  key: string;
  label: string;
  /** Why the system has no figures (not installed, codec check failed, every run failed), or null. */
  skipped: string | null;
  stats: Record<string, Stat>;
  /** CPU of the generator and of the server(s) in the median run, as shares of one core. */
  generatorCpu: number;
  serverCpu: number;
  limit: string;
  /** The generator's core was saturated in the median run: the figure is what the generator could drive. */
  generatorBound: boolean;
  /** Other processes shared the median run's cores: its CPU-dependent figures are not to be trusted. */
  disturbed: boolean;
  runLines: string[];
  warnings: string[];
}

export interface Section {
  id: string;
  title: string;
  what: string;
  reps: number;
  metrics: Metric[];
  /** The metric that picks the median run, and the one charted. */
  primary: string;
  /** Metric ids charted, one SVG each. */
  charts: string[];
  rows: Row[];
  /** Notes under the table (how to read it, what differs between systems). */
  notes: string[];
}

export interface SystemRef {
  key: string;
  label: string;
  skipped: string | null;
}

/** Summarizes one section's runs, one row per system in `systems` order. */
export function summarizeSection(
  def: Omit<Section, "rows">,
  systems: readonly SystemRef[],
  runs: readonly Run[],
  limitKind: LimitKind,
): Section {
  const rows = systems.map((sys): Row => {
    const mine = runs.filter((r) => r.system === sys.key);
    const counted = mine.filter((r) => r.discarded === null);
    const runLines = mine.map((r) => `run ${r.rep}${r.discarded ? ", discarded attempt" : ""}: ${r.line}${r.discarded ? ` (${r.discarded}; repeated)` : ""}`);
    const warnings = counted.flatMap((r) => r.warnings.map((w) => `run ${r.rep}: ${w}`));
    const skipped = sys.skipped ?? (counted.length === 0 ? "no run completed (see the log)" : null);
    if (skipped !== null || counted.length === 0) {
      return { key: sys.key, label: sys.label, skipped, stats: {}, generatorCpu: NaN, serverCpu: NaN, limit: "", generatorBound: false, disturbed: false, runLines, warnings };
    }
    const stats: Record<string, Stat> = {};
    for (const m of def.metrics) {
      const values = counted.map((r) => r.metrics[m.id] ?? NaN).filter(Number.isFinite);
      stats[m.id] = values.length
        ? { median: values[medianIndex(values, (v) => v)]!, min: Math.min(...values), max: Math.max(...values), runs: values.length }
        : { median: NaN, min: NaN, max: NaN, runs: 0 };
    }
    const medianRun = counted[medianIndex(counted, (r) => r.metrics[def.primary] ?? NaN)]!;
    const w = medianRun.window;
    const gen = w.generatorCpuSeconds / w.wallSeconds;
    const server = w.serverCpuSeconds / w.wallSeconds;
    const generatorBound = limitKind !== "idle" && gen > SATURATED;
    const limit = limitKind === "idle" ? "idle" : generatorBound ? (server > SATURATED ? "generator-bound (both saturated)" : "generator-bound") : limitKind === "paced" ? "paced (open loop)" : server > SATURATED ? "server-bound" : "neither saturated";
    // RSS does not depend on a neighbour's CPU use, so idle figures are never marked disturbed.
    const disturbed = limitKind !== "idle" && otherLoad(w).worst > DISTURBED;
    return { key: sys.key, label: sys.label, skipped: null, stats, generatorCpu: gen, serverCpu: server, limit, generatorBound, disturbed, runLines, warnings };
  });
  return { ...def, rows };
}

export type Verdict = "PASS" | "MISS" | "n/a";

/** A target of the issue, judged on the medians of one run of the bench. */
export interface TargetResult {
  section: string;
  metric: string;
  /** e.g. "Relay >= 1.6x nats-server". */
  text: string;
  /** The measured ratio (or, for an absolute target, Relay's figure). */
  value: number;
  unit: Unit | "x";
  verdict: Verdict;
  /** Why the verdict is n/a, or what weakens it (generator-bound, disturbed). */
  note: string;
}

export type TargetDef =
  | { section: string; metric: string; kind: "ratio-min" | "ratio-max"; of: string; to: string; value: number }
  | { section: string; metric: string; kind: "max"; of: string; value: number; text: string };

/** Judges the targets against the summarized sections. */
export function judgeTargets(defs: readonly TargetDef[], sections: readonly Section[]): TargetResult[] {
  return defs.flatMap((t): TargetResult[] => {
    const section = sections.find((s) => s.id === t.section);
    if (!section) return [];
    const metric = section.metrics.find((m) => m.id === t.metric)!;
    const of = section.rows.find((r) => r.key === t.of);
    const to = t.kind === "max" ? undefined : section.rows.find((r) => r.key === t.to);
    const text = t.kind === "max" ? `${of?.label ?? t.of} ${t.text}` : `${of?.label ?? t.of} ${t.kind === "ratio-min" ? ">=" : "<="} ${t.value}x ${to?.label ?? t.to}`;
    const base = { section: section.title, metric: metric.name, text };
    const missing = [of, to].find((r) => r && r.skipped);
    if (!of || of.skipped || (t.kind !== "max" && (!to || to.skipped))) {
      return [{ ...base, value: NaN, unit: "x", verdict: "n/a", note: missing?.skipped ? `${missing.label} has no figures: ${missing.skipped}` : "no figures" }];
    }
    const mine = of.stats[t.metric]!.median;
    const notes: string[] = [];
    const involved = t.kind === "max" ? [of] : [of, to!];
    for (const r of involved) if (r.generatorBound) notes.push(`${r.label} generator-bound`);
    for (const r of involved) if (r.disturbed) notes.push(`${r.label} run disturbed`);
    if (t.kind === "max") {
      return [{ ...base, value: mine, unit: metric.unit, verdict: mine <= t.value ? "PASS" : "MISS", note: notes.join("; ") }];
    }
    const ratio = mine / to!.stats[t.metric]!.median;
    const ok = t.kind === "ratio-min" ? ratio >= t.value : ratio <= t.value;
    return [{ ...base, value: ratio, unit: "x", verdict: Number.isFinite(ratio) ? (ok ? "PASS" : "MISS") : "n/a", note: notes.join("; ") }];
  });
}

/** Formats a number in its unit for tables and logs. */
export function fmt(value: number, unit: Unit | "x"): string {
  if (!Number.isFinite(value)) return "n/a";
  switch (unit) {
    case "msg/s":
      return `${Math.round(value).toLocaleString("en-US")} msg/s`;
    case "conn/s":
      return `${Math.round(value).toLocaleString("en-US")} conn/s`;
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
    case "x":
      return `${value.toFixed(2)}x`;
  }
}

/** The range of a stat in the unit's terms, without the unit: "4,501,000-4,700,000". */
export function fmtRange(s: Stat, unit: Unit): string {
  if (s.runs < 2) return "";
  const bare = (v: number): string => fmt(v, unit).replace(/ ?(msg\/s|conn\/s|CPU-s\/M|ms|MiB|B|%)$/, "");
  return `${bare(s.min)}–${bare(s.max)}`;
}

/** A figure with its spread: "4,635,214 msg/s (range 4,501,000–4,700,000)". */
export function fmtStat(s: Stat, unit: Unit): string {
  const range = fmtRange(s, unit);
  return range ? `${fmt(s.median, unit)} (${range})` : fmt(s.median, unit);
}
