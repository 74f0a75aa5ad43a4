import type { ConsolaInstance } from "consola/core";
import { ClientFrameDecoder, type PayloadInfo } from "../protocol/client-decode.ts";
import { ERRORS, encodeServerFrame, maxFrameBytes, utf8Length, type ClientFrame, type ErrorCode, type RequestId, type ServerFrame } from "../protocol/index.ts";
import type { Admission, ChannelAdmission } from "./admission.ts";
import type { Config } from "./config.ts";
import type { Fanout } from "./fanout.ts";
import type { Metrics } from "./metrics.ts";
import { take } from "./ratelimit.ts";
import type { Admitted, ClientSocket } from "./session.ts";
import type { LocalSubscriptions } from "./subscriptions.ts";

/**
 * The client edge: every frame from a client is decoded and validated here, once, then
 * dispatched to one handler per op. Past this file, code sees only typed frames.
 * Nothing a client sends can make this throw: failures become error frames with a code.
 */
export class ClientHandler {
  /** The one validating decoder, sized by --max-payload. */
  private readonly decoder: ClientFrameDecoder;

  constructor(
    private readonly config: Config,
    private readonly subs: LocalSubscriptions,
    private readonly fanout: Fanout,
    private readonly admission: ChannelAdmission,
    private readonly metrics: Metrics,
    private readonly log: ConsolaInstance,
    /** Milliseconds clock, passed in so tests can drive rate limits. */
    private readonly now: () => number,
  ) {
    this.decoder = new ClientFrameDecoder(config.maxPayload);
    this.maxFrame = maxFrameBytes(config.maxPayload);
  }

  /** The largest client frame (room for base64 and the envelope); larger ones close with 1009. */
  private readonly maxFrame: number;

  /** Handles one WebSocket message from a client. */
  onMessage(ws: ClientSocket, raw: string | Uint8Array): void {
    this.metrics.messagesIn++;
    const size = typeof raw === "string" ? utf8Length(raw) : raw.byteLength;
    this.metrics.bytesIn += size;
    // Bun's own frame limit is raised for peers, who share the server; clients keep theirs here.
    if (size > this.maxFrame) {
      this.metrics.error("payload_too_large");
      ws.data.closing = "too_big";
      ws.close(1009, "payload_too_large");
      return;
    }
    const decoded = this.decoder.decode(raw);
    if (!decoded.ok) return this.sendError(ws, decoded.code, decoded.message, decoded.id);
    const frame = decoded.frame;
    try {
      switch (frame.op) {
        case "pub":
          return this.handlePub(ws, frame, decoded.payload!);
        case "sub":
          return this.handleSub(ws, frame);
        case "unsub":
          return this.handleUnsub(ws, frame);
        case "ping":
          return this.send(ws, frame.id === undefined ? { op: "pong" } : { op: "pong", id: frame.id });
      }
    } catch (err) {
      // A bug, not bad input: log it with the stack, tell the client, keep the node and the connection up.
      this.log.error(`client ${ws.data.id}: ${frame.op} failed`, err);
      this.sendError(ws, "internal", ERRORS.internal.message, frame.id);
    }
  }

  private handlePub(ws: ClientSocket, frame: Extract<ClientFrame, { op: "pub" }>, payload: PayloadInfo): void {
    if (!take(ws.data, this.config.publishRate, this.config.publishBurst, this.now())) {
      return this.sendError(ws, "rate_limited", `publishing faster than ${this.config.publishRate}/s; the message was dropped`, frame.id);
    }
    if (payload.size > this.config.maxPayload) {
      return this.sendError(ws, "payload_too_large", `the payload is ${payload.size} bytes; this node allows ${this.config.maxPayload}`, frame.id);
    }
    const grant = ws.data.grant;
    const admitted = this.admission.fast(ws, frame.channel);
    if (admitted !== null && (grant === null || (admitted.pub ??= grant.canPublish(frame.channel)))) return this.publish(ws, frame, payload, admitted);
    if (grant !== null && !grant.canPublish(frame.channel)) return this.sendError(ws, "forbidden", `the token of ${grant.user} does not allow publishing on ${frame.channel}`, frame.id);
    // First use of this channel on this connection: the password check (and, for a name the
    // registry lacks, the confirmed open) comes first; nothing is published before it passes.
    this.admitThen(ws, frame.channel, frame.password, frame.id, (admitted) => this.publish(ws, frame, payload, admitted));
  }

