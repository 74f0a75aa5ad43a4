import * as v from "valibot";
import { channelProblem, describeChannelProblem } from "./channel.ts";
import { fromBase64, toBase64, utf8Length } from "./bytes.ts";
import { ERRORS, type ErrorCode } from "./errors.ts";
import { encoder, makeDecoder } from "./msgpack.ts";

/**
 * Client protocol v1: the frames between a client and a node (docs/protocol.md is the spec).
 * Pure: bytes or text in, a typed value or a typed error out. Shared by the node and the SDK.
 */

/** WebSocket subprotocol for JSON text frames; also what a client that names none speaks. */
export const SUBPROTOCOL_JSON = "relay.v1.json";
/** WebSocket subprotocol for MessagePack binary frames. */
export const SUBPROTOCOL_MSGPACK = "relay.v1.msgpack";
/** The protocol version carried in `welcome`. */
export const PROTOCOL_VERSION = 1;

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
  | { op: "msg"; channel: string; data: Payload; from?: string }
  | { op: "ack"; id: RequestId }
  | { op: "error"; code: ErrorCode; message: string; id?: RequestId }
  | { op: "pong"; id?: RequestId };

/** Outcome of decoding one inbound frame. */
export type Decoded<T> =
  | { ok: true; frame: T }
  | { ok: false; code: ErrorCode; message: string; id?: RequestId };

const RequestIdSchema = v.union([
  v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(Number.MAX_SAFE_INTEGER)),
  v.pipe(v.string(), v.maxLength(64)),
]);
const PasswordSchema = v.pipe(v.string(), v.maxLength(1024));

const SubSchema = v.object({
  op: v.literal("sub"),
  channel: v.string(),
  id: v.optional(RequestIdSchema),
  echo: v.optional(v.boolean()),
  password: v.optional(PasswordSchema),
});
const UnsubSchema = v.object({ op: v.literal("unsub"), channel: v.string(), id: v.optional(RequestIdSchema) });
const PubSchema = v.object({
  op: v.literal("pub"),
  channel: v.string(),
  data: v.unknown(),
  bin: v.optional(v.boolean()),
  id: v.optional(RequestIdSchema),
  password: v.optional(PasswordSchema),
});
const PingSchema = v.object({ op: v.literal("ping"), id: v.optional(RequestIdSchema) });

const SCHEMAS = { sub: SubSchema, unsub: UnsubSchema, pub: PubSchema, ping: PingSchema } as const;
type Op = keyof typeof SCHEMAS;

function fail(code: ErrorCode, message: string = ERRORS[code].message, id?: RequestId): Decoded<never> {
  return id === undefined ? { ok: false, code, message } : { ok: false, code, message, id };
}

/** The request id of a frame that failed validation, if it has a usable one, so the error can answer it. */
function salvageId(obj: Record<string, unknown>): RequestId | undefined {
  const parsed = v.safeParse(RequestIdSchema, obj.id);
  return parsed.success ? parsed.output : undefined;
}

/** Decoder for inbound client frames; one per node, sized by the frame limit. */
export class ClientFrameDecoder {
  private readonly msgpack;

  /** @param maxPayload the largest payload in bytes a publish may carry (--max-payload). */
  constructor(private readonly maxPayload: number) {
    this.msgpack = makeDecoder(maxPayload + FRAME_OVERHEAD);
  }

  /** Decodes a text (JSON) or binary (MessagePack) frame. Never throws. */
  decode(raw: string | Uint8Array): Decoded<ClientFrame> {
    let obj: unknown;
    const isText = typeof raw === "string";
    try {
      obj = isText ? JSON.parse(raw) : this.msgpack.decode(raw);
    } catch {
      return fail("bad_frame", isText ? "the text frame is not valid JSON" : "the binary frame is not valid MessagePack");
    }
    if (typeof obj !== "object" || obj === null || Array.isArray(obj)) {
      return fail("bad_frame", "a frame must be an object with an op");
    }
    const rec = obj as Record<string, unknown>;
    const id = salvageId(rec);
    // MessagePack decoders refuse a `__proto__` key, so a JSON payload holding one could never
    // reach MessagePack subscribers. Refuse it here for every encoding. The substring test is a
    // native scan that keeps the object walk off the common path.
    if (isText && (raw.includes("proto") || raw.includes("\\u")) && hasProtoKey(obj)) {
      return fail("bad_frame", "an object key may not be __proto__", id);
    }
    if (typeof rec.op !== "string") return fail("bad_frame", "a frame must have a string op", id);
    if (!Object.hasOwn(SCHEMAS, rec.op)) return fail("unknown_op", `unknown op; expected sub, unsub, pub or ping`, id);
    const parsed = v.safeParse(SCHEMAS[rec.op as Op], rec);
    if (!parsed.success) {
      const issue = parsed.issues[0];
      const where = issue.path?.map((p) => String(p.key)).join(".") ?? "frame";
      return fail("bad_frame", `${rec.op}: ${where}: ${issue.message}`, id);
    }
    const frame = parsed.output;
    if (frame.op !== "ping") {
      const problem = channelProblem(frame.channel);
      if (problem) return fail("bad_channel", describeChannelProblem(problem), id);
    }
    if (frame.op === "pub") {
      let data = frame.data;
      if (data === undefined) return fail("bad_frame", "pub: data is required", id);
      if (isText && frame.bin) {
        if (typeof data !== "string") return fail("bad_frame", "pub: with bin, data must be a base64 string", id);
        const bytes = fromBase64(data);
        if (!bytes) return fail("bad_frame", "pub: data is not valid base64", id);
        data = bytes;
      }
      const { bin: _bin, ...rest } = frame;
      return { ok: true, frame: { ...rest, data } };
    }
    return { ok: true, frame };
  }
}

