import type { Server } from "bun";
import { msgFrameJson, msgFrameMsgpack, payloadToJson, utf8Length, type JsonPayload, type Payload } from "../protocol/index.ts";
import type { Metrics } from "./metrics.ts";
import { topicOf, type ClientSocket, type Session } from "./session.ts";

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
    private readonly forward: (channel: string, data: Payload, from: string) => void = () => {},
  ) {}

  /**
   * Delivers a client's publish to local subscribers and forwards it to the mesh.
   * The publisher is skipped unless it subscribed with `echo`.
   * @param json the payload already encoded as JSON text, when the publisher sent JSON (saves a stringify).
   */
  publishFromClient(sender: ClientSocket, channel: string, data: Payload, json: JsonPayload | null): void {
    const from = sender.data.id;
    const echo = sender.data.echo?.has(channel) === true;
    this.deliver(channel, data, json, from, echo ? null : sender);
    this.forward(channel, data, from);
  }

  /** Delivers a message that arrived from another node to local subscribers. */
  deliverFromPeer(channel: string, data: Payload, from: string | undefined): void {
    this.deliver(channel, data, null, from, null);
  }

  private deliver(channel: string, data: Payload, json: JsonPayload | null, from: string | undefined, exclude: ClientSocket | null): void {
    const jsonTopic = topicOf("json", channel);
    let n = this.server.subscriberCount(jsonTopic);
    if (n > 0) {
      const frame = msgFrameJson(channel, from, json ?? payloadToJson(data));
      if (exclude?.data.encoding === "json" && exclude.data.subs.has(channel)) {
        n--;
        exclude.publishText(jsonTopic, frame);
      } else {
        this.server.publish(jsonTopic, frame);
      }
      this.count(n, utf8Length(frame));
    }
    const msgpackTopic = topicOf("msgpack", channel);
    let m = this.server.subscriberCount(msgpackTopic);
    if (m > 0) {
      const frame = msgFrameMsgpack(channel, from, data);
      if (exclude?.data.encoding === "msgpack" && exclude.data.subs.has(channel)) {
        m--;
        exclude.publishBinary(msgpackTopic, frame);
      } else {
        this.server.publish(msgpackTopic, frame);
      }
      this.count(m, frame.length);
    }
  }

  private count(recipients: number, frameBytes: number): void {
    this.metrics.deliveries += recipients;
    this.metrics.bytesOut += recipients * frameBytes;
  }
}
