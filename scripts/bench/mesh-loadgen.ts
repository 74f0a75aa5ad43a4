/**
 * The mesh load generator process: `bun scripts/bench/mesh-loadgen.ts '<mesh scenario json>'`.
 *
 * It runs one scenario of mesh-types.ts (publisher and subscribers on different nodes) and prints
 * the result as one JSON line on stdout; progress and errors go to stderr. It reuses the single-node
 * bench's raw-TCP client, setup and frame helpers unchanged, so a chain figure and a single-node
 * figure come from the same client code and differ only in where the connections point.
 *
 * What a mesh adds over the single-node generator: the subscribers' interest must reach the
 * publisher's node before anything is delivered (docs/protocol.md: about 100 ms plus a crossing per
 * hop), so every scenario first publishes probes until every subscriber has one, lets the probes
 * drain, and only then starts counting.
 */
import { CloseCounter, openClient, openSubscriber, openSubscribers } from "./connections.ts";
import { ErrorLog, OP_ACK, OP_ERROR, OP_MSG, parseFrame, publishPrefix, stringPayload } from "./frames.ts";
import { coreTimes, cpuSeconds, type CoreTime } from "./procfs.ts";
import { percentile } from "./stats.ts";
import type { HopLatency, MeshFanoutResult, MeshFanoutScenario, MeshHopsResult, MeshHopsScenario, MeshResult, MeshScenario, MeshWindow } from "./mesh-types.ts";
import type { TextHandler, WsClient } from "./ws-client.ts";

const CHANNEL = "bench-mesh";
/** A run that takes this long past its planned length has hung; give up rather than stall the bench. */
const OVERRUN_MS = 90_000;
/** Probe publishes go out this often until every subscriber has one: often enough to see interest arrive within a few ms. */
const PROBE_EVERY_MS = 20;
/** After the last probe, the path is quiet once no delivery came for this long: stray probes must not count as measured deliveries. */
const PROBE_QUIET_MS = 300;
/** After a closed loop stops, time for what is still in flight to arrive before counting anything missing. */
const DRAIN_MS = 2_000;
/** After the last paced publish, time for its deliveries to arrive (latency.ts waits as long). */
const LATENCY_DRAIN_MS = 500;
/** Subscribers connected at once during setup (closed-loop.ts uses the same batch). */
const SETUP_BATCH = 100;

const log = (line: string): void => void process.stderr.write(`mesh-loadgen: ${line}\n`);

// ---- the measured window, over several server processes ----

interface WindowStart {
  wall: number;
  cpu: NodeJS.CpuUsage;
  servers: number[];
  cores: CoreTime[];
}

/** Like measure.ts startWindow, but for every node of a mesh: their CPU is summed, and kept per node. */
function startWindow(pids: readonly number[]): WindowStart {
  return { wall: performance.now(), cpu: process.cpuUsage(), servers: pids.map(cpuSeconds), cores: coreTimes() };
}

function endWindow(start: WindowStart, pids: readonly number[]): MeshWindow {
  const servers = pids.map(cpuSeconds);
  const cpu = process.cpuUsage(start.cpu);
  const cores = coreTimes();
  const perServer = servers.map((s, i) => s - start.servers[i]!);
  return {
    wallSeconds: (performance.now() - start.wall) / 1000,
    generatorCpuSeconds: (cpu.user + cpu.system) / 1e6,
    serverCpuSeconds: perServer.reduce((a, b) => a + b, 0),
    perServerCpuSeconds: perServer,
    cores: cores.map((c, i) => {
      const b = start.cores[i] ?? c;
      const span = c.total - b.total || NaN;
      return { processes: (c.processes - b.processes) / span, irq: (c.irq - b.irq) / span, steal: (c.steal - b.steal) / span };
    }),
  };
}

// ---- waiting for interest ----

/**
 * Publishes a probe every PROBE_EVERY_MS until every subscriber has received at least one, then
 * waits until every probe is acked and no delivery came for PROBE_QUIET_MS. Installs its own
 * handlers; the caller installs the measuring ones afterwards. Probes published before the
 * interest arrived are dropped by the mesh by design (a node with no interested subtree gets nothing).
 */
