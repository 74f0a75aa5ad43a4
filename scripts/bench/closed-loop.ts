/**
 * Closed-loop throughput (the fan-out and many-channels scenarios): one publisher, a window of
 * publishes in flight, delivered messages counted at the subscribers over a fixed window after a
 * warm-up.
 *
 * A publish stays "in flight" until its ack AND all its deliveries are back. Counting only acks
 * would let the publisher run ahead of the subscribers: the server would then pile frames into
 * send buffers (until Relay cuts slow consumers and raw Bun drops), and the figure would measure
 * buffering rather than delivery.
 */
import { CloseCounter, openClient, openSubscribers } from "./connections.ts";
import { ErrorLog, OP_ACK, OP_ERROR, OP_MSG, publishPrefix, stringPayload } from "./frames.ts";
import { endWindow, startWindow } from "./measure.ts";
import type { ClosedLoopResult, ClosedLoopScenario } from "./types.ts";
import type { TextHandler } from "./ws-client.ts";

/** Subscribers connected at once during setup. */
const SETUP_BATCH = 100;

export async function runClosedLoop(s: ClosedLoopScenario): Promise<ClosedLoopResult> {
  if (s.subscribers % s.channels !== 0) throw new Error("subscribers must be a multiple of channels, so every channel has the same fan-out");
  const perChannel = s.subscribers / s.channels;
  const channels = Array.from({ length: s.channels }, (_, i) => `bench-${i}`);
  const errors = new ErrorLog();
  const closes = new CloseCounter();

  const subscriberChannels = Array.from({ length: s.subscribers }, (_, i) => channels[i % s.channels]!);
  const subscribers = await openSubscribers(s.port, subscriberChannels, SETUP_BATCH, errors, closes);
  const publisher = await openClient(s.port, errors, closes);

  let delivered = 0;
  let acked = 0;
  let sent = 0;
  let running = true;
  const prefixes = channels.map((c) => publishPrefix(c, stringPayload(s.payloadBytes)));

  // Tops the window up. Called once per TCP read (not per frame), so a read that brings many acks
  // or deliveries turns into one batch of publishes and one write.
  const pump = (): void => {
    if (!running) return;
    const done = Math.min(acked, Math.floor(delivered / perChannel));
    while (sent - done < s.window) {
      // Round-robin over channels; ids start at 1 (any id makes the server ack).
      publisher.send(prefixes[sent % prefixes.length]! + (sent + 1) + "}");
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
  const win = startWindow(s.serverPid);
  await Bun.sleep(s.durationMs);
  const window = endWindow(win, s.serverPid);
  const deliveries = delivered - d0;
  const acks = acked - a0;
  running = false;
  // Read before closing: our own closes below must not count as the server's.
  const serverCloses = closes.count;

  for (const c of [publisher, ...subscribers]) c.close();
  return { kind: "closed-loop", window, deliveries, acks, errors: errors.toJSON(), closes: serverCloses };
}
