/**
 * Renders the summaries: docs/benchmarks.md (rewritten on every full run) and the plain-text
 * table printed at the end of `npm run bench`.
 */
import type { Machine } from "./machine.ts";
import type { Plan } from "./plan.ts";
import { DISTURBED } from "./interference.ts";
import { fmt, ratio, SATURATED, targetText, verdict, type Figure, type ScenarioSummary, type Side } from "./summary.ts";

const pct = (x: number): string => fmt(x * 100, "%");

/**
 * A figure's cell: the value, with "generator-bound" beside it when the generator was the limit,
 * and "disturbed" when other processes shared the run's cores.
 */
function cell(f: Figure, value: number, s: Side): string {
  const notes: string[] = [];
  if (s.generatorCpu > SATURATED && (f.unit === "msg/s" || f.unit === "ms")) notes.push("generator-bound");
  if (s.disturbed) notes.push("disturbed");
  return fmt(value, f.unit) + (notes.length ? ` (${notes.join(", ")})` : "");
}

/** The verdict, flagged when it rests on a disturbed run. */
function verdictText(f: Figure, sides: Record<"relay" | "raw", Side>, bold: boolean): string {
  const v = verdict(f);
  if (!v) return "";
  const shown = bold ? `**${v}**` : v;
  return sides.relay.disturbed || sides.raw.disturbed ? `${shown} (disturbed run: not reliable)` : shown;
}

function ratioText(f: Figure): string {
  const r = ratio(f);
  return Number.isFinite(r) ? `${r.toFixed(2)}x` : "n/a";
}

function table(header: string[], rows: string[][]): string {
  const line = (cells: string[]) => `| ${cells.join(" | ")} |`;
  return [line(header), line(header.map(() => "---")), ...rows.map(line)].join("\n");
}

function scenarioSection(n: number, s: ScenarioSummary): string {
  const { relay, raw } = s.sides;
  const rows = s.figures.map((f) => [
    f.name,
    cell(f, f.relay, relay),
    cell(f, f.raw, raw),
    ratioText(f),
    targetText(f.target),
    verdictText(f, s.sides, true),
    `${pct(relay.generatorCpu)} / ${pct(raw.generatorCpu)}`,
    `${pct(relay.serverCpu)} / ${pct(raw.serverCpu)}`,
    `${relay.limit} / ${raw.limit}`,
  ]);
  const parts = [
    `## ${n}. ${s.planned.title}`,
    "",
    `${s.planned.what}; ${s.planned.reps === 1 ? "one run per system" : `median of ${s.planned.reps} runs per system, alternating Relay and raw Bun`}.`,
    "",
    table(["Figure", "Relay", "raw Bun", "Relay/raw", "Target", "Result", "Generator CPU (Relay / raw)", "Server CPU (Relay / raw)", "Limit (Relay / raw)"], rows),
    "",
    "Every run:",
    "",
    ...s.runLines.map((l) => `- ${l}`),
  ];
  if (s.warnings.length) parts.push("", "Warnings (these make the figures above suspect):", "", ...s.warnings.map((w) => `- ${w}`));
  return parts.join("\n");
}

const HOW_MEASURED = `## How measured

- **Systems under test.** *Relay* is the compiled \`dist/relay\` (rebuilt first by \`bun scripts/build.ts --only binary\`
  when it is missing or older than \`src/\`), started as \`dist/relay --port P --host 127.0.0.1 --log-level warn
  --publish-rate 10000000 --publish-burst 10000000 --max-connections 1000000 --max-subscriptions 100000\` so its own
  rate limits do not cap the figures. *raw Bun* is \`scripts/bench/raw-bun-server.ts\`: about 30 lines of Bun.serve that
  speak the same JSON frames (sub: \`ws.subscribe\` + ack; pub: one \`server.publish\` of a msg frame built once + ack),
  with no validation, limits or metrics. It is the ceiling for our stack.
- **Processes.** Every run starts a fresh server on a free port of 127.0.0.1; it is ready when \`/proc/net/tcp\` shows it
  listening, so nothing connects before the measurement. The server is pinned to core 0 and the load generator to
  core 1 with \`taskset\`, both with a raised fd limit. The bench kills every process it started by PID, also on
  error or Ctrl-C.
- **Load generator.** \`scripts/bench/loadgen.ts\`, one process, the same program for both systems. Its WebSocket
  client (\`scripts/bench/ws-client.ts\`) runs over raw TCP (\`Bun.connect\`): the HTTP upgrade by hand, client frames
  masked with random keys, sends of one tick coalesced into one write, and a parse loop that tells a frame's op from
  one byte (both servers write \`{"op":"…\` first) instead of parsing JSON per delivered message. Setup (welcome,
  sub acks) and the latency scenario parse JSON properly.
- **Closed loop** (fan-out, many channels). One publisher keeps a fixed window of publishes in flight; a publish is in
  flight until its ack *and* all its deliveries are back, so the server's send buffers stay short and neither server
  meets its backpressure limit. After a warm-up (fresh servers need their JIT warm), deliveries counted at the
  subscribers over a 5 s window give messages/s.
- **CPU.** The generator's CPU is \`process.cpuUsage()\` over the measured window; the server's is utime+stime from
  \`/proc/PID/stat\` (CLK_TCK ticks) over the same window, both as a share of wall time (100% = one core). A side
  above ${SATURATED * 100}% is saturated. *generator-bound* means the generator's core was saturated: the figure is then
  what the generator could drive, and the Relay/raw ratio understates the gap between the servers. *neither
  saturated* means the window's round trips, not CPU, set the pace. The server CPU-seconds per million deliveries
  compare the servers' efficiency whichever side was the limit.
- **Other load.** The machine is shared (other sessions run tests and type checks on it), and with two cores any
  other process lands on the server's or the generator's core. Before each run the bench waits (up to 5 s, 60 s in
  all) until both cores are idle. During the run it reads \`/proc/stat\`: if other processes (or the hypervisor, as
  steal) took more than ${DISTURBED * 100}% of either core, a throughput or latency attempt is discarded and repeated, up to 3
  attempts per run and 8 repeats in all (memory runs are only flagged: RSS does not depend on a neighbour's CPU).
  Discarded attempts are listed under their tables, and a kept run that was still disturbed is named under Warnings:
  such figures measure the neighbours as much as the server, so rerun the bench on a quiet machine.
- **Latency.** Open loop: 1,000 publishes/s paced by a 1 ms timer that sends whatever is due, never waiting for acks.
  Each payload carries \`performance.now()\` at send; the subscribers are in the same process, so latency is receive
  time minus send time. Messages sent during the warm-up are not sampled; p50/p99/max are over every delivery to every
  subscriber in the window (nearest rank), then the median over runs.
- **Memory.** VmRSS and RssAnon from \`/proc/PID/status\` of a fresh server after it settled, before any client; then
  after opening the connections (250 at a time, each subscribed and acknowledged) and leaving them idle. Per
  connection = (RSS with - RSS idle) / connections, so any one-off growth the first clients cause is included. The
  server's CPU over a further idle period shows what idle connections cost in timers and sweeps.
- **Repeats.** Throughput and latency run 3 times per system, alternating Relay and raw Bun, and report the median
  run (the CPU and limit shown are that run's); every run is listed under its table. The 2-core VM is noisy: treat
  differences under about 10% as noise.`;

