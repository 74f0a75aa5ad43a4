/**
 * `npm run soak`: a long run of mixed load and faults on a mesh of `dist/relay` processes
 * (issue 8). Not part of `npm test`.
 *
 * Mesh: 3-5 nodes (--nodes, default 4) on 127.0.0.1, port 0, one cluster key.
 * Load: publishers (--rate messages/s in all, over public and password-protected channels),
 * steady subscribers on every channel spread over the nodes (a third of them close and reconnect
 * every 20-40 s), and churned clients (connect, subscribe with echo, publish one, leave) on
 * short-lived channels, so the registry keeps opening and closing names.
 * Faults, one at a time, every --fault-every seconds: SIGKILL a node and restart it (same name,
 * new port), or SIGSTOP it for a few seconds and SIGCONT it. Clients of a lost node reconnect to
 * another.
 *
 * Accounting: every publish is tagged (publisher, sequence); each subscriber connection records
 * what it received. A message is "expected" at a subscriber connection that was subscribed
 * SETTLE_MS before the publish and stayed connected until GRACE_MS after its ack. Each expected
 * message is classified as steady (no fault anywhere in the mesh during its window) or fault
 * time; steady loss must be 0 and duplicates (a message twice on one connection) must be 0 at all
 * times, since Relay promises at-most-once, and exactly-once in steady state.
 *
 * Per node: RSS from /proc/PID/status every 5 s and its slope (MiB per hour, least-squares fit
 * past a warm-up); event-loop lag is NOT exposed by the node (no metric for it), so the p99 of a
 * GET /ping round trip every second stands in for it (a blocked loop answers late), leaving out
 * the node's own fault windows.
 *
 * Output: an event line per fault, a status line every 15 s, a report every minute, a summary
 * at the end. Exits 1 on a duplicate, a steady-state loss, a node that died by itself, or a
 * harness error.
 *
 * Usage: bun scripts/soak.ts [--minutes 30] [--nodes 4] [--rate 40] [--fault-every 90] [--seed N]
 */
import { readFileSync } from "node:fs";
import { ensureBuilt } from "../test/helpers/build.ts";
import { CLUSTER_KEY } from "../test/helpers/cluster.ts";
import { killAll, startRelay, type RelayProcess } from "../test/helpers/proc.ts";

// ---------------------------------------------------------------------------------------------
// Settings

function flag(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}
function num(name: string, fallback: number, min: number, max: number): number {
  const raw = flag(name);
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < min || n > max) {
    process.stderr.write(`soak: --${name} takes a number from ${min} to ${max}, not ${JSON.stringify(raw)}\n`);
    process.exit(2);
  }
  return n;
}

const MINUTES = num("minutes", 30, 0.25, 24 * 60);
const NODES = Math.round(num("nodes", 4, 3, 5));
const RATE = num("rate", 40, 1, 2000);
const DURATION_MS = MINUTES * 60_000;
// Faults every 90 s by default; short runs get them sooner so that a 1-minute check sees both kinds.
const FAULT_EVERY_MS = num("fault-every", Math.min(90, Math.max(15, (MINUTES * 60) / 4)), 5, 3600) * 1000;
const SEED = num("seed", Date.now() % 1_000_000, 0, 2 ** 32);
const REPORT_EVERY_MS = 60_000;
const STATUS_EVERY_MS = 15_000;

/** A subscriber counts for a message only once its subscription is this old (interest crosses the mesh in ~100 ms). */
const SETTLE_MS = 1_000;
/** A message is judged this long after its ack: later copies count as late. */
const GRACE_MS = 10_000;
/** A fault "touches" messages from this long before it starts to this long after the node is back. */
const FAULT_MARGIN_MS = 3_000;
const RECOVERY_MS = 10_000;
const DOWN_MS = 5_000;
const STOP_MS = 5_000;

const PUBLIC_CHANNELS = ["soak.a", "soak.b", "soak.c", "soak/d", "soak:e", "soak.f"];
const PROTECTED = new Map([
  ["soak.secret.1", "pw-one-soak"],
  ["soak.secret.2", "pw-two-soak"],
]);
const CHANNELS = [...PUBLIC_CHANNELS, ...PROTECTED.keys()];
const SUBSCRIBERS_PER_CHANNEL = 3;
const PUBLISHERS = 4;
const CHURN_EVERY_MS = 1_000;
const CHURN_CHANNELS = 20;

