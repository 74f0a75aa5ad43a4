import { concatBytes, fromBase64, toBase64 } from "./bytes.ts";
import { ERRORS, type ErrorCode } from "./errors.ts";
import { encoder, makeDecoder } from "./msgpack.ts";

/**
 * Client protocol v1: the frames between a client and a node (docs/protocol.md is the spec).
 * Pure: bytes or text in, a typed value or a typed error out. Shared by the node and the SDK,
 * so it stays free of valibot; the node's validating decoder is in client-decode.ts.
 */

/** WebSocket subprotocol for JSON text frames; also what a client that names none speaks. */
export const SUBPROTOCOL_JSON = "relay.v1.json";
/** WebSocket subprotocol for MessagePack binary frames. */
export const SUBPROTOCOL_MSGPACK = "relay.v1.msgpack";
/**
 * Version 2 is version 1 plus batching: one WebSocket message from the node may hold several
 * frames. JSON frames are separated by a newline (JSON text never holds a raw one); MessagePack
 * frames are simply concatenated. Messages published in one turn of the node's event loop reach a
 * subscriber in one WebSocket message, the way NATS packs many MSGs into one read: per-delivery
 * framing and syscalls are paid once per batch. Clients send exactly as in version 1.
 */
export const SUBPROTOCOL_JSON_V2 = "relay.v2.json";
export const SUBPROTOCOL_MSGPACK_V2 = "relay.v2.msgpack";
/** The newest protocol version, carried in `welcome` to version 2 clients (version 1 clients get 1). */
export const PROTOCOL_VERSION = 2;

/** Joins JSON frames into one version 2 WebSocket message. */
export function joinJsonFrames(frames: readonly string[]): string {
  return frames.length === 1 ? frames[0]! : frames.join("\n");
}

/** Joins MessagePack frames into one version 2 WebSocket message. */
export function joinMsgpackFrames(frames: readonly Uint8Array[]): Uint8Array {
  return concatBytes(frames);
}

/** How a connection encodes the frames the node sends it. */
export type Encoding = "json" | "msgpack";

/** A payload: any JSON value, or bytes (a Uint8Array). */
export type Payload = unknown;

/** A request id chosen by the client: echoed back in the ack or error that answers it. */
export type RequestId = number | string;

/** Frames a client sends, after validation. */
export type ClientFrame =
  | { op: "sub"; channel: string; id?: RequestId; echo?: boolean; password?: string }
  | { op: "unsub"; channel: string; id?: RequestId }
  | { op: "pub"; channel: string; data: Payload; id?: RequestId; password?: string }
  | { op: "ping"; id?: RequestId };

/** Limits the node advertises in `welcome`, so clients can check before they send. */
export interface WelcomeLimits {
  maxPayload: number;
  maxSubscriptions: number;
  publishRate: number;
  publishBurst: number;
}

/** Frames a node sends. In JSON, a bytes `data` travels as base64 with `bin: true`. */
export type ServerFrame =
  | { op: "welcome"; v: number; node: string; client: string; limits: WelcomeLimits }
  /** `n`: the publisher's sequence number on this channel (1, 2, ...), with `from` naming the message. */
  | { op: "msg"; channel: string; data: Payload; from?: string; n?: number }
  | { op: "ack"; id: RequestId }
  /** `channel` is set on errors about a channel the client holds, sent unasked (channel_conflict). */
  | { op: "error"; code: ErrorCode; message: string; id?: RequestId; channel?: string }
  | { op: "pong"; id?: RequestId }
  /**
   * The node is draining: move to another node now. `nodes` are the node's suggestions, nearest
   * first; the node closes the connection (1001) after a grace period.
   */
  | { op: "goaway"; nodes: { name: string; url: string }[]; message: string };

/** A frame refused at decoding: the error code, a readable message, and the request id it answers. */
export type Refusal = { ok: false; code: ErrorCode; message: string; id?: RequestId };

/** Outcome of decoding one inbound frame. */
export type Decoded<T> = { ok: true; frame: T } | Refusal;

/** Largest nesting of arrays and objects a payload may have; deeper is `bad_frame` (see docs/protocol.md). */
export const MAX_PAYLOAD_DEPTH = 64;

/** Builds a refusal; `id` is the request it answers, when the frame carried one. */
export function fail(code: ErrorCode, message: string = ERRORS[code].message, id?: RequestId): Refusal {
  return id === undefined ? { ok: false, code, message } : { ok: false, code, message, id };
}

/**
 * Room for the envelope around a payload (op, channel, ids, password). A frame larger than
 * maxPayload + FRAME_OVERHEAD is cut by the WebSocket layer with 1009 before it is read.
 */
export const FRAME_OVERHEAD = 2048;

/**
 * The largest WebSocket frame a node accepts for a given --max-payload: room for base64 (JSON
 * clients send bytes 4/3 larger) plus the envelope. Larger frames are cut with 1009.
 */
export function maxFrameBytes(maxPayload: number): number {
  return Math.ceil(maxPayload / 3) * 4 + FRAME_OVERHEAD;
}

/** The JSON text of a payload as it appears in a JSON frame, and whether it is base64 bytes. */
export interface JsonPayload {
  text: string;
  bin: boolean;
  /** The UTF-8 length of `text`, when already known (saves measuring it again per message). */
  bytes?: number;
}

/** Encodes a payload once for JSON frames; bytes become base64 and nested bytes base64 strings. */
export function payloadToJson(data: Payload): JsonPayload {
  if (data instanceof Uint8Array) {
    const text = `"${toBase64(data)}"`;
    return { text, bin: true, bytes: text.length }; // base64 is ASCII
  }
  return { text: JSON.stringify(data, nestedBytes) ?? "null", bin: false };
}

