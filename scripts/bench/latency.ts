/**
 * Open-loop latency (the single-node latency scenario, and the mesh's per-hop latency): publishes
 * paced at a fixed rate to a few subscribers, each payload carrying its send time
 * (performance.now()). Publisher and subscribers live in this one process, so they share that clock
 * and latency is simply receive time minus send time, wherever the connections point.
 *
 * Open loop means the publisher never waits for acks or deliveries: a slow server cannot slow the
 * sender down and so hide its own delay. The send time is taken when the frame is built, just
 * before it is written; a late timer tick therefore sends a small burst rather than stamping
 * messages with times they were not sent at.
 */
import { CloseCounter, openClient, openSubscriber } from "./connections.ts";
import { ErrorLog, OP_ERROR, OP_MSG, parseFrame } from "./frames.ts";
import { endWindow, startWindow, type MeasuredWindow } from "./measure.ts";
import { percentile } from "./stats.ts";
import type { ErrorTally, LatencyResult, LatencyScenario } from "./types.ts";
import type { WsClient } from "./ws-client.ts";

/** Time after the last publish for its deliveries to arrive before counting losses. */
const DRAIN_MS = 500;

export interface LatencySpec {
  pubPort: number;
  /** One subscriber per entry, all on `channel`. */
  subPorts: readonly number[];
  channel: string;
  /** Every server process taking part, in the order perServerCpuSeconds reports them. */
  serverPids: readonly number[];
  ratePerSecond: number;
  payloadBytes: number;
  warmupMs: number;
  durationMs: number;
}

export interface LatencyOutcome extends MeasuredWindow {
  /** Publishes sent inside the measured window. */
  published: number;
  /** Latencies in ms of the publishes sent inside the window, one sorted list per subscriber (in subPorts order). */
  samples: Float64Array[];
  errors: ErrorTally;
  closes: number;
}

export interface LatencyLoop {
  publisher: WsClient;
  subscribers: readonly WsClient[];
  errors: ErrorLog;
  /** A complete publish frame with this id whose payload carries `sentAt`. */
  frame(id: number, sentAt: number): string;
  /** Paces the publishes, then closes every connection. Ids follow `idsUsed` (publishes already made, probes say). */
  run(idsUsed?: number): Promise<LatencyOutcome>;
}

/** A JSON payload `{"t":<send time>,"pad":"..."}` padded to about `bytes` bytes of JSON text. */
function payload(sentAt: number, bytes: number): string {
  const head = `{"t":${sentAt.toFixed(4)},"pad":"`;
  return head + "x".repeat(Math.max(0, bytes - head.length - 2)) + `"}`;
}

/** Connects the publisher and the subscribers; nothing is published until `run`. */
export async function openLatency(s: LatencySpec): Promise<LatencyLoop> {
  const errors = new ErrorLog();
  const closes = new CloseCounter();
  const subscribers = await Promise.all(s.subPorts.map((port) => openSubscriber(port, s.channel, errors, closes)));
  const publisher = await openClient(s.pubPort, errors, closes);
  const frame = (id: number, sentAt: number): string => `{"op":"pub","channel":"${s.channel}","data":${payload(sentAt, s.payloadBytes)},"id":${id}}`;

  const run = async (idsUsed = 0): Promise<LatencyOutcome> => {
    // The measured window is defined by send time: messages sent during warm-up are not sampled.
    const t0 = performance.now();
    const measureFrom = t0 + s.warmupMs;
    const measureTo = measureFrom + s.durationMs;
    const samples = subscribers.map(() => [] as number[]);
    let published = 0;

    subscribers.forEach((sub, i) => {
      const mine = samples[i]!;
      sub.onText = (buf, start, end) => {
        const op = buf[start + 7];
        if (op === OP_MSG) {
          const now = performance.now();
          const sentAt = (parseFrame(buf, start, end).data as { t: number }).t;
          if (sentAt >= measureFrom && sentAt < measureTo) mine.push(now - sentAt);
        } else if (op === OP_ERROR) {
          errors.add(buf, start, end);
        }
      };
    });
    // Acks are not waited for (open loop); only a refusal matters.
    publisher.onText = (buf, start, end) => {
      if (buf[start + 7] === OP_ERROR) errors.add(buf, start, end);
    };

    // Pacing: every millisecond, send whatever the schedule says is due by now.
    const total = Math.round(((s.warmupMs + s.durationMs) * s.ratePerSecond) / 1000);
    let sent = 0;
    const pacer = setInterval(() => {
      const due = Math.min(total, Math.floor(((performance.now() - t0) * s.ratePerSecond) / 1000));
      while (sent < due) {
        const sentAt = performance.now();
        publisher.send(frame(idsUsed + ++sent, sentAt));
        if (sentAt >= measureFrom && sentAt < measureTo) published++;
      }
      if (sent >= total) clearInterval(pacer);
    }, 1);

    await Bun.sleep(s.warmupMs);
    const win = startWindow(s.serverPids);
    await Bun.sleep(measureTo - performance.now());
    const measured = endWindow(win);
    await Bun.sleep(DRAIN_MS);
    clearInterval(pacer);
    const serverCloses = closes.count;
    for (const c of [publisher, ...subscribers]) c.close();

    return { ...measured, published, samples: samples.map((list) => Float64Array.from(list).sort()), errors: errors.toJSON(), closes: serverCloses };
  };

  return { publisher, subscribers, errors, frame, run };
}

export async function runLatency(s: LatencyScenario): Promise<LatencyResult> {
  const loop = await openLatency({
    ...s,
    pubPort: s.port,
    subPorts: Array<number>(s.subscribers).fill(s.port),
    channel: "bench-latency",
    serverPids: [s.serverPid],
  });
  const r = await loop.run();
  const sorted = Float64Array.from(r.samples.flatMap((list) => [...list])).sort();
  return {
    kind: "latency",
    window: r.window,
    published: r.published,
    received: sorted.length,
    expected: r.published * s.subscribers,
    p50Ms: percentile(sorted, 0.5),
    p99Ms: percentile(sorted, 0.99),
    maxMs: sorted.length ? sorted[sorted.length - 1]! : NaN,
    errors: r.errors,
    closes: r.closes,
  };
}