// ---------------------------------------------------------------------------------------------
// Small utilities

/** sfc32-ish PRNG: a run replays its choices (victims, channels) from --seed. */
let rngState = (SEED ^ 0x9e3779b9) >>> 0;
function rand(): number {
  rngState = (rngState + 0x6d2b79f5) >>> 0;
  let t = rngState;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const pick = <T>(items: readonly T[]): T => items[Math.floor(rand() * items.length)]!;

const t0 = performance.now();
const elapsed = () => performance.now() - t0;
const clock = (ms = elapsed()) => {
  const s = Math.floor(ms / 1000);
  return `${String(Math.floor(s / 60)).padStart(2, "0")}:${String(s % 60).padStart(2, "0")}`;
};
function say(line: string): void {
  process.stdout.write(`[soak ${clock()}] ${line}\n`);
}
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
function percentile(values: number[], p: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}
const fmt = (x: number | null, digits = 1) => (x === null ? "-" : x.toFixed(digits));
/** Least-squares slope of y over x; null with fewer than 3 points. */
function slope(points: [number, number][]): number | null {
  if (points.length < 3) return null;
  const n = points.length;
  let sx = 0, sy = 0, sxx = 0, sxy = 0;
  for (const [x, y] of points) {
    sx += x;
    sy += y;
    sxx += x * x;
    sxy += x * y;
  }
  const d = n * sxx - sx * sx;
  return d === 0 ? null : (n * sxy - sx * sy) / d;
}

let harnessErrors = 0;
function harnessError(what: string, err: unknown): void {
  harnessErrors++;
  say(`HARNESS ERROR: ${what}: ${err instanceof Error ? err.message : String(err)}`);
}

// ---------------------------------------------------------------------------------------------
// Nodes

interface ProcessLife {
  pid: number;
  startedAt: number;
  /** [ms since start of the run, RSS MiB]. */
  rss: [number, number][];
}

/** One node of the mesh across restarts: its name stays, its process and port change. */
class Slot {
  proc: RelayProcess | null = null;
  state: "up" | "down" | "stopped" = "down";
  readonly lives: ProcessLife[] = [];
  /** Exits we did not cause. */
  crashes: string[] = [];
  /** /ping round trips (ms), overall and since the last report, outside this node's faults. */
  readonly pings: number[] = [];
  pingsMinute: number[] = [];
  pingFailures = 0;
  private expectingExit = false;
  constructor(readonly index: number, readonly name: string) {}

  get url(): string | null {
    return this.state === "up" && this.proc ? this.proc.url : null;
  }

  async start(seeds: string[]): Promise<void> {
    // Info level: startRelay reads the port from the start-up line, logged at info.
    const args = ["--name", this.name, "--cluster-key", CLUSTER_KEY];
    for (const s of seeds) args.push("--seed", s);
    const proc = await startRelay({ extraArgs: args, startTimeoutMs: 20_000 });
    this.proc = proc;
    this.state = "up";
    this.expectingExit = false;
    this.lives.push({ pid: proc.proc.pid, startedAt: elapsed(), rss: [] });
    void proc.proc.exited.then((code) => {
      if (this.proc !== proc) return;
      if (!this.expectingExit) {
        const why = `${this.name} (pid ${proc.proc.pid}) exited by itself with ${code ?? proc.proc.signalCode}; stderr tail:\n${proc.stderr.text.slice(-2000)}`;
        this.crashes.push(why);
        say(`NODE DIED: ${why}`);
      }
      this.state = "down";
    });
  }

  async kill(): Promise<void> {
    if (!this.proc) return;
    this.expectingExit = true;
    this.state = "down";
    this.proc.proc.kill("SIGKILL");
    await this.proc.proc.exited;
  }

  stop(): void {
    if (!this.proc) return;
    this.state = "stopped";
    this.proc.proc.kill("SIGSTOP");
  }

  cont(): void {
    if (!this.proc) return;
    this.proc.proc.kill("SIGCONT");
    this.state = "up";
  }

  async shutdown(): Promise<void> {
    if (!this.proc) return;
    this.expectingExit = true;
    if (this.state === "stopped") this.proc.proc.kill("SIGCONT");
    await this.proc.stop("SIGTERM", 8_000).catch(() => undefined);
    this.state = "down";
  }

  /** RSS (MiB) of the live process from /proc; works while it is SIGSTOPped. */
  sampleRss(): void {
    const life = this.lives.at(-1);
    if (!life || this.state === "down") return;
    try {
      const status = readFileSync(`/proc/${life.pid}/status`, "utf8");
      const kb = Number(/^VmRSS:\s+(\d+)/m.exec(status)?.[1]);
      if (Number.isFinite(kb)) life.rss.push([elapsed(), kb / 1024]);
    } catch {
      // The process is gone; its exit handler says so.
    }
  }

  /** The RSS slope (MiB/h) of the longest-lived process, past a warm-up of a fifth of its life (at most 5 min). */
  rssSlope(): { slope: number | null; first: number | null; last: number | null; samples: number; windowMin: number } {
    const life = [...this.lives].sort((a, b) => b.rss.length - a.rss.length)[0];
    if (!life || life.rss.length === 0) return { slope: null, first: null, last: null, samples: 0, windowMin: 0 };
    const span = life.rss.at(-1)![0] - life.rss[0]![0];
    const warm = life.rss[0]![0] + Math.min(5 * 60_000, span / 5);
    const points = life.rss.filter(([t]) => t >= warm).map(([t, mib]): [number, number] => [t / 3_600_000, mib]);
    return { slope: slope(points), first: life.rss[0]![1], last: life.rss.at(-1)![1], samples: points.length, windowMin: (life.rss.at(-1)![0] - warm) / 60_000 };
  }
}

const slots: Slot[] = Array.from({ length: NODES }, (_, i) => new Slot(i, `soak-${i}`));
const liveSlots = () => slots.filter((s) => s.state === "up");
const seedOf = (s: Slot) => `127.0.0.1:${s.proc!.port}`;

async function getJson<T>(slot: Slot, path: string, timeoutMs = 2_000): Promise<T | null> {
  if (!slot.proc || slot.state !== "up") return null;
  try {
    const res = await fetch(`${slot.proc.httpUrl}${path}`, { signal: AbortSignal.timeout(timeoutMs) });
    return res.ok ? ((await res.json()) as T) : null;
  } catch {
    return null;
  }
}

/** Waits until every live node lists every live node alive; false at the deadline. */
async function waitConverged(timeoutMs: number): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    const live = liveSlots();
    const names = live.map((s) => s.name);
    const views = await Promise.all(live.map((s) => getJson<{ nodes: { name: string; state: string }[] }>(s, "/nodes")));
    if (views.every((v) => v && names.every((n) => v.nodes.some((m) => m.name === n && m.state === "alive")))) return true;
    await sleep(200);
  }
  return false;
}

