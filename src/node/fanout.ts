import type { Server } from "bun";
import { isChannelName, joinJsonFrames, joinMsgpackFrames, msgFrameJson, msgFrameMsgpack, payloadToJson, utf8Length, type JsonPayload, type Payload } from "../protocol/index.ts";
import type { Metrics } from "./metrics.ts";
import type { ClientSocket, Session } from "./session.ts";
import { variantIndex, type LocalSubscriptions, type TopicVariant } from "./subscriptions.ts";
import { TurnBatches } from "./turn-batches.ts";

/**
 * A version 2 batch is sent as soon as it holds this many bytes, without waiting for the end of
 * the turn: it bounds the message a client must take in at once, and the memory a burst can hold.
 */
const BATCH_MAX_BYTES = 64 * 1024;

/** Client ids as the node makes them (see server.ts); anything else in `from` is dropped, never sent. */
const CLIENT_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * Fan-out: the only caller of server.publish. A message is encoded at most once per encoding
 * (only for encodings that have subscribers) and handed to Bun's native topic fan-out; no JS code
 * here runs per subscriber. Version 2 clients get the messages of one event-loop turn as one
 * WebSocket message per topic (turn-batches.ts).
 *
 * Two doors: publishFromClient (a local client published) and deliverFromPeer (the mesh brought a
 * message from another node). The mesh plugs in through `forward`.
 */
export class Fanout {
  /**
   * @param forward hands a locally published message to the mesh; a no-op on a lone node.
   */
  constructor(
    private readonly server: Server<Session>,
    private readonly subs: LocalSubscriptions,
    private readonly metrics: Metrics,
    private readonly forward: (channel: string, instance: string, data: Payload, from: string, n: number) => void = () => {},
  ) {}

  /**
   * Delivers a client's publish to local subscribers of the channel instance it was admitted to,
   * and forwards it to the mesh. The publisher is skipped unless it subscribed with `echo`.
   * @param json the payload already encoded as JSON text, when the publisher sent JSON (saves a stringify).
   */
  publishFromClient(sender: ClientSocket, channel: string, instance: string, n: number, data: Payload, json: JsonPayload | null): void {
    const from = sender.data.id;
    const echo = sender.data.echo?.has(channel) === true;
    this.deliver(channel, instance, data, json, from, n, echo ? null : sender);
    this.forward(channel, instance, data, from, n);
  }

  /**
   * Delivers a message that arrived from another node to local subscribers. The channel and the
   * publisher id are concatenated into JSON frames unescaped, so both are checked here; a message
   * that fails is dropped and false is returned for the caller to log.
   */
  deliverFromPeer(channel: string, instance: string, data: Payload, from: string | undefined, n: number | undefined): boolean {
    if (!isChannelName(channel) || (from !== undefined && !CLIENT_ID.test(from))) return false;
    this.deliver(channel, instance, data, null, from, n, null);
    return true;
  }

  private deliver(channel: string, instance: string, data: Payload, json: JsonPayload | null, from: string | undefined, n: number | undefined, exclude: ClientSocket | null): void {
    const topics = this.subs.topics(instance);
    if (topics === undefined) return;
    // Encode every needed encoding before sending any, so a message reaches all subscribers or none.
    let jsonFrame: string | null = null;
    let jsonBytes = 0;
    if (topics[0].count + topics[1].count > 0) {
      const payload = json ?? payloadToJson(data);
      jsonFrame = msgFrameJson(channel, from, payload, n);
      // The envelope around the payload is ASCII (channel grammar, client ids, digits), so only the payload needs measuring.
      jsonBytes = payload.bytes === undefined ? utf8Length(jsonFrame) : jsonFrame.length - payload.text.length + payload.bytes;
    }
    const msgpackFrame = topics[2].count + topics[3].count > 0 ? msgFrameMsgpack(channel, from, data, n) : null;
    // The sender is in a topic exactly when it holds this instance (subscriptions.ts keeps both in step).
    const senderIn = exclude !== null && exclude.data.subs.get(channel) === instance ? variantIndex(exclude.data.encoding, exclude.data.batch) : -1;
    for (let i = 0; i < 4; i++) {
      const variant = topics[i]!;
      if (variant.count === 0) continue;
      const frame = variant.encoding === "json" ? jsonFrame! : msgpackFrame!;
      const bytes = typeof frame === "string" ? jsonBytes : frame.byteLength;
      let recipients = variant.count;
      if (i === senderIn) {
        // ws.publish reaches every subscriber but the sender; a batch cannot leave one reader out,
        // so this message goes alone, after what is already queued for the topic (order holds).
        if (variant.batch) this.batches.flush(variant);
        exclude!.publish(variant.topic, frame);
        recipients--;
      } else if (variant.batch) {
        this.batches.add(variant, frame, bytes + 1); // and its separator
      } else {
        this.server.publish(variant.topic, frame);
      }
      this.metrics.deliveries += recipients;
      this.metrics.bytesOut += recipients * bytes;
    }
  }

  /** Version 2 frames waiting for the end of this event-loop turn, per topic, in publish order. */
  private readonly batches = new TurnBatches<TopicVariant, string | Uint8Array>(BATCH_MAX_BYTES, ({ topic }, frames) => {
    this.server.publish(topic, typeof frames[0] === "string" ? joinJsonFrames(frames as string[]) : joinMsgpackFrames(frames as Uint8Array[]));
  });

  /** Sends every waiting batch now: at the end of each turn, and before the node closes its clients. */
  flush(): void {
    this.batches.flushAll();
  }
}
