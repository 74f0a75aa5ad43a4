/**
 * Renders the comparison (summary.ts's model): docs/benchmarks.md, rewritten on every full run, and
 * the plain-text tables printed at the end of `npm run bench`. Every figure is printed with its
 * range over the runs, and with the generator's CPU beside it.
 */
import type { CodecCheck } from "./check-codecs.ts";
import { DISTURBED } from "./interference.ts";
import type { Machine } from "./machine.ts";
import { fmt, fmtStat, SATURATED, type Row, type Section, type TargetResult } from "./summary.ts";

export interface Comparison {
  machine: Machine;
  /** Every system under test: its version and how it was started. */
  versions: { label: string; version: string; how: string }[];
  command: string;
  seconds: number;
  quick: boolean;
  checks: CodecCheck[];
  sections: Section[];
  targets: TargetResult[];
  /** Chart files by section id, relative to docs/. */
  charts: Record<string, string[]>;
  /** Problems that cost figures (a cluster that did not form, a run that failed every attempt). */
  problems: string[];
}

const pct = (share: number): string => (Number.isFinite(share) ? fmt(share * 100, "%") : "n/a");

function table(header: string[], rows: string[][]): string {
  const line = (cells: string[]) => `| ${cells.map((c) => c.replace(/\|/g, "\\|")).join(" | ")} |`;
  return [line(header), line(header.map(() => "---")), ...rows.map(line)].join("\n");
}

/** A figure's cell: median (range), flagged when the generator was the limit or the run was disturbed. */
function cell(row: Row, section: Section, metricId: string): string {
  if (row.skipped) return "skipped";
  const metric = section.metrics.find((m) => m.id === metricId)!;
  const stat = row.stats[metricId];
  if (!stat) return "n/a";
  const notes: string[] = [];
  if (row.generatorBound && metric.unit !== "MiB" && metric.unit !== "bytes") notes.push("generator-bound");
  if (row.disturbed) notes.push("disturbed");
  return fmtStat(stat, metric.unit) + (notes.length ? ` **${notes.join(", ")}**` : "");
}

function verdictText(t: TargetResult): string {
  return t.verdict === "n/a" ? "n/a" : `**${t.verdict}**`;
}

function sectionMarkdown(n: number, s: Section, charts: string[]): string {
  const header = ["System", ...s.metrics.map((m) => m.name), "Generator CPU", "Server CPU", "Limit"];
  const rows = s.rows.map((r) => [
    r.label,
    ...s.metrics.map((m) => cell(r, s, m.id)),
    r.skipped ? "" : pct(r.generatorCpu),
    r.skipped ? "" : pct(r.serverCpu),
    r.skipped ? `skipped: ${r.skipped}` : r.limit,
  ]);
  const parts = [
    `## ${n}. ${s.title}`,
    "",
    `${s.what}; ${s.reps === 1 ? "one run per system" : `median of ${s.reps} runs per system (range in brackets), systems alternating within each repetition`}. CPU and limit are the median run's.`,
    "",
    table(header, rows),
    "",
    ...charts.map((c) => `![${s.title}](${c})`),
    ...(charts.length ? [""] : []),
    ...s.notes.flatMap((note) => [note, ""]),
    "Every run:",
    "",
    ...s.rows.flatMap((r) => r.runLines.map((l) => `- ${r.label} ${l}`)),
  ];
  const warnings = s.rows.flatMap((r) => r.warnings.map((w) => `${r.label} ${w}`));
  if (warnings.length) parts.push("", "Warnings (these make the figures above suspect):", "", ...warnings.map((w) => `- ${w}`));
  return parts.join("\n");
}