// ---------------------------------------------------------------------------------------------
// Faults

interface FaultWindow {
  kind: "kill" | "stop";
  node: string;
  from: number;
  /** Until when it touches messages; Infinity while it lasts. */
  to: number;
}
const faults: FaultWindow[] = [];
const faultLog: string[] = [];

/** True when any fault touched [from, to]: the message's window is then "fault time", not steady. */
function faultDuring(from: number, to: number): boolean {
  return faults.some((f) => f.from - FAULT_MARGIN_MS <= to && f.to >= from);
}
function nodeFaulted(name: string, at: number): boolean {
  return faults.some((f) => f.node === name && f.from - 1_000 <= at && f.to >= at);
}

async function runFault(kind: "kill" | "stop"): Promise<void> {
  // Any node may be the victim; the others keep the mesh (at least 2 of them).
  const victim = pick(liveSlots());
  if (liveSlots().length < 3) return;
  const window: FaultWindow = { kind, node: victim.name, from: elapsed(), to: Infinity };
  faults.push(window);
  if (kind === "kill") {
    const pid = victim.proc!.proc.pid;
    await victim.kill();
    say(`fault: SIGKILL ${victim.name} (pid ${pid}); restarting in ${DOWN_MS / 1000} s`);
    await sleep(DOWN_MS);
    const seedFrom = pick(liveSlots());
    try {
      await victim.start([seedOf(seedFrom)]);
    } catch (err) {
      harnessError(`restart of ${victim.name}`, err);
      return;
    }
    const converged = await waitConverged(30_000);
    say(`fault: ${victim.name} restarted as pid ${victim.proc!.proc.pid} on port ${victim.proc!.port}; mesh ${converged ? "converged" : "NOT converged within 30 s"}`);
    faultLog.push(`${clock(window.from)} SIGKILL+restart ${victim.name}`);
  } else {
    victim.stop();
    say(`fault: SIGSTOP ${victim.name} for ${STOP_MS / 1000} s`);
    await sleep(STOP_MS);
    victim.cont();
    const converged = await waitConverged(30_000);
    say(`fault: SIGCONT ${victim.name}; mesh ${converged ? "converged" : "NOT converged within 30 s"}`);
    faultLog.push(`${clock(window.from)} SIGSTOP/CONT ${victim.name}`);
  }
  window.to = elapsed() + RECOVERY_MS;
}