/** A loud note when counted runs shared their cores with other processes, or null. */
function disturbanceNote(summaries: ScenarioSummary[]): string | null {
  const counted = summaries.reduce((n, s) => n + s.counted, 0);
  const disturbed = summaries.reduce((n, s) => n + s.disturbed, 0);
  if (disturbed === 0) return null;
  return (
    `${disturbed} of ${counted} counted runs shared their cores with other processes (see Warnings under each table): ` +
    "their figures measure the neighbours as much as the servers. Rerun `npm run bench` on a quiet machine."
  );
}

/** docs/benchmarks.md. */
export function renderMarkdown(summaries: ScenarioSummary[], machine: Machine, plan: Plan, seconds: number): string {
  const summaryRows = summaries.flatMap((s) =>
    s.figures
      .filter((f) => f.target)
      .map((f) => [s.planned.title.split(":")[0]!, f.name, cell(f, f.relay, s.sides.relay), cell(f, f.raw, s.sides.raw), ratioText(f), targetText(f.target), verdictText(f, s.sides, true)]),
  );
  return [
    "# Benchmarks",
    "",
    "Written by `npm run bench` (scripts/bench.ts), which rewrites this file on every run: edit the script, not this file.",
    "",
    "## Machine and command",
    "",
    table(
      ["", ""],
      [
        ["CPU cores (nproc)", String(machine.cores)],
        ["CPU model", machine.cpuModel],
        ["Memory", `${machine.memoryGiB.toFixed(1)} GiB`],
        ["Kernel", machine.kernel],
        ["Bun", `${machine.bunVersion} (runs the bench, the raw server and the generator; dist/relay is compiled by it)`],
        ["Date", machine.date],
        ["Pinning", machine.pinned ? "server on core 0, load generator on core 1 (taskset)" : "none: taskset was not found, so the figures are unpinned"],
        ["Command", "`npm run bench`"],
        ["Duration", `${Math.round(seconds)} s`],
      ],
    ),
    "",
    "## Summary",
    "",
    ...(disturbanceNote(summaries) ? [`> **Warning:** ${disturbanceNote(summaries)}`, ""] : []),
    table(["Scenario", "Figure", "Relay", "raw Bun", "Relay/raw", "Target", "Result"], summaryRows),
    "",
    ...summaries.flatMap((s, i) => [scenarioSection(i + 1, s), ""]),
    HOW_MEASURED,
    "",
  ].join("\n");
}

/** The plain-text table printed at the end of a run. */
export function renderConsole(summaries: ScenarioSummary[]): string {
  const rows: string[][] = [["Figure", "Relay", "raw Bun", "Relay/raw", "Target", "Result", "Gen CPU R/raw", "Limit R/raw"]];
  for (const s of summaries) {
    for (const f of s.figures) {
      rows.push([
        `${s.planned.id}: ${f.name}`,
        cell(f, f.relay, s.sides.relay),
        cell(f, f.raw, s.sides.raw),
        ratioText(f),
        targetText(f.target),
        verdictText(f, s.sides, false),
        `${pct(s.sides.relay.generatorCpu)}/${pct(s.sides.raw.generatorCpu)}`,
        `${s.sides.relay.limit} / ${s.sides.raw.limit}`,
      ]);
    }
  }
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  const lines = rows.map((r) => r.map((cellText, c) => cellText.padEnd(widths[c]!)).join("  ").trimEnd());
  lines.splice(1, 0, widths.map((w) => "-".repeat(w)).join("  "));
  const warnings = summaries.flatMap((s) => s.warnings.map((w) => `warning: ${s.planned.id}: ${w}`));
  const note = disturbanceNote(summaries);
  return [...lines, ...warnings, ...(note ? [`WARNING: ${note}`] : [])].join("\n") + "\n";
}