function checksMarkdown(checks: CodecCheck[]): string {
  const lines = checks.flatMap((c) =>
    c.report ? c.report.verified.map((v) => `- ${c.report!.system} against \`${c.report!.client}\`: ${v}`) : [`- ${c.system}: **FAILED**: ${c.error} (its figures were not measured)`],
  );
  return [
    "## Codec checks",
    "",
    "Before measuring, each protocol codec of the load generator was checked once against that system's official client, on the same server",
    "(`scripts/bench/checks/`; alone: `bun scripts/bench/check-codecs.ts`). The official client ran through a recording proxy, so its bytes on",
    "the wire could be compared with ours:",
    "",
    ...lines,
  ].join("\n");
}

/**
 * What profiling found on the publish path, and what changed. Static text: it records the
 * investigation behind the figures (issue 7 asks for it); the figures above are this run's.
 */
const PROFILE_FINDINGS = `## Profile of the publish path: what was found, what changed

Found with \`bun --cpu-prof-md\` on the node under the fan-out load (1 publisher, 100 subscribers), and A/B runs of one server
against another on the same cores, alternating (figures from 2026-11-30 on this VM):

- **Bun's native \`publish\` was 58-67% of the node's CPU, our JS about 13%.** The cost is per delivery: a WebSocket frame
  built and written for each subscriber. The \`"n"\` sequence number on every message cost nothing measurable (raw Bun with and
  without it: 0.256 and 0.235 CPU-s per million deliveries).
- **Fix: protocol version 2 batches** (docs/protocol.md). The \`msg\` frames of one event-loop turn for one channel leave as one
  WebSocket message per subscriber, as NATS packs MSGs into one read. Raw Bun plain against raw Bun batched: 2.9-3.3M against
  9.1-9.8M deliveries/s, 0.30 against 0.10 CPU-s per million. The bench's Relay codec speaks v2, as the SDK does, and the raw
  Bun ceiling batches the same way for v2 clients, so the ratio to it is still Relay's own overhead.
- **JS per publish**, each fixed: valibot's generic object walk was 3.8% (a hand-written check now accepts well-formed \`pub\`
  frames; the schema still explains every refusal, and a property test holds the two equal); reading \`performance.timeOrigin\`
  on every clock read was 1.7%; topic names built, and \`subscriberCount\`/\`isSubscribed\` asked of Bun, on every publish
  (counts now live in JS beside the subscriptions); a lone node built a mesh frame and a dedup entry nobody would use.
- **The fan-out loop at a window of 64 was bistable** on this 2-core VM: after a hiccup, server and generator took turns at about
  50% CPU each and half the rate, for raw Bun and Relay alike, and which mode a run fell into decided the median. Fan-out now
  keeps 256 publishes in flight, as the mesh bench already did.
- **The load generator wrote once per read.** Its clients flushed queued frames in a microtask, which runs after each socket
  read's callback, so the publisher topping up its window from 100 subscribers' reads made one \`write(2)\` per read. On
  loopback the sender's write also runs the receiver's TCP input, so those writes were 32% of the generator's CPU under fan-out,
  and every Bun server was generator-bound near 6-8M deliveries/s. Flushing once per event-loop turn (\`setImmediate\`) took the
  generator to about 10.5M against the same servers; the same client serves every system, so the change favours none.
- **Per-turn batches at 1,000 channels** (found with the same profiler under the many-channels load, where each batch holds one
  frame): a \`Map\` set, delete and re-grown table per frame were 14% of the node's CPU. The batch now lives on its destination
  (the topic variant, the peer connection), with a list of destinations touched this turn: about 50 ns per frame instead of 200 in
  a micro-benchmark.
- **Idle memory.** A JavaScriptCore \`Map\` holding one entry takes about 266 bytes, and each subscribed client held two (its
  subscriptions and its admissions): 1,121 bytes of JS heap per idle connection. A flat array up to 16 channels
  (\`src/node/channel-map.ts\`) brought it to 807 bytes, and RSS per connection at 5,000 from about 3,730 to 3,540 bytes.`;