async function awaitInterest(
  publisher: WsClient,
  subscribers: readonly WsClient[],
  probe: (n: number) => string,
  timeoutMs: number,
  errors: ErrorLog,
): Promise<{ propagationMs: number; probes: number }> {
  const got = new Array<boolean>(subscribers.length).fill(false);
  let missing = subscribers.length;
  let lastDelivery = performance.now();
  let acked = 0;
  subscribers.forEach((sub, i) => {
    sub.onText = (buf, start, end) => {
      const op = buf[start + 7];
      if (op === OP_MSG) {
        lastDelivery = performance.now();
        if (!got[i]) {
          got[i] = true;
          missing--;
        }
      } else if (op === OP_ERROR) errors.add(buf, start, end);
    };
  });
  publisher.onText = (buf, start, end) => {
    const op = buf[start + 7];
    if (op === OP_ACK) acked++;
    else if (op === OP_ERROR) {
      errors.add(buf, start, end);
      acked++;
    }
  };
  const started = performance.now();
  let probes = 0;
  while (missing > 0) {
    if (performance.now() - started > timeoutMs) {
      throw new Error(`interest did not reach the publisher's node within ${timeoutMs} ms: ${missing} of ${subscribers.length} subscribers got none of ${probes} probes`);
    }
    publisher.send(probe(++probes));
    await Bun.sleep(PROBE_EVERY_MS);
  }
  const propagationMs = performance.now() - started;
  const quietBy = performance.now() + 10_000;
  while (acked < probes || performance.now() - lastDelivery < PROBE_QUIET_MS) {
    if (performance.now() > quietBy) throw new Error(`probes did not drain: ${acked} of ${probes} acked`);
    await Bun.sleep(25);
  }
  return { propagationMs, probes };
}

// ---- fan-out ----

async function runFanout(s: MeshFanoutScenario): Promise<MeshFanoutResult> {
  const errors = new ErrorLog();
  const closes = new CloseCounter();
  const subscribers = await openSubscribers(s.subPort, Array<string>(s.subscribers).fill(CHANNEL), SETUP_BATCH, errors, closes);
  const publisher = await openClient(s.pubPort, errors, closes);
  const prefix = publishPrefix(CHANNEL, stringPayload(s.payloadBytes));
  // Probes take ids 1..n and the measured loop continues after them, so no two publishes share an id.
  const { propagationMs, probes } = await awaitInterest(publisher, subscribers, (n) => prefix + n + "}", s.propagationTimeoutMs, errors);
  log(`interest reached the publisher's node after ${propagationMs.toFixed(0)} ms (${probes} probes)`);

  const perPublish = s.subscribers;
  let delivered = 0;
  let acked = 0;
  let sent = 0;
  let running = true;
  // Tops the window up, once per TCP read (not per frame), exactly as closed-loop.ts does.
  const pump = (): void => {
    if (!running) return;
    const done = Math.min(acked, Math.floor(delivered / perPublish));
    while (sent - done < s.window) {
      publisher.send(prefix + (probes + sent + 1) + "}");
      sent++;
    }
  };
  const onDelivery: TextHandler = (buf, start, end) => {
    const op = buf[start + 7];
    if (op === OP_MSG) delivered++;
    else if (op === OP_ERROR) errors.add(buf, start, end);
  };
  const onAnswer: TextHandler = (buf, start, end) => {
    const op = buf[start + 7];
    if (op === OP_ACK) acked++;
    else if (op === OP_ERROR) {
      // A refused publish is answered too: count it as done so the loop does not wait on it forever.
      errors.add(buf, start, end);
      acked++;
      delivered += perPublish;
    }
  };
  for (const sub of subscribers) {
    sub.onText = onDelivery;
    sub.onRead = pump;
  }
  publisher.onText = onAnswer;
  publisher.onRead = pump;

  pump();
  await Bun.sleep(s.warmupMs);
  const d0 = delivered;
  const a0 = acked;
  const win = startWindow(s.serverPids);
  await Bun.sleep(s.durationMs);
  const window = endWindow(win, s.serverPids);
  const deliveries = delivered - d0;
  const acks = acked - a0;
  running = false;

  // Let what is in flight arrive, then anything short of sent x subscribers was lost on the way.
  const drainBy = performance.now() + DRAIN_MS;
  while ((delivered < sent * perPublish || acked < sent) && performance.now() < drainBy) await Bun.sleep(20);
  const missing = sent * perPublish - delivered;
  const serverCloses = closes.count;
  for (const c of [publisher, ...subscribers]) c.close();
  return { kind: "mesh-fanout", window, propagationMs, probes, deliveries, acks, missing, errors: errors.toJSON(), closes: serverCloses };
}

// ---- per-hop latency ----