// ---------------------------------------------------------------------------------------------
// Message accounting

interface Published {
  channel: string;
  pubNode: string;
  sentAt: number;
  ackAt: number | null;
}
/** Published messages not judged yet, by "publisher:seq". */
const pending = new Map<string, Published>();

/** One connection of a subscriber. */
interface Session {
  channel: string;
  node: string;
  subscribedAt: number | null;
  closedAt: number | null;
  /** Copies received of messages not judged yet. */
  received: Map<string, number>;
  /** Last sequence seen per publisher, for the order check. */
  lastSeq: Map<string, number>;
}
const sessions = new Set<Session>();

const totals = {
  published: 0,
  acked: 0,
  pubErrors: new Map<string, number>(),
  deliveries: 0,
  steadyExpected: 0,
  steadyDelivered: 0,
  steadyLost: 0,
  faultExpected: 0,
  faultLost: 0,
  duplicates: 0,
  outOfOrder: 0,
  late: 0,
  reconnects: 0,
  planned: 0,
  churn: 0,
  churnEchoed: 0,
  churnFailed: new Map<string, number>(),
};
let minute = { published: 0, deliveries: 0, steadyLost: 0, faultLost: 0, steadyExpected: 0, faultExpected: 0, duplicates: 0 };
const latencies: number[] = [];
const lostExamples: string[] = [];
const count = (m: Map<string, number>, k: string) => m.set(k, (m.get(k) ?? 0) + 1);

/** Judges every message whose grace has passed: who should have had it, and who did. */
function judge(now: number): void {
  for (const [key, msg] of pending) {
    const due = (msg.ackAt ?? msg.sentAt) + GRACE_MS;
    if (due > now) continue;
    pending.delete(key);
    if (msg.ackAt === null) {
      for (const s of sessions) s.received.delete(key); // never acknowledged: promised to nobody
      continue;
    }
    const faulty = faultDuring(msg.sentAt, msg.ackAt + GRACE_MS);
    for (const s of sessions) {
      const copies = s.received.get(key) ?? 0;
      s.received.delete(key);
      if (copies > 1) {
        totals.duplicates += copies - 1;
        minute.duplicates += copies - 1;
      }
      if (s.channel !== msg.channel) continue;
      const expected = s.subscribedAt !== null && s.subscribedAt <= msg.sentAt - SETTLE_MS && (s.closedAt === null || s.closedAt >= msg.ackAt + GRACE_MS);
      if (!expected) continue;
      if (faulty) {
        totals.faultExpected++;
        minute.faultExpected++;
        if (copies === 0) {
          totals.faultLost++;
          minute.faultLost++;
        }
      } else {
        totals.steadyExpected++;
        minute.steadyExpected++;
        if (copies === 0) {
          totals.steadyLost++;
          minute.steadyLost++;
          if (lostExamples.length < 10) lostExamples.push(`${key} on ${msg.channel}, published via ${msg.pubNode} at ${clock(msg.sentAt)}, subscriber on ${s.node} (subscribed ${clock(s.subscribedAt!)})`);
        } else totals.steadyDelivered++;
      }
    }
  }
  // Sessions closed long ago have nothing left to judge.
  for (const s of sessions) if (s.closedAt !== null && now - s.closedAt > 2 * GRACE_MS && s.received.size === 0) sessions.delete(s);
}

