/**
 * Open-loop latency: publishes paced at a fixed rate to a few subscribers, each payload carrying
 * its send time (performance.now()). Publisher and subscribers live in this one process, so they
 * share that clock and latency is simply receive time minus send time.
 *
 * Open loop means the publisher never waits for acks or deliveries: a slow server cannot slow the
 * sender down and so hide its own delay. The send time is taken when the frame is built, just
 * before it is written; a late timer tick therefore sends a small burst rather than stamping
 * messages with times they were not sent at.
 */
import { CloseCounter, openClient, openSubscribers } from "./connections.ts";
import { ErrorLog, OP_ERROR, OP_MSG, parseFrame } from "./frames.ts";
import { endWindow, startWindow } from "./measure.ts";
import { percentile } from "./stats.ts";
import type { LatencyResult, LatencyScenario } from "./types.ts";
import type { TextHandler } from "./ws-client.ts";

const CHANNEL = "bench-latency";
/** Time after the last publish for its deliveries to arrive before counting losses. */
const DRAIN_MS = 500;

/** A JSON payload `{"t":<send time>,"pad":"..."}` padded to about `bytes` bytes of JSON text. */
function payload(sentAt: number, bytes: number): string {
  const head = `{"t":${sentAt.toFixed(4)},"pad":"`;
  return head + "x".repeat(Math.max(0, bytes - head.length - 2)) + `"}`;
}

export async function runLatency(s: LatencyScenario): Promise<LatencyResult> {
  const errors = new ErrorLog();
  const closes = new CloseCounter();
  const subscribers = await openSubscribers(s.port, Array(s.subscribers).fill(CHANNEL), s.subscribers, errors, closes);
  const publisher = await openClient(s.port, errors, closes);

  // The measured window is defined by send time: messages sent during warm-up are not sampled.
  const t0 = performance.now();
  const measureFrom = t0 + s.warmupMs;
  const measureTo = measureFrom + s.durationMs;
  const latencies: number[] = [];
  let published = 0;

  const onDelivery: TextHandler = (buf, start, end) => {
    const op = buf[start + 7];
    if (op === OP_MSG) {
      const now = performance.now();
      const sentAt = (parseFrame(buf, start, end).data as { t: number }).t;
      if (sentAt >= measureFrom && sentAt < measureTo) latencies.push(now - sentAt);
    } else if (op === OP_ERROR) {
      errors.add(buf, start, end);
    }
  };
  // Acks are not waited for (open loop); only a refusal matters.
  const onAnswer: TextHandler = (buf, start, end) => {
    if (buf[start + 7] === OP_ERROR) errors.add(buf, start, end);
  };
  for (const sub of subscribers) sub.onText = onDelivery;
  publisher.onText = onAnswer;

  // Pacing: every millisecond, send whatever the schedule says is due by now.
  const total = Math.round(((s.warmupMs + s.durationMs) * s.ratePerSecond) / 1000);
  let sent = 0;
  const pacer = setInterval(() => {
    const due = Math.min(total, Math.floor(((performance.now() - t0) * s.ratePerSecond) / 1000));
    while (sent < due) {
      const sentAt = performance.now();
      publisher.send(`{"op":"pub","channel":"${CHANNEL}","data":${payload(sentAt, s.payloadBytes)},"id":${++sent}}`);
      if (sentAt >= measureFrom && sentAt < measureTo) published++;
    }
    if (sent >= total) clearInterval(pacer);
  }, 1);

  await Bun.sleep(s.warmupMs);
  const win = startWindow(s.serverPid);
  await Bun.sleep(measureTo - performance.now());
  const window = endWindow(win, s.serverPid);
  await Bun.sleep(DRAIN_MS);
  clearInterval(pacer);
  const serverCloses = closes.count;
  for (const c of [publisher, ...subscribers]) c.close();

  const sorted = Float64Array.from(latencies).sort();
  return {
    kind: "latency",
    window,
    published,
    received: sorted.length,
    expected: published * s.subscribers,
    p50Ms: percentile(sorted, 0.5),
    p99Ms: percentile(sorted, 0.99),
    maxMs: sorted.length ? sorted[sorted.length - 1]! : NaN,
    errors: errors.toJSON(),
    closes: serverCloses,
  };
}
