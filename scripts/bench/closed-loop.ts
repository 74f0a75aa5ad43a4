/**
 * Closed-loop throughput (the fan-out and many-channels scenarios, and the mesh's fan-out): one
 * publisher, a window of publishes in flight, delivered messages counted at the subscribers over a
 * fixed window after a warm-up.
 *
 * A publish stays "in flight" until its ack AND all its deliveries are back. Counting only acks
 * would let the publisher run ahead of the subscribers: the server would then pile frames into
 * send buffers (until Relay cuts slow consumers and raw Bun drops), and the figure would measure
 * buffering rather than delivery.
 *
 * The loop itself does not care where the connections point: publisher and subscribers may sit on
 * one server or on different nodes of a mesh, and the window samples the CPU of every server named.
 */
import { CloseCounter, openClient, openSubscribers } from "./connections.ts";
import { ErrorLog, OP_ACK, OP_ERROR, OP_MSG, publishPrefix, stringPayload } from "./frames.ts";
import { endWindow, startWindow, type MeasuredWindow } from "./measure.ts";
import type { ClosedLoopResult, ClosedLoopScenario, ErrorTally } from "./types.ts";
import type { TextHandler, WsClient } from "./ws-client.ts";

/** Subscribers connected at once during setup. */
const SETUP_BATCH = 100;

export interface ClosedLoopSpec {
  pubPort: number;
  subPort: number;
  /** Every server process taking part, in the order perServerCpuSeconds reports them. */
  serverPids: readonly number[];
  /** Subscriber i joins channels[i % channels.length]. */
  channels: readonly string[];
  subscribers: number;
  payloadBytes: number;
  window: number;
  warmupMs: number;
  durationMs: number;
}

export interface ClosedLoopRunOptions {
  /** Publish ids already taken (by probes, say); the loop's ids follow them so no two publishes share one. */
  idsUsed?: number;
  /** After the loop stops, wait up to this long for what is in flight, so `missing` counts only losses. */
  drainMs?: number;
}

export interface ClosedLoopOutcome extends MeasuredWindow {
  /** msg frames received by all subscribers inside the window. */
  deliveries: number;
  /** Publishes acknowledged inside the window. */
  acks: number;
  /** Publishes sent x their fan-out minus deliveries after the drain; without one, this includes what was still in flight. */
  missing: number;
  errors: ErrorTally;
  /** Connections the server closed during the run (a slow-consumer cut would show here). */
  closes: number;
}

export interface ClosedLoop {
  publisher: WsClient;
  subscribers: readonly WsClient[];
  errors: ErrorLog;
  /** A complete publish frame with this id, on the channel the loop's round-robin gives it. */
  frame(id: number): string;
  /** Runs the loop and closes every connection. */
  run(options?: ClosedLoopRunOptions): Promise<ClosedLoopOutcome>;
}

/** Connects the publisher and the subscribers; nothing is published until `run`. */
export async function openClosedLoop(s: ClosedLoopSpec): Promise<ClosedLoop> {
  if (s.subscribers % s.channels.length !== 0) throw new Error("subscribers must be a multiple of channels, so every channel has the same fan-out");
  const perChannel = s.subscribers / s.channels.length;
  const errors = new ErrorLog();
  const closes = new CloseCounter();

  const subscriberChannels = Array.from({ length: s.subscribers }, (_, i) => s.channels[i % s.channels.length]!);
  const subscribers = await openSubscribers(s.subPort, subscriberChannels, SETUP_BATCH, errors, closes);
  const publisher = await openClient(s.pubPort, errors, closes);
  const prefixes = s.channels.map((c) => publishPrefix(c, stringPayload(s.payloadBytes)));

  const run = async ({ idsUsed = 0, drainMs }: ClosedLoopRunOptions = {}): Promise<ClosedLoopOutcome> => {
    let delivered = 0;
    let acked = 0;
    let sent = 0;
    let running = true;

    // Tops the window up. Called once per TCP read (not per frame), so a read that brings many acks
    // or deliveries turns into one batch of publishes and one write.
    const pump = (): void => {
      if (!running) return;
      const done = Math.min(acked, Math.floor(delivered / perChannel));
      while (sent - done < s.window) {
        // Round-robin over channels; any id makes the server ack.
        publisher.send(prefixes[sent % prefixes.length]! + (idsUsed + sent + 1) + "}");
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
      if (op === OP_ACK) {
        acked++;
      } else if (op === OP_ERROR) {
        // A refused publish is answered too; count it so the loop does not wait on it forever.
        errors.add(buf, start, end);
        acked++;
        delivered += perChannel;
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
    const measured = endWindow(win);
    const deliveries = delivered - d0;
    const acks = acked - a0;
    running = false;

    if (drainMs !== undefined) {
      const drainBy = performance.now() + drainMs;
      while ((delivered < sent * perChannel || acked < sent) && performance.now() < drainBy) await Bun.sleep(20);
    }
    const missing = sent * perChannel - delivered;
    // Read before closing: our own closes below must not count as the server's.
    const serverCloses = closes.count;

    for (const c of [publisher, ...subscribers]) c.close();
    return { ...measured, deliveries, acks, missing, errors: errors.toJSON(), closes: serverCloses };
  };

  return {
    publisher,
    subscribers,
    errors,
    frame: (id) => prefixes[(id - 1) % prefixes.length]! + id + "}",
    run,
  };
}

export async function runClosedLoop(s: ClosedLoopScenario): Promise<ClosedLoopResult> {
  const loop = await openClosedLoop({
    ...s,
    pubPort: s.port,
    subPort: s.port,
    serverPids: [s.serverPid],
    channels: Array.from({ length: s.channels }, (_, i) => `bench-${i}`),
  });
  const r = await loop.run();
  return { kind: "closed-loop", window: r.window, deliveries: r.deliveries, acks: r.acks, errors: r.errors, closes: r.closes };
}