// ---------------------------------------------------------------------------------------------
// Clients

/** Picks a live node other than `avoid` when there is one. */
function nodeFor(avoid?: string): Slot | null {
  const live = liveSlots();
  if (live.length === 0) return null;
  const others = live.filter((s) => s.name !== avoid);
  return pick(others.length > 0 ? others : live);
}

let running = true;
/** Cleared when the load stops: publishers then leave for good while subscribers wait out the grace. */
let publishing = true;
const sockets = new Set<WebSocket>();

class Subscriber {
  private ws: WebSocket | null = null;
  private session: Session | null = null;
  private timer: ReturnType<typeof setTimeout> | null = null;

  constructor(
    readonly channel: string,
    readonly reconnecting: boolean,
    private preferred: number,
  ) {}

  connect(): void {
    if (!running) return;
    const slot = slots[this.preferred]?.state === "up" ? slots[this.preferred]! : nodeFor();
    if (!slot) return void setTimeout(() => this.connect(), 500);
    const ws = new WebSocket(slot.url!);
    this.ws = ws;
    sockets.add(ws);
    const session: Session = { channel: this.channel, node: slot.name, subscribedAt: null, closedAt: null, received: new Map(), lastSeq: new Map() };
    this.session = session;
    sessions.add(session);
    const password = PROTECTED.get(this.channel);
    ws.onopen = () => ws.send(JSON.stringify({ op: "sub", channel: this.channel, id: 1, ...(password ? { password } : {}) }));
    ws.onmessage = (ev) => {
      let f: { op?: string; id?: unknown; code?: string; data?: { p?: string; s?: number; t?: number } };
      try {
        f = JSON.parse(String(ev.data));
      } catch (err) {
        return harnessError("a subscriber got a frame that is not JSON", err);
      }
      if (f.op === "ack" && f.id === 1) session.subscribedAt = performance.now() - t0;
      else if (f.op === "error") {
        count(totals.pubErrors, `sub:${f.code}`);
        if (f.id === 1) ws.close(); // refused (e.g. channel_unavailable while the owner is down): try again
      } else if (f.op === "msg" && f.data && typeof f.data.p === "string" && typeof f.data.s === "number") {
        const key = `${f.data.p}:${f.data.s}`;
        totals.deliveries++;
        minute.deliveries++;
        const msg = pending.get(key);
        if (!msg) {
          totals.late++;
          return;
        }
        session.received.set(key, (session.received.get(key) ?? 0) + 1);
        const last = session.lastSeq.get(f.data.p);
        if (last !== undefined && f.data.s < last) totals.outOfOrder++;
        session.lastSeq.set(f.data.p, f.data.s);
        if (typeof f.data.t === "number" && !faultDuring(msg.sentAt, msg.sentAt)) latencies.push(performance.now() - t0 - f.data.t);
      }
    };
    ws.onclose = () => {
      sockets.delete(ws);
      session.closedAt = performance.now() - t0;
      if (this.timer) clearTimeout(this.timer);
      if (!running) return;
      totals.reconnects++;
      // Back to the preferred node when it is up again, else anywhere; a short jittered pause.
      setTimeout(() => this.connect(), 200 + rand() * 800);
    };
    if (this.reconnecting) {
      this.timer = setTimeout(() => {
        totals.planned++;
        this.preferred = Math.floor(rand() * NODES);
        ws.close();
      }, 20_000 + rand() * 20_000);
    }
  }

  close(): void {
    if (this.timer) clearTimeout(this.timer);
    this.ws?.close();
  }
}

class Publisher {
  private ws: WebSocket | null = null;
  private seq = 0;
  private node = "";
  private inflight = new Map<number, string>();
  private timer: ReturnType<typeof setInterval> | null = null;

  constructor(
    readonly id: string,
    private readonly perSecond: number,
  ) {}