function nestedBytes(_key: string, value: unknown): unknown {
  return value instanceof Uint8Array ? toBase64(value) : value;
}

/**
 * A `msg` frame in JSON, built by concatenation: channel names and client ids hold no
 * characters that JSON escapes (see channel.ts), and the payload text is already JSON.
 */
export function msgFrameJson(channel: string, from: string | undefined, payload: JsonPayload, n?: number): string {
  let head = from === undefined ? `{"op":"msg","channel":"${channel}"` : `{"op":"msg","channel":"${channel}","from":"${from}"`;
  if (n !== undefined) head += `,"n":${n}`;
  return payload.bin ? `${head},"bin":true,"data":${payload.text}}` : `${head},"data":${payload.text}}`;
}

/** A `msg` frame in MessagePack. */
export function msgFrameMsgpack(channel: string, from: string | undefined, data: Payload, n?: number): Uint8Array {
  if (from === undefined) return encoder.encode(n === undefined ? { op: "msg", channel, data } : { op: "msg", channel, n, data });
  return encoder.encode(n === undefined ? { op: "msg", channel, from, data } : { op: "msg", channel, from, n, data });
}

/** Encodes any node frame (other than the hot-path `msg`, which has its own builders above). */
export function encodeServerFrame(frame: ServerFrame, encoding: Encoding): string | Uint8Array {
  if (encoding === "msgpack") return encoder.encode(frame);
  if (frame.op === "msg") return msgFrameJson(frame.channel, frame.from, payloadToJson(frame.data), frame.n);
  return JSON.stringify(frame);
}

/** Encodes a client frame (used by the SDK and the CLI). Bytes in JSON go as base64 with `bin`. */
export function encodeClientFrame(frame: ClientFrame, encoding: Encoding): string | Uint8Array {
  if (encoding === "msgpack") return encoder.encode(frame);
  if (frame.op === "pub" && frame.data instanceof Uint8Array) {
    return JSON.stringify({ ...frame, data: toBase64(frame.data), bin: true });
  }
  return JSON.stringify(frame, nestedBytes);
}

/**
 * Decodes a frame from the node (used by the SDK). The node is trusted more than a client, but a
 * proxy or a newer node may still send something unexpected: unknown ops are returned as
 * `unknown_op` for the caller to ignore, so a newer node never breaks an older SDK.
 */
export function decodeServerFrame(raw: string | Uint8Array, decoder = defaultSdkDecoder): Decoded<ServerFrame> {
  let obj: unknown;
  try {
    obj = typeof raw === "string" ? JSON.parse(raw) : decoder.decode(raw);
  } catch {
    return fail("bad_frame", "the node sent a frame that does not decode");
  }
  return frameOf(obj, typeof raw === "string");
}

/** Checks a decoded value as a node frame; `text` tells a JSON frame (bytes as base64) from MessagePack. */
function frameOf(obj: unknown, text: boolean): Decoded<ServerFrame> {
  if (typeof obj !== "object" || obj === null || typeof (obj as { op?: unknown }).op !== "string") {
    return fail("bad_frame", "the node sent a frame without an op");
  }
  const rec = obj as Record<string, unknown>;
  switch (rec.op) {
    case "msg": {
      if (typeof rec.channel !== "string") return fail("bad_frame", "msg without a channel");
      let data = rec.data;
      if (text && rec.bin === true && typeof data === "string") {
        data = fromBase64(data) ?? data;
      }
      const frame: ServerFrame = { op: "msg", channel: rec.channel, data };
      if (typeof rec.from === "string") frame.from = rec.from;
      if (typeof rec.n === "number" && Number.isSafeInteger(rec.n)) frame.n = rec.n;
      return { ok: true, frame };
    }
    case "goaway": {
      // Only well-formed suggestions survive: the SDK dials these URLs.
      const nodes = Array.isArray(rec.nodes) ? rec.nodes.filter((n): n is { name: string; url: string } => typeof n === "object" && n !== null && typeof n.name === "string" && typeof n.url === "string") : [];
      return { ok: true, frame: { op: "goaway", nodes, message: typeof rec.message === "string" ? rec.message : "" } };
    }
    case "ack":
    case "error":
    case "pong":
    case "welcome":
      return { ok: true, frame: rec as unknown as ServerFrame };
    default:
      return fail("unknown_op", `the node sent an unknown op`);
  }
}

/**
 * Decodes one WebSocket message from the node into its frames (used by the SDK): one frame in
 * version 1, one or more in version 2. Reading a version 1 message this way gives the same frame,
 * so a client that offered both versions reads whichever the node chose.
 */
export function decodeServerMessage(raw: string | Uint8Array, decoder = defaultSdkDecoder): Decoded<ServerFrame>[] {
  if (typeof raw === "string") {
    if (!raw.includes("\n")) return [decodeServerFrame(raw, decoder)];
    return raw.split("\n").map((line) => decodeServerFrame(line, decoder));
  }
  const out: Decoded<ServerFrame>[] = [];
  try {
    for (const obj of decoder.decodeMulti(raw)) out.push(frameOf(obj, false));
  } catch {
    out.push(fail("bad_frame", "the node sent a frame that does not decode"));
  }
  return out;
}

/** The SDK receives frames up to the node's limit; 16 MiB bounds what a misbehaving peer can make it allocate. */
const defaultSdkDecoder = makeDecoder(16 * 1024 * 1024);