const HOW_MEASURED = `## How measured

- **Processes.** Every single-node run starts a fresh server on a free port of 127.0.0.1; it is ready when \`/proc/net/tcp\`
  shows it listening. The server is pinned to core 0 and the load generator to core 1 with \`taskset\`, both with a raised fd
  limit; a mesh's nodes all share core 0, so a mesh gets the same one core of server as a single server. The bench stops every
  process it started by PID, also on error or Ctrl-C. nats-server and mosquitto are the Debian packages, installed by the bench
  with \`apt-get\` when missing; a system that cannot run is reported as skipped, with the reason, never estimated.
- **One load generator for all.** \`scripts/bench/loadgen.ts\`, one process, the same program for every system. Its WebSocket client
  (\`ws-client.ts\`) runs over raw TCP: the upgrade by hand, masked frames, sends of one event-loop turn coalesced into one write, and a parse
  loop that hands each message to the system's codec (\`codecs/\`) as a byte range. A codec tells a delivery from anything else in a
  byte or two (NATS and MQTT through a small stream parser, since one WebSocket message may carry many of their messages), so
  parsing does not make the generator the limit. Publishes are fire-and-forget for every system (core NATS, MQTT QoS 0, Relay
  without an id): the same work asked of each server. Relay and raw Bun are spoken to in \`relay.v2.json\`, as the SDK speaks:
  one WebSocket message may hold several frames, split on newlines, just as one NATS or MQTT read may hold many messages.
- **Payloads.** The same bytes everywhere: a 64-byte JSON string, embedded as a value by the JSON protocols and carried raw by
  NATS and MQTT. Latency payloads carry their send time, \`performance.now()\`; subscribers live in the generator process, so
  latency is receive time minus send time on one clock.
- **Closed loop** (fan-out, many channels, mesh fan-out). One publisher keeps a fixed window of publishes in flight; a publish is in
  flight until all its deliveries are back, so no server's send buffers grow and none meets its slow-consumer limit. After a
  warm-up, deliveries counted at the subscribers over a 5 s window give messages/s.
- **Latency.** Open loop: 1,000 publishes/s paced by a 1 ms timer that sends whatever is due, never waiting. p50/p99/p99.9/max are
  over every delivery to every subscriber in the window (nearest rank), then the median over runs.
- **Memory.** VmRSS from \`/proc/PID/status\` of the fresh server after it settled, before any client; then after opening the
  connections (250 at a time, each subscribed and confirmed) and leaving them idle, at each step. Per connection = (RSS with N -
  RSS before) / N, so any one-off growth the first clients cause is included. Server CPU over a further idle period shows what
  idle connections cost in timers and pings.
- **Connection rate.** Connections opened with 100 in progress at once, each counted when its protocol handshake is done
  (Relay's welcome, NATS CONNECT + PING/PONG, MQTT CONNACK, the Socket.IO namespace connect, the ws upgrade).
- **CPU and limits.** The generator's CPU is \`process.cpuUsage()\` over the measured window, the server's is utime+stime from
  \`/proc/PID/stat\` over the same window (summed over a mesh's nodes), both as a share of one core. A side above ${SATURATED * 100}% is
  saturated. **generator-bound** means the generator's core was saturated: the figure is what the generator could drive, not what
  the server can do, and ratios against it understate the server's headroom. *neither saturated* means round trips, not CPU, set
  the pace.
- **Other load.** The machine may be shared. Before each run the bench waits (up to 5 s) until both cores are idle; during the run
  it reads \`/proc/stat\`: if other processes (or the hypervisor, as steal) took more than ${DISTURBED * 100}% of either core, a throughput
  or latency attempt is discarded and repeated, within a budget. Discarded attempts are listed under their tables; a kept run that
  was still disturbed is marked **disturbed**: such figures measure the neighbours as much as the server.
- **Anchors' configuration.** Every anchor runs at its defaults except what the bench needs to reach it (listed under "Versions and
  configuration"); none is tuned below its defaults. Relay's own per-connection rate limits are raised so they do not cap it.`;