  connect(): void {
    if (!running || !publishing) return;
    const slot = nodeFor();
    if (!slot) return void setTimeout(() => this.connect(), 500);
    const ws = new WebSocket(slot.url!);
    this.ws = ws;
    this.node = slot.name;
    sockets.add(ws);
    ws.onopen = () => {
      this.timer = setInterval(() => this.publish(), 1000 / this.perSecond);
    };
    ws.onmessage = (ev) => {
      const f = JSON.parse(String(ev.data)) as { op?: string; id?: number; code?: string };
      if (typeof f.id !== "number") return;
      const key = this.inflight.get(f.id);
      if (key === undefined) return;
      this.inflight.delete(f.id);
      if (f.op === "ack") {
        const msg = pending.get(key);
        if (msg) msg.ackAt = performance.now() - t0;
        totals.acked++;
      } else if (f.op === "error") count(totals.pubErrors, `pub:${f.code}`);
    };
    ws.onclose = () => {
      sockets.delete(ws);
      if (this.timer) clearInterval(this.timer);
      this.inflight.clear(); // unacked: promised to nobody
      if (running && publishing) setTimeout(() => this.connect(), 200 + rand() * 800);
    };
  }

  private publish(): void {
    const ws = this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) return;
    const channel = pick(CHANNELS);
    const s = ++this.seq;
    const key = `${this.id}:${s}`;
    const sentAt = performance.now() - t0;
    pending.set(key, { channel, pubNode: this.node, sentAt, ackAt: null });
    this.inflight.set(s, key);
    const password = PROTECTED.get(channel);
    ws.send(JSON.stringify({ op: "pub", channel, id: s, data: { p: this.id, s, t: sentAt }, ...(password ? { password } : {}) }));
    totals.published++;
    minute.published++;
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.ws?.close();
  }
}

/** A short-lived client: connects, subscribes with echo, publishes one message, leaves. */
function churnOnce(k: number): void {
  const slot = nodeFor();
  if (!slot) return;
  totals.churn++;
  const channel = `soak.churn.${k % CHURN_CHANNELS}`;
  const ws = new WebSocket(slot.url!);
  sockets.add(ws);
  let done = false;
  const finish = (outcome: string | null) => {
    if (done) return;
    done = true;
    if (outcome === null) totals.churnEchoed++;
    else count(totals.churnFailed, outcome);
    ws.close();
  };
  const timer = setTimeout(() => finish(slot.state === "up" ? "timeout" : "node_down"), 8_000);
  ws.onopen = () => ws.send(JSON.stringify({ op: "sub", channel, echo: true, id: 1 }));
  ws.onmessage = (ev) => {
    const f = JSON.parse(String(ev.data)) as { op?: string; id?: number; code?: string; data?: unknown };
    if (f.op === "ack" && f.id === 1) ws.send(JSON.stringify({ op: "pub", channel, id: 2, data: `churn ${k}` }));
    else if (f.op === "error") finish(`error:${f.code}`);
    else if (f.op === "msg" && f.data === `churn ${k}`) finish(null);
  };
  ws.onclose = () => {
    sockets.delete(ws);
    clearTimeout(timer);
    finish("closed");
  };
}

// ---------------------------------------------------------------------------------------------
// Sampling and reports

async function pingAll(): Promise<void> {
  await Promise.all(
    slots.map(async (slot) => {
      if (slot.state !== "up" || !slot.proc || nodeFaulted(slot.name, elapsed())) return;
      const started = performance.now();
      try {
        const res = await fetch(`${slot.proc.httpUrl}/ping`, { signal: AbortSignal.timeout(2_000) });
        await res.arrayBuffer();
        const ms = performance.now() - started;
        // A fault that began while the ping was out would make it slow for our reason, not the node's.
        if (nodeFaulted(slot.name, elapsed())) return;
        slot.pings.push(ms);
        slot.pingsMinute.push(ms);
      } catch {
        if (!nodeFaulted(slot.name, elapsed())) slot.pingFailures++;
      }
    }),
  );
}

