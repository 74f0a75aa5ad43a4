/**
 * The interface every protocol codec of the load generator implements, so one generator (one
 * closed loop, one latency loop, one set of connection scenarios) drives every system under test.
 *
 * A codec is two halves:
 *   - setup (open, subscribe): async, runs once per connection, may be slow and checks every answer;
 *   - the hot path (reader, publisher): a per-connection parser that tells a delivered message from
 *     anything else in as few byte reads as the protocol allows, and publish frames built once.
 * Parsing a delivered message fully would make the generator, not the server, the limit.
 */
import type { FrameHandler, UpgradeOptions } from "../ws-client.ts";

/** A frame to send: a string goes out as a WebSocket text frame, bytes as a binary frame. */
export type Frame = string | Uint8Array;

/**
 * Where a connection's reader reports what it found. One object per connection; its fields are
 * swapped as the connection moves from setup to measurement.
 */
export interface Sink {
  /** One delivered message; bytes [start, end) of buf hold it (at least its payload), valid only during the call. */
  msg: (buf: Uint8Array, start: number, end: number) => void;
  /** The server's answer to a publish (codecs with `acks` only) or, during setup, to a subscribe. */
  ack: () => void;
  /** A setup-time answer, named by the codec ("ready", "subscribed", "pong", ...). */
  event: (name: string) => void;
  /** An error the server reported, as text. */
  error: (text: string) => void;
}

/** What setup code can do with a connection: send, and wait for the next named answer. */
export interface SetupConn {
  send(frame: Frame): void;
  /** Resolves on the next event if it is `name`; rejects on an error, another event, or a timeout. */
  expect(name: string, what: string): Promise<void>;
}

export type CodecId = "relay" | "nats" | "mqtt" | "socketio" | "ws-relay";

export interface Codec {
  id: CodecId;
  /** How the WebSocket upgrade is asked for. */
  upgrade: UpgradeOptions;
  /** Whether publishes are answered; the closed loop then also waits for acks. */
  acks: boolean;
  /**
   * A parser for one connection's inbound messages. It may keep state across messages (NATS and
   * MQTT are byte streams: one WebSocket message may hold many protocol messages, or part of one),
   * and answers keepalives itself through `reply`.
   */
  reader(sink: Sink, reply: (frame: Frame) => void): FrameHandler;
  /** The protocol's handshake after the upgrade; resolves once the connection may subscribe and publish. */
  open(conn: SetupConn): Promise<void>;
  /** Subscribes to `channel`; resolves once the server confirmed it (so no delivery can be missed). */
  subscribe(conn: SetupConn, channel: string): Promise<void>;
  /**
   * A publish of `payload` (JSON text, also sent as the raw payload by byte protocols) on `channel`.
   * Returns a function of the publish id: codecs without acks ignore it and return one prebuilt frame.
   */
  publisher(channel: string, payload: string): (id: number) => Frame;
}