  private publish(ws: ClientSocket, frame: Extract<ClientFrame, { op: "pub" }>, payload: PayloadInfo, admitted: Admitted): void {
    this.metrics.publishes++;
    this.fanout.publishFromClient(ws, frame.channel, admitted.instance, ++admitted.n, frame.data, payload.json);
    if (frame.id !== undefined) this.send(ws, { op: "ack", id: frame.id });
  }

  private handleSub(ws: ClientSocket, frame: Extract<ClientFrame, { op: "sub" }>): void {
    const s = ws.data;
    if (!s.subs.has(frame.channel) && s.subs.size >= this.config.maxSubscriptions) {
      return this.sendError(ws, "too_many_subscriptions", `this connection already holds ${this.config.maxSubscriptions} subscriptions`, frame.id);
    }
    const subscribe = ({ instance }: Admitted): void => {
      if (!s.subs.has(frame.channel) && s.subs.size >= this.config.maxSubscriptions) {
        return this.sendError(ws, "too_many_subscriptions", `this connection already holds ${this.config.maxSubscriptions} subscriptions`, frame.id);
      }
      this.subs.add(ws, frame.channel, instance, frame.echo === true);
      if (frame.id !== undefined) this.send(ws, { op: "ack", id: frame.id });
    };
    const grant = ws.data.grant;
    if (grant !== null && !grant.canSubscribe(frame.channel)) return this.sendError(ws, "forbidden", `the token of ${grant.user} does not allow subscribing to ${frame.channel}`, frame.id);
    const admitted = this.admission.fast(ws, frame.channel);
    if (admitted !== null) return subscribe(admitted);
    this.admitThen(ws, frame.channel, frame.password, frame.id, subscribe);
  }

  /** Runs `then` once the client is admitted to the channel, unless it left meanwhile; else sends the refusal. */
  private admitThen(ws: ClientSocket, channel: string, password: string | undefined, id: RequestId | undefined, then: (admitted: Admitted) => void): void {
    this.admission.admit(ws, channel, password).then(
      (result: Admission) => {
        if (ws.data.closing !== null || ws.readyState !== 1) return;
        if (!result.ok) {
          if (result.code === "wrong_password") this.log.info(`client ${ws.data.id} (${ws.data.remote}): wrong password for channel ${channel}`);
          return this.sendError(ws, result.code, result.message, id);
        }
        try {
          then(result.admitted);
        } catch (err) {
          this.log.error(`client ${ws.data.id}: ${channel} failed after admission`, err);
          this.sendError(ws, "internal", ERRORS.internal.message, id);
        }
      },
      (err: unknown) => {
        this.log.error(`client ${ws.data.id}: admission to ${channel} failed`, err);
        if (ws.readyState === 1) this.sendError(ws, "internal", ERRORS.internal.message, id);
      },
    );
  }

  private handleUnsub(ws: ClientSocket, frame: Extract<ClientFrame, { op: "unsub" }>): void {
    // Unsubscribing from a channel one is not in is not an error: the outcome the client wants holds.
    this.subs.remove(ws, frame.channel);
    if (frame.id !== undefined) this.send(ws, { op: "ack", id: frame.id });
  }

  /** Sends an error frame; the connection stays open. */
  sendError(ws: ClientSocket, code: ErrorCode, message: string, id?: RequestId): void {
    this.metrics.error(code);
    this.log.debug(`client ${ws.data.id}: ${code}: ${message}`);
    this.send(ws, id === undefined ? { op: "error", code, message } : { op: "error", code, message, id });
  }

  /** Sends a frame in the client's encoding. */
  send(ws: ClientSocket, frame: ServerFrame): void {
    ws.send(encodeServerFrame(frame, ws.data.encoding));
  }
}