async function statusLine(): Promise<void> {
  const health = await Promise.all(slots.map((s) => getJson<{ connections: number; members: number; peers: number }>(s, "/healthz")));
  const nodes = slots.map((s, i) => `${s.name}:${s.state === "up" ? (health[i] ? `${health[i]!.connections}c/${health[i]!.members}m` : "?") : s.state}`).join(" ");
  say(`published ${totals.published} (acked ${totals.acked})  delivered ${totals.deliveries}  judged steady ${totals.steadyExpected}/${minute.steadyExpected} (lost ${totals.steadyLost}), in faults ${totals.faultExpected} (lost ${totals.faultLost})  dup ${totals.duplicates}  pending ${pending.size}  nodes ${nodes}`);
}

function report(final: boolean): void {
  const head = final ? "SUMMARY" : "minute report";
  const m = minute;
  const lines: string[] = [];
  if (!final) {
    lines.push(`${head}: last minute published ${m.published}, delivered ${m.deliveries}; judged steady ${m.steadyExpected} (lost ${m.steadyLost}), in faults ${m.faultExpected} (lost ${m.faultLost}); duplicates ${m.duplicates}`);
  } else {
    lines.push(`${head} after ${clock()} (${NODES} nodes, ${RATE} msg/s, faults every ${FAULT_EVERY_MS / 1000} s, seed ${SEED})`);
  }
  lines.push(
    `  totals: published ${totals.published}, acked ${totals.acked}, deliveries ${totals.deliveries}; steady: expected ${totals.steadyExpected}, delivered ${totals.steadyDelivered}, lost ${totals.steadyLost}; ` +
      `fault time: expected ${totals.faultExpected}, lost ${totals.faultLost} (${totals.faultExpected ? ((100 * totals.faultLost) / totals.faultExpected).toFixed(2) : "0"}%); duplicates ${totals.duplicates}; out of order ${totals.outOfOrder}; late ${totals.late}`,
  );
  lines.push(
    `  clients: reconnects ${totals.reconnects} (planned ${totals.planned}); churned ${totals.churn}, echoed ${totals.churnEchoed}` +
      `${totals.churnFailed.size ? ` (failed: ${[...totals.churnFailed].map(([k, v]) => `${k} ${v}`).join(", ")})` : ""}` +
      `${totals.pubErrors.size ? `; errors: ${[...totals.pubErrors].map(([k, v]) => `${k} ${v}`).join(", ")}` : ""}; delivery latency p50 ${fmt(percentile(latencies, 50))} ms, p99 ${fmt(percentile(latencies, 99))} ms (steady)`,
  );
  for (const slot of slots) {
    const r = slot.rssSlope();
    const p99 = percentile(final ? slot.pings : slot.pingsMinute, 99);
    lines.push(
      `  ${slot.name}: ${slot.state.padEnd(7)} processes ${slot.lives.length}  RSS ${fmt(r.first, 0)} -> ${fmt(r.last, 0)} MiB, slope ${r.slope === null ? "-" : `${r.slope >= 0 ? "+" : ""}${r.slope.toFixed(1)}`} MiB/h (fit over ${r.samples} samples, ${r.windowMin.toFixed(1)} min)` +
        `  /ping p99 ${fmt(p99, 2)} ms${final ? ` (p50 ${fmt(percentile(slot.pings, 50), 2)}, max ${fmt(slot.pings.length ? Math.max(...slot.pings) : null, 1)}, ${slot.pings.length} pings, ${slot.pingFailures} failed)` : ""}`,
    );
    slot.pingsMinute = [];
  }
  if (final) {
    lines.push("  event-loop lag: the node exposes no lag metric, so /ping round-trip p99 (1/s per node, outside its own faults) stands in for it");
    lines.push(`  faults: ${faultLog.length ? faultLog.join("; ") : "none"}`);
    if (lostExamples.length) lines.push(`  steady losses, first ${lostExamples.length}:\n    ${lostExamples.join("\n    ")}`);
  }
  for (const l of lines) say(l);
  minute = { published: 0, deliveries: 0, steadyLost: 0, faultLost: 0, steadyExpected: 0, faultExpected: 0, duplicates: 0 };
}

// ---------------------------------------------------------------------------------------------
// The run

async function cleanup(): Promise<void> {
  running = false;
  for (const ws of sockets) ws.close();
  await Promise.all(slots.map((s) => s.shutdown()));
  await killAll();
}

