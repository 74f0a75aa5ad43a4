import type { Server } from "bun";
import { isChannelName, msgFrameJson, msgFrameMsgpack, payloadToJson, utf8Length, type Encoding, type JsonPayload, type Payload } from "../protocol/index.ts";
import type { Metrics } from "./metrics.ts";
import { topicOf, type ClientSocket, type Session } from "./session.ts";

/** Client ids as the node makes them (see server.ts); anything else in `from` is dropped, never sent. */
const CLIENT_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * Fan-out: the only caller of server.publish. A message is encoded at most once per encoding
 * (only for encodings that have subscribers) and handed to Bun's native topic fan-out; no JS code
 * here runs per subscriber.
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
    const jsonTopic = topicOf("json", instance);
    const msgpackTopic = topicOf("msgpack", instance);
    const jsonCount = this.server.subscriberCount(jsonTopic);
    const msgpackCount = this.server.subscriberCount(msgpackTopic);
    // Encode every needed encoding before sending any, so a message reaches all subscribers or none.
    const jsonFrame = jsonCount > 0 ? msgFrameJson(channel, from, json ?? payloadToJson(data), n) : null;
    const msgpackFrame = msgpackCount > 0 ? msgFrameMsgpack(channel, from, data, n) : null;
    if (jsonFrame !== null) this.send("json", jsonTopic, jsonFrame, jsonCount, exclude);
    if (msgpackFrame !== null) this.send("msgpack", msgpackTopic, msgpackFrame, msgpackCount, exclude);
  }

  /** One native publish to a topic; through the sender's socket when it must not get its own message. */
  private send(encoding: Encoding, topic: string, frame: string | Uint8Array, subscribers: number, exclude: ClientSocket | null): void {
    let recipients = subscribers;
    if (exclude !== null && exclude.data.encoding === encoding && exclude.isSubscribed(topic)) {
      exclude.publish(topic, frame); // ws.publish reaches every subscriber but the sender
      recipients--;
    } else {
      this.server.publish(topic, frame);
    }
    this.metrics.deliveries += recipients;
    this.metrics.bytesOut += recipients * (typeof frame === "string" ? utf8Length(frame) : frame.byteLength);
  }
}