/** True when any object inside `value` has an own key `__proto__`. Iterative, so depth cannot overflow the stack. */
function hasProtoKey(value: unknown): boolean {
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const v = stack.pop();
    if (typeof v !== "object" || v === null) continue;
    if (Array.isArray(v)) {
      for (const item of v) stack.push(item);
    } else {
      if (Object.hasOwn(v, "__proto__")) return true;
      for (const key in v) stack.push((v as Record<string, unknown>)[key]);
    }
  }
  return false;
}

/**
 * Room for the envelope around a payload (op, channel, ids, password). A frame larger than
 * maxPayload + FRAME_OVERHEAD is cut by the WebSocket layer with 1009 before it is read.
 */
export const FRAME_OVERHEAD = 2048;

/** The JSON text of a payload as it appears in a JSON frame, and whether it is base64 bytes. */
export interface JsonPayload {
  text: string;
  bin: boolean;
}

/** Encodes a payload once for JSON frames; bytes become base64 and nested bytes base64 strings. */
export function payloadToJson(data: Payload): JsonPayload {
  if (data instanceof Uint8Array) return { text: `"${toBase64(data)}"`, bin: true };
  return { text: JSON.stringify(data, nestedBytes) ?? "null", bin: false };
}

function nestedBytes(_key: string, value: unknown): unknown {
  return value instanceof Uint8Array ? toBase64(value) : value;
}

/** Size of a payload in bytes, as --max-payload counts it: the bytes, or the UTF-8 JSON text. */
export function payloadSize(data: Payload, json: JsonPayload | null): number {
  if (data instanceof Uint8Array) return data.length;
  return utf8Length(json ? json.text : JSON.stringify(data) ?? "null");
}

/**
 * A `msg` frame in JSON, built by concatenation: channel names and client ids hold no
 * characters that JSON escapes (see channel.ts), and the payload text is already JSON.
 */
export function msgFrameJson(channel: string, from: string | undefined, payload: JsonPayload): string {
  const head = from === undefined ? `{"op":"msg","channel":"${channel}"` : `{"op":"msg","channel":"${channel}","from":"${from}"`;
  return payload.bin ? `${head},"bin":true,"data":${payload.text}}` : `${head},"data":${payload.text}}`;
}

/** A `msg` frame in MessagePack. */
export function msgFrameMsgpack(channel: string, from: string | undefined, data: Payload): Uint8Array {
  return encoder.encode(from === undefined ? { op: "msg", channel, data } : { op: "msg", channel, from, data });
}

/** Encodes any node frame (other than the hot-path `msg`, which has its own builders above). */
export function encodeServerFrame(frame: ServerFrame, encoding: Encoding): string | Uint8Array {
  if (encoding === "msgpack") return encoder.encode(frame);
  if (frame.op === "msg") return msgFrameJson(frame.channel, frame.from, payloadToJson(frame.data));
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
  if (typeof obj !== "object" || obj === null || typeof (obj as { op?: unknown }).op !== "string") {
    return fail("bad_frame", "the node sent a frame without an op");
  }
  const rec = obj as Record<string, unknown>;
  switch (rec.op) {
    case "msg": {
      if (typeof rec.channel !== "string") return fail("bad_frame", "msg without a channel");
      let data = rec.data;
      if (typeof raw === "string" && rec.bin === true && typeof data === "string") {
        data = fromBase64(data) ?? data;
      }
      const frame: ServerFrame = { op: "msg", channel: rec.channel, data };
      if (typeof rec.from === "string") frame.from = rec.from;
      return { ok: true, frame };
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

/** The SDK receives frames up to the node's limit; 16 MiB bounds what a misbehaving peer can make it allocate. */
const defaultSdkDecoder = makeDecoder(16 * 1024 * 1024);