process.on("SIGINT", () => {
  say("interrupted: stopping every node");
  void cleanup().then(() => process.exit(130));
});

async function main(): Promise<number> {
  say(`soak: ${MINUTES} min, ${NODES} nodes, ${RATE} msg/s over ${CHANNELS.length} channels (${PROTECTED.size} protected), faults every ${FAULT_EVERY_MS / 1000} s, seed ${SEED}`);
  await ensureBuilt();
  await slots[0]!.start([]);
  for (let i = 1; i < NODES; i++) await slots[i]!.start([seedOf(slots[0]!)]);
  if (!(await waitConverged(30_000))) throw new Error("the mesh did not converge within 30 s of starting");
  say(`mesh up: ${slots.map((s) => `${s.name}@${s.proc!.port}`).join(" ")}`);

  const subscribers: Subscriber[] = [];
  CHANNELS.forEach((channel, c) => {
    for (let k = 0; k < SUBSCRIBERS_PER_CHANNEL; k++) subscribers.push(new Subscriber(channel, k === SUBSCRIBERS_PER_CHANNEL - 1, (c + k) % NODES));
  });
  for (const s of subscribers) s.connect();
  const publishers = Array.from({ length: PUBLISHERS }, (_, i) => new Publisher(`p${i}`, RATE / PUBLISHERS));
  for (const p of publishers) p.connect();

  const end = t0 + DURATION_MS;
  let churnK = 0;
  const timers = [
    setInterval(() => churnOnce(churnK++), CHURN_EVERY_MS),
    setInterval(() => judge(elapsed()), 1_000),
    setInterval(() => void pingAll().catch((e) => harnessError("ping", e)), 1_000),
    setInterval(() => slots.forEach((s) => s.sampleRss()), 5_000),
    setInterval(() => void statusLine().catch((e) => harnessError("status", e)), STATUS_EVERY_MS),
    setInterval(() => report(false), REPORT_EVERY_MS),
  ];
  slots.forEach((s) => s.sampleRss());

  // Faults, one at a time, alternating kinds, until the last fault could not recover before the end.
  let nextFault = performance.now() + Math.min(FAULT_EVERY_MS, DURATION_MS / 5);
  let kind: "kill" | "stop" = "kill";
  while (performance.now() < end) {
    const left = end - performance.now();
    if (performance.now() >= nextFault && left > DOWN_MS + RECOVERY_MS + 5_000) {
      try {
        await runFault(kind);
      } catch (err) {
        harnessError(`fault ${kind}`, err);
      }
      kind = kind === "kill" ? "stop" : "kill";
      nextFault = performance.now() + FAULT_EVERY_MS;
      continue;
    }
    await sleep(Math.min(500, Math.max(0, end - performance.now())));
  }

  // Stop the load, let the last messages be judged, then report (the last minute's report first,
  // so a run of whole minutes shows one for each).
  report(false);
  publishing = false;
  for (const p of publishers) p.close();
  for (const t of timers) clearInterval(t);
  say(`load stopped; judging the last messages (${GRACE_MS / 1000} s of grace)`);
  await sleep(GRACE_MS + 500);
  judge(elapsed() + GRACE_MS + 1);
  running = false;
  for (const s of subscribers) s.close();
  slots.forEach((s) => s.sampleRss());
  report(true);

  const crashes = slots.flatMap((s) => s.crashes);
  const problems: string[] = [];
  if (totals.duplicates > 0) problems.push(`${totals.duplicates} duplicate deliveries`);
  if (totals.steadyLost > 0) problems.push(`${totals.steadyLost} messages lost in steady state`);
  if (crashes.length > 0) problems.push(`${crashes.length} node(s) died by themselves`);
  if (harnessErrors > 0) problems.push(`${harnessErrors} harness error(s)`);
  if (totals.steadyExpected === 0) problems.push("no message was judged in steady state (the run is too short or the mesh never settled)");
  say(problems.length ? `FAIL: ${problems.join("; ")}` : "PASS: no duplicates, no steady-state loss, no crash");
  return problems.length ? 1 : 0;
}

let code = 1;
try {
  code = await main();
} catch (err) {
  harnessError("the run", err);
}
await cleanup();
process.exit(code);
