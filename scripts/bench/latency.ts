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
import { codecFor, type CodecName, type Frame } from "./codecs/index.ts";
import { sentTimeOf, timedPayload } from "./codecs/payload.ts";
import { CloseCounter, openClient, openSubscriber, type Conn } from "./connections.ts";
import { ErrorLog } from "./error-log.ts";
import { endWindow, startWindow, type MeasuredWindow } from "./measure.ts";
import { percentile } from "./stats.ts";
import type { ErrorTally, LatencyResult, LatencyScenario } from "./types.ts";

/** Time after the last publish for its deliveries to arrive before counting losses. */
const DRAIN_MS = 500;

export interface LatencySpec {
  codec: CodecName;
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
  publisher: Conn;
  subscribers: readonly Conn[];
  errors: ErrorLog;
  /** Whether the codec answers publishes. */
  acks: boolean;
  /** A complete publish frame with this id whose payload carries `sentAt`. */
  frame(id: number, sentAt: number): Frame;
  /** Paces the publishes, then closes every connection. Ids follow `idsUsed` (publishes already made, probes say). */
  run(idsUsed?: number): Promise<LatencyOutcome>;
}

/** Connects the publisher and the subscribers; nothing is published until `run`. */
export async function openLatency(s: LatencySpec): Promise<LatencyLoop> {
  const codec = codecFor(s.codec);
  const errors = new ErrorLog();
  const closes = new CloseCounter();
  const subscribers = await Promise.all(s.subPorts.map((port) => openSubscriber(port, codec, s.channel, errors, closes)));
  const publisher = await openClient(s.pubPort, codec, errors, closes);
  // Not the hot path (1,000 publishes/s): a frame is built per publish, with its own send time.
  const frame = (id: number, sentAt: number): Frame => codec.publisher(s.channel, timedPayload(sentAt, s.payloadBytes))(id);

  const run = async (idsUsed = 0): Promise<LatencyOutcome> => {
    // The measured window is defined by send time: messages sent during warm-up are not sampled.
    const t0 = performance.now();
    const measureFrom = t0 + s.warmupMs;
    const measureTo = measureFrom + s.durationMs;
    const samples = subscribers.map(() => [] as number[]);
    let published = 0;

    subscribers.forEach((sub, i) => {
      const mine = samples[i]!;
      sub.sink.msg = (buf, start, end) => {
        const now = performance.now();
        const sentAt = sentTimeOf(buf, start, end);
        if (sentAt >= measureFrom && sentAt < measureTo) mine.push(now - sentAt);
      };
    });

    // Pacing: every millisecond, send whatever the schedule says is due by now.
    const total = Math.round(((s.warmupMs + s.durationMs) * s.ratePerSecond) / 1000);
    let sent = 0;
    const pacer = setInterval(() => {
      const due = Math.min(total, Math.floor(((performance.now() - t0) * s.ratePerSecond) / 1000));
      while (sent < due) {
        const sentAt = performance.now();
        publisher.client.send(frame(idsUsed + ++sent, sentAt));
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
    for (const c of [publisher, ...subscribers]) c.client.close();

    return { ...measured, published, samples: samples.map((list) => Float64Array.from(list).sort()), errors: errors.toJSON(), closes: serverCloses };
  };

  return { publisher, subscribers, errors, acks: codec.acks, frame, run };
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
    p999Ms: percentile(sorted, 0.999),
    maxMs: sorted.length ? sorted[sorted.length - 1]! : NaN,
    errors: r.errors,
    closes: r.closes,
  };
}