/** docs/benchmarks.md. */
export function renderMarkdown(c: Comparison): string {
  const m = c.machine;
  const targetRows = c.targets.map((t) => [t.section.split(":")[0]!, t.metric, t.text, fmt(t.value, t.unit), verdictText(t), t.note]);
  return [
    "# Benchmarks",
    "",
    "Written by `npm run bench` (scripts/bench.ts), which rewrites this file and `docs/bench/*.svg` on every full run: edit the script, not this file.",
    "Relay against raw Bun.serve (the ceiling for our stack), nats-server, mosquitto, Socket.IO and a plain `ws` relay, all on 127.0.0.1,",
    "driven by one load generator; then a 3- and 5-node Relay mesh against NATS clusters of the same size.",
    "",
    "## Machine and command",
    "",
    table(
      ["", ""],
      [
        ["CPU cores (nproc)", String(m.cores)],
        ["CPU model", m.cpuModel],
        ["Memory", `${m.memoryGiB.toFixed(1)} GiB`],
        ["Kernel", m.kernel],
        ["Bun", `${m.bunVersion} (runs the bench, the raw server and the generator; dist/relay is compiled by it)`],
        ["Date", m.date],
        ["Pinning", m.pinned ? "servers on core 0, load generator on core 1 (taskset)" : "none: taskset was not found, so the figures are unpinned"],
        ["Command", `\`${c.command}\``],
        ["Duration", `${Math.round(c.seconds)} s`],
      ],
    ),
    "",
    "## Versions and configuration",
    "",
    table(["System", "Version", "Started as"], c.versions.map((v) => [v.label, v.version, v.how])),
    "",
    "## Targets",
    "",
    "Ratios of medians measured in this run. A target resting on a generator-bound or disturbed figure says so.",
    "",
    table(["Scenario", "Figure", "Target", "Measured", "Result", "Note"], targetRows),
    "",
    ...(c.problems.length ? ["Problems in this run:", "", ...c.problems.map((p) => `- ${p}`), ""] : []),
    ...c.sections.flatMap((s, i) => [sectionMarkdown(i + 1, s, c.charts[s.id] ?? []), ""]),
    checksMarkdown(c.checks),
    "",
    PROFILE_FINDINGS,
    "",
    HOW_MEASURED,
    "",
  ].join("\n");
}

/** Pads a table of cells into aligned text. */
function textTable(rows: string[][]): string[] {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length)));
  const lines = rows.map((r) => r.map((cellText, i) => cellText.padEnd(widths[i]!)).join("  ").trimEnd());
  lines.splice(1, 0, widths.map((w) => "-".repeat(w)).join("  "));
  return lines;
}

/** The plain-text tables printed at the end of a run. */
export function renderConsole(c: Comparison): string {
  const out: string[] = [];
  for (const s of c.sections) {
    out.push("", `== ${s.title} (${s.reps === 1 ? "1 run" : `median (range) of ${s.reps} runs`})`);
    const header = ["System", ...s.metrics.map((m) => m.name), "Gen CPU", "Srv CPU", "Limit"];
    const rows = s.rows.map((r) =>
      r.skipped ? [r.label, "skipped"] : [r.label, ...s.metrics.map((m) => cell(r, s, m.id).replace(/\*\*/g, "")), pct(r.generatorCpu), pct(r.serverCpu), r.limit],
    );
    out.push(...textTable([header, ...rows]));
    for (const r of s.rows) if (r.skipped) out.push(`  skipped: ${r.label}: ${r.skipped}`);
    for (const r of s.rows) for (const w of r.warnings) out.push(`  warning: ${r.label} ${w}`);
  }
  out.push("", "== Targets");
  out.push(...textTable([["Target", "Figure", "Measured", "Result", "Note"], ...c.targets.map((t) => [t.text, `${t.section.split(":")[0]}: ${t.metric}`, fmt(t.value, t.unit), t.verdict, t.note])]));
  for (const p of c.problems) out.push(`problem: ${p}`);
  return out.join("\n") + "\n";
}
