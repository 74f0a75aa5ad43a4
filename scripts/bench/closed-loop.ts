/**
 * Closed-loop throughput (the fan-out and many-channels scenarios, and the mesh fan-out): one
 * publisher, a window of publishes in flight, delivered messages counted at the subscribers over a
 * fixed window after a warm-up.
 *
 * A publish stays "in flight" until all its deliveries are back (and its ack, for a codec with
 * acks). Counting only what was sent would let the publisher run ahead of the subscribers: the
 * server would then pile frames into send buffers (until it cuts slow consumers or drops), and the
 * figure would measure buffering rather than delivery.
 *
 * The loop itself does not care where the connections point or which protocol they speak: publisher
 * and subscribers may sit on one server or on different nodes of a mesh, and the window samples the
 * CPU of every server named.
 */
import { codecFor, type CodecName, type Frame } from "./codecs/index.ts";
import { stringPayload } from "./codecs/payload.ts";
import { CloseCounter, openClient, openSubscribers, type Conn } from "./connections.ts";
import { ErrorLog } from "./error-log.ts";
import { endWindow, startWindow, type MeasuredWindow } from "./measure.ts";
import type { ClosedLoopResult, ClosedLoopScenario, ErrorTally } from "./types.ts";

/** Subscribers connected at once during setup. */
const SETUP_BATCH = 100;
/** After a single-node loop stops, time for what is in flight to arrive before counting it missing. */
const DRAIN_MS = 1_000;

export interface ClosedLoopSpec {
  codec: CodecName;
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
  /** Deliveries received by all subscribers inside the window. */
  deliveries: number;
  /** Publishes acknowledged inside the window (0 for codecs without acks). */
  acks: number;
  /** Publishes sent x their fan-out minus deliveries after the drain; without one, this includes what was still in flight. */
  missing: number;
  errors: ErrorTally;
  /** Connections the server closed during the run (a slow-consumer cut would show here). */
  closes: number;
}

export interface ClosedLoop {
  publisher: Conn;
  subscribers: readonly Conn[];
  errors: ErrorLog;
  /** Whether the codec answers publishes (the mesh's probes then wait for the answers). */
  acks: boolean;
  /** A complete publish frame with this id, on the channel the loop's round-robin gives it. */
  frame(id: number): Frame;
  /** Runs the loop and closes every connection. */
  run(options?: ClosedLoopRunOptions): Promise<ClosedLoopOutcome>;
}

/** Connects the publisher and the subscribers; nothing is published until `run`. */
export async function openClosedLoop(s: ClosedLoopSpec): Promise<ClosedLoop> {
  if (s.subscribers % s.channels.length !== 0) throw new Error("subscribers must be a multiple of channels, so every channel has the same fan-out");
  const codec = codecFor(s.codec);
  const perChannel = s.subscribers / s.channels.length;
  const errors = new ErrorLog();
  const closes = new CloseCounter();

  const subscriberChannels = Array.from({ length: s.subscribers }, (_, i) => s.channels[i % s.channels.length]!);
  const subscribers = await openSubscribers(s.subPort, codec, subscriberChannels, SETUP_BATCH, errors, closes);
  const publisher = await openClient(s.pubPort, codec, errors, closes);
  const payload = stringPayload(s.payloadBytes);
  const publishers = s.channels.map((c) => codec.publisher(c, payload));

  const run = async ({ idsUsed = 0, drainMs }: ClosedLoopRunOptions = {}): Promise<ClosedLoopOutcome> => {
    let delivered = 0;
    let acked = 0;
    let sent = 0;
    let running = true;
    const client = publisher.client;

    // Tops the window up. Called once per TCP read (not per message), so a read that brings many
    // deliveries turns into one batch of publishes and one write.
    const pump = (): void => {
      if (!running) return;
      const byDeliveries = Math.floor(delivered / perChannel);
      const done = codec.acks ? Math.min(acked, byDeliveries) : byDeliveries;
      while (sent - done < s.window) {
        // Round-robin over channels; ids only matter to codecs with acks.
        client.send(publishers[sent % publishers.length]!(idsUsed + sent + 1));
        sent++;
      }
    };

    const onDelivery = (): void => {
      delivered++;
    };
    const onRefusal = (text: string): void => {
      // A refused publish may be answered by an error and nothing else; count it done so the
      // loop does not wait on it forever.
      errors.note(text);
      acked++;
      delivered += perChannel;
    };
    for (const sub of subscribers) {
      sub.sink.msg = onDelivery;
      sub.client.onRead = pump;
    }
    publisher.sink.ack = () => void acked++;
    publisher.sink.error = onRefusal;
    client.onRead = pump;

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
      while ((delivered < sent * perChannel || (codec.acks && acked < sent)) && performance.now() < drainBy) await Bun.sleep(20);
    }
    const missing = sent * perChannel - delivered;
    // Read before closing: our own closes below must not count as the server's.
    const serverCloses = closes.count;

    for (const c of [publisher, ...subscribers]) c.client.close();
    return { ...measured, deliveries, acks, missing, errors: errors.toJSON(), closes: serverCloses };
  };

  return {
    publisher,
    subscribers,
    errors,
    acks: codec.acks,
    frame: (id) => publishers[(id - 1) % publishers.length]!(id),
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
  // Drained, so a server that drops messages (MQTT QoS 0 allows it) shows as missing deliveries:
  // each one also shrinks the window for good, which would otherwise pass for a slow server.
  const r = await loop.run({ drainMs: DRAIN_MS });
  return { kind: "closed-loop", window: r.window, deliveries: r.deliveries, acks: r.acks, missing: r.missing, errors: r.errors, closes: r.closes };
}
