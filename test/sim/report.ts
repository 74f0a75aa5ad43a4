/**
 * Plain-text tables of simulation figures, for the test's output and scripts/sim.ts.
 */

import type { DeliveryReport } from "./measure.ts";
import type { Figures } from "./scenarios.ts";

/** Seconds with one decimal, or "-" when the thing never happened within its bound. */
const secs = (ms: number | null | undefined) => (ms === null || ms === undefined ? "-" : (ms / 1000).toFixed(1));
const num = (x: number, digits = 0) => x.toFixed(digits);

/** Columns padded to their widest cell; the first row is the header. */
export function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? "").length)));
  const line = (r: string[]) => r.map((cell, c) => cell.padStart(widths[c]!)).join("  ");
  return [line(rows[0]!), widths.map((w) => "-".repeat(w)).join("  "), ...rows.slice(1).map(line)].join("\n");
}

/** Deliveries of every phase, summed. */
function totals(f: Figures): { missing: number; duplicates: number; unexpected: number } {
  const reports = phases(f).map(([, r]) => r);
  return {
    missing: reports.reduce((a, r) => a + r.missing, 0),
    duplicates: reports.reduce((a, r) => a + r.duplicates, 0),
    unexpected: reports.reduce((a, r) => a + r.unexpected, 0),
  };
}

function phases(f: Figures): [string, DeliveryReport][] {
  const out: [string, DeliveryReport][] = [];
  if (f.steady) out.push(["steady", f.steady]);
  if (f.crash) out.push(["after crash", f.crash.after]);
  if (f.partition) out.push(["partitioned", f.partition.during], ["after heal", f.partition.after]);
  if (f.restart) out.push(["after restart", f.restart.after]);
  return out;
}

/** One row per run: the headline figures (latency and stretch from the steady-state batch). */
export function summaryTable(runs: readonly Figures[]): string {
  const rows = [["nodes", "membership s", "settled s", "links min/avg/max (peak)", "suspect s", "dead s", "heal s", "rejoin s", "latency p50/p99 ms", "stretch p50/p99", "dup", "missing", "unexpected", "gossip B/node/s", "join B/node/s", "wall s"]];
  for (const f of runs) {
    const t = totals(f);
    rows.push([
      String(f.nodes),
      secs(f.join.membershipMs),
      secs(f.settle?.settledMs),
      f.settle ? `${f.settle.degree.min}/${num(f.settle.degree.mean, 1)}/${f.settle.degree.max} (${f.settle.degree.peak})` : "-",
      secs(f.crash?.suspectMs),
      secs(f.crash?.deadMs),
      secs(f.partition?.healMs),
      secs(f.restart?.rejoinMs),
      f.steady ? `${num(f.steady.latency.p50)}/${num(f.steady.latency.p99)}` : "-",
      f.steady ? `${num(f.steady.stretch.p50, 2)}/${num(f.steady.stretch.p99, 2)}` : "-",
      String(t.duplicates),
      String(t.missing),
      String(t.unexpected),
      f.settle ? num(f.settle.overhead.gossipBytesPerNodeSec) : "-",
      num(f.join.overhead.gossipBytesPerNodeSec),
      num(f.wallMs / 1000, 1),
    ]);
  }
  return table(rows);
}

/** One row per phase of each run: what each batch of publishes saw. */
export function deliveryTable(runs: readonly Figures[]): string {
  const rows = [["nodes", "phase", "msgs", "expected", "delivered", "missing", "dup", "unexpected", "latency p50/p99/max ms", "stretch p50/p99/max"]];
  for (const f of runs) {
    for (const [label, r] of phases(f)) {
      rows.push([
        String(f.nodes),
        label,
        String(r.messages),
        String(r.expected),
        String(r.delivered),
        String(r.missing),
        String(r.duplicates),
        String(r.unexpected),
        `${num(r.latency.p50)}/${num(r.latency.p99)}/${num(r.latency.max)}`,
        `${num(r.stretch.p50, 2)}/${num(r.stretch.p99, 2)}/${num(r.stretch.max, 2)}`,
      ]);
    }
  }
  return table(rows);
}

/** The bounds each run was held to, so a reader can see what "within bound" meant. */
export function boundsTable(runs: readonly Figures[]): string {
  const rows = [["nodes", "membership s", "settle s", "suspect s", "dead s", "heal s", "interest s", "drain s"]];
  for (const f of runs) {
    const b = f.bounds;
    rows.push([String(f.nodes), secs(b.membershipMs), secs(b.settleMs), secs(b.suspectMs), secs(b.deadMs), secs(b.healMs), secs(b.interestMs), secs(b.drainMs)]);
  }
  return table(rows);
}