/** `{"t":<send time>,"pad":"..."}` padded to about `bytes` bytes of JSON text (as latency.ts builds it). */
function stamped(sentAt: number, bytes: number): string {
  const head = `{"t":${sentAt.toFixed(4)},"pad":"`;
  return head + "x".repeat(Math.max(0, bytes - head.length - 2)) + `"}`;
}

async function runHops(s: MeshHopsScenario): Promise<MeshHopsResult> {
  const errors = new ErrorLog();
  const closes = new CloseCounter();
  const subscribers = await Promise.all(s.subPorts.map((port) => openSubscriber(port, CHANNEL, errors, closes)));
  const publisher = await openClient(s.pubPort, errors, closes);
  const frame = (id: number): string => `{"op":"pub","channel":"${CHANNEL}","data":${stamped(performance.now(), s.payloadBytes)},"id":${id}}`;
  const { propagationMs, probes } = await awaitInterest(publisher, subscribers, frame, s.propagationTimeoutMs, errors);
  log(`interest reached the publisher's node after ${propagationMs.toFixed(0)} ms (${probes} probes)`);

  // The measured window is defined by send time: messages sent during warm-up are not sampled.
  const t0 = performance.now();
  const measureFrom = t0 + s.warmupMs;
  const measureTo = measureFrom + s.durationMs;
  const samples = s.subPorts.map(() => [] as number[]);
  let published = 0;
  subscribers.forEach((sub, i) => {
    const mine = samples[i]!;
    sub.onText = (buf, start, end) => {
      const op = buf[start + 7];
      if (op === OP_MSG) {
        const now = performance.now();
        const sentAt = (parseFrame(buf, start, end).data as { t: number }).t;
        if (sentAt >= measureFrom && sentAt < measureTo) mine.push(now - sentAt);
      } else if (op === OP_ERROR) errors.add(buf, start, end);
    };
  });
  // Open loop: acks are not waited for; only a refusal matters.
  publisher.onText = (buf, start, end) => {
    if (buf[start + 7] === OP_ERROR) errors.add(buf, start, end);
  };

  // Pacing, as latency.ts: every millisecond, send whatever the schedule says is due by now, each
  // stamped when its frame is built so a late tick sends a burst rather than mis-stamping.
  const total = Math.round(((s.warmupMs + s.durationMs) * s.ratePerSecond) / 1000);
  let sent = 0;
  const pacer = setInterval(() => {
    const due = Math.min(total, Math.floor(((performance.now() - t0) * s.ratePerSecond) / 1000));
    while (sent < due) {
      const sentAt = performance.now();
      publisher.send(frame(probes + ++sent));
      if (sentAt >= measureFrom && sentAt < measureTo) published++;
    }
    if (sent >= total) clearInterval(pacer);
  }, 1);

  await Bun.sleep(s.warmupMs);
  const win = startWindow(s.serverPids);
  await Bun.sleep(measureTo - performance.now());
  const window = endWindow(win, s.serverPids);
  await Bun.sleep(LATENCY_DRAIN_MS);
  clearInterval(pacer);
  const serverCloses = closes.count;
  for (const c of [publisher, ...subscribers]) c.close();

  const perHop: HopLatency[] = samples.map((list, hops) => {
    const sorted = Float64Array.from(list).sort();
    return {
      hops,
      received: sorted.length,
      expected: published,
      p50Ms: percentile(sorted, 0.5),
      p90Ms: percentile(sorted, 0.9),
      p99Ms: percentile(sorted, 0.99),
      maxMs: sorted.length ? sorted[sorted.length - 1]! : NaN,
    };
  });
  return { kind: "mesh-hops", window, propagationMs, probes, published, perHop, errors: errors.toJSON(), closes: serverCloses };
}

async function run(s: MeshScenario): Promise<MeshResult> {
  switch (s.kind) {
    case "mesh-fanout":
      return runFanout(s);
    case "mesh-hops":
      return runHops(s);
  }
}

const arg = process.argv[2];
if (!arg) {
  process.stderr.write("usage: bun scripts/bench/mesh-loadgen.ts '<mesh scenario json>'\n");
  process.exit(2);
}
const scenario = JSON.parse(arg) as MeshScenario;
setTimeout(() => {
  log(`${scenario.kind} did not finish in time; giving up`);
  process.exit(3);
}, OVERRUN_MS).unref();

try {
  const result = await run(scenario);
  process.stdout.write(JSON.stringify(result) + "\n");
  // Exit at once: the sockets are closed, and waiting for every FIN would only add time.
  process.exit(0);
} catch (err) {
  log(`${scenario.kind} failed: ${(err as Error).stack ?? err}`);
  process.exit(1);
}
