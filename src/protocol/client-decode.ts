import * as v from "valibot";
import { fromBase64, utf8Length } from "./bytes.ts";
import { channelProblem, describeChannelProblem } from "./channel.ts";
import { MAX_PAYLOAD_DEPTH, fail, maxFrameBytes, type ClientFrame, type JsonPayload, type Refusal, type RequestId } from "./client.ts";
import { makeDecoder } from "./msgpack.ts";
import { DEPTH_SCAN_FROM_BYTES, jsonTooDeep, msgpackTooDeep } from "./depth.ts";

/**
 * The node's edge for client frames: decode, validate once with valibot, and measure the payload.
 * Node-only (the SDK never validates its own frames), which keeps valibot out of the browser bundle.
 * Never throws on any input: every failure is a typed refusal with a code from the error table.
 */

const RequestIdSchema = v.union([
  v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(Number.MAX_SAFE_INTEGER)),
  v.pipe(v.string(), v.maxLength(64)),
]);
const PasswordSchema = v.pipe(v.string(), v.maxLength(1024));

/** The schema of each op; exported so tests can hold the hand-written fast path to it. */
export const SCHEMAS = {
  sub: v.object({ op: v.literal("sub"), channel: v.string(), id: v.optional(RequestIdSchema), echo: v.optional(v.boolean()), password: v.optional(PasswordSchema) }),
  unsub: v.object({ op: v.literal("unsub"), channel: v.string(), id: v.optional(RequestIdSchema) }),
  pub: v.object({ op: v.literal("pub"), channel: v.string(), data: v.unknown(), bin: v.optional(v.boolean()), id: v.optional(RequestIdSchema), password: v.optional(PasswordSchema) }),
  ping: v.object({ op: v.literal("ping"), id: v.optional(RequestIdSchema) }),
} as const;
type Op = keyof typeof SCHEMAS;

/** A publish's payload as measured at the edge, so nothing downstream measures or encodes it again. */
export interface PayloadInfo {
  /** Bytes counted against --max-payload: the bytes, the UTF-8 JSON text, or (MessagePack) the frame. */
  size: number;
  /** The payload as JSON text, when the frame was JSON (made once here, reused for JSON subscribers). */
  json: JsonPayload | null;
}

/** A decoded frame, plus the payload measurements for `pub`. */
export type DecodedClientFrame = { ok: true; frame: ClientFrame; payload: PayloadInfo | null } | Refusal;

type PubFields = v.InferOutput<(typeof SCHEMAS)["pub"]>;

/**
 * True when a `pub` frame passes SCHEMAS.pub as it is: the same rules, written out by hand because
 * valibot's generic walk was the largest JS cost per publish. Unknown keys are ignored, as the
 * schema strips them. A false here is not a refusal: the caller asks the schema for the reason.
 */
export function isPlainPub(rec: Record<string, unknown>): rec is Record<string, unknown> & PubFields {
  if (typeof rec.channel !== "string" || !("data" in rec)) return false;
  const { id, bin, password } = rec;
  if (bin !== undefined && typeof bin !== "boolean") return false;
  if (password !== undefined && (typeof password !== "string" || password.length > 1024)) return false;
  if (id === undefined || (typeof id === "string" && id.length <= 64)) return true;
  return typeof id === "number" && Number.isSafeInteger(id) && id >= 0;
}

/** The request id of a frame that failed, if it carries a usable one, so the error can answer it. */
function salvageId(obj: Record<string, unknown>): RequestId | undefined {
  const parsed = v.safeParse(RequestIdSchema, obj.id);
  return parsed.success ? parsed.output : undefined;
}

/**
 * Why a structured payload cannot travel, or null. Iterative, so no input can overflow the stack.
 * - Deeper than MAX_PAYLOAD_DEPTH: encoders recurse, so a deep payload would fail (or crash) later.
 * - A `__proto__` key: MessagePack decoders refuse it, so MessagePack subscribers could never get it.
 */
export function payloadProblem(data: unknown): string | null {
  if (typeof data !== "object" || data === null || data instanceof Uint8Array) return null;
  const stack: [unknown, number][] = [[data, 1]];
  while (stack.length > 0) {
    const [value, depth] = stack.pop()!;
    if (depth > MAX_PAYLOAD_DEPTH) return `the payload nests deeper than ${MAX_PAYLOAD_DEPTH} levels`;
    if (Array.isArray(value)) {
      // Bytes are a value, like a string, not a level (docs/protocol.md counts arrays and objects).
      for (const item of value) if (typeof item === "object" && item !== null && !(item instanceof Uint8Array)) stack.push([item, depth + 1]);
    } else if (!(value instanceof Uint8Array)) {
      if (Object.hasOwn(value as object, "__proto__")) return "an object key in the payload may not be __proto__";
      for (const key in value as Record<string, unknown>) {
        const item = (value as Record<string, unknown>)[key];
        if (typeof item === "object" && item !== null && !(item instanceof Uint8Array)) stack.push([item, depth + 1]);
      }
    }
  }
  return null;
}

/** Decoder for inbound client frames; one per node, sized by the payload limit. */
export class ClientFrameDecoder {
  /** MessagePack decoder whose length limits are the largest frame the node accepts. */
  private readonly msgpack;

  /** @param maxPayload the largest payload in bytes a publish may carry (--max-payload). */
  constructor(maxPayload: number) {
    this.msgpack = makeDecoder(maxFrameBytes(maxPayload));
  }

  /** Decodes a text (JSON) or binary (MessagePack) frame. Never throws. */
  decode(raw: string | Uint8Array): DecodedClientFrame {
    let obj: unknown;
    const isText = typeof raw === "string";
    // A frame nests at most the payload's depth plus its own object: refuse deeper ones before parsing builds them.
    if (raw.length >= DEPTH_SCAN_FROM_BYTES && (isText ? jsonTooDeep(raw, MAX_PAYLOAD_DEPTH + 1) : msgpackTooDeep(raw, MAX_PAYLOAD_DEPTH + 1))) {
      return fail("bad_frame", `the frame nests deeper than ${MAX_PAYLOAD_DEPTH} levels`);
    }
    try {
      obj = isText ? JSON.parse(raw) : this.msgpack.decode(raw);
    } catch {
      return fail("bad_frame", isText ? "the text frame is not valid JSON" : "the binary frame is not valid MessagePack");
    }
    if (typeof obj !== "object" || obj === null || Array.isArray(obj)) {
      return fail("bad_frame", "a frame must be an object with an op");
    }
    const rec = obj as Record<string, unknown>;
    if (typeof rec.op !== "string") return fail("bad_frame", "a frame must have a string op", salvageId(rec));
    if (!Object.hasOwn(SCHEMAS, rec.op)) return fail("unknown_op", "unknown op; expected sub, unsub, pub or ping", salvageId(rec));
    // The hot path: a well-formed publish skips valibot. Anything the check below does not accept
    // goes through the schema, which either accepts it too or says exactly what is wrong.
    if (rec.op === "pub" && isPlainPub(rec)) {
      const problem = channelProblem(rec.channel);
      if (problem) return fail("bad_channel", describeChannelProblem(problem), rec.id);
      return this.decodePub(rec, raw);
    }
    const parsed = v.safeParse(SCHEMAS[rec.op as Op], rec);
    if (!parsed.success) {
      const issue = parsed.issues[0];
      const where = issue.path?.map((p) => String(p.key)).join(".") ?? "frame";
      return fail("bad_frame", `${rec.op}: ${where}: ${issue.message}`, salvageId(rec));
    }
    const frame = parsed.output;
    if (frame.op === "ping") return { ok: true, frame, payload: null };
    const problem = channelProblem(frame.channel);
    if (problem) return fail("bad_channel", describeChannelProblem(problem), frame.id);
    if (frame.op !== "pub") return { ok: true, frame, payload: null };
    return this.decodePub(frame, raw);
  }

  private decodePub(frame: PubFields, raw: string | Uint8Array): DecodedClientFrame {
    const { channel, id, password } = frame;
    let data = frame.data;
    let json: JsonPayload | null = null;
    let size: number;
    if (data === undefined) return fail("bad_frame", "pub: data is required", id);
    if (typeof raw === "string" && frame.bin) {
      if (typeof data !== "string") return fail("bad_frame", "pub: with bin, data must be a base64 string", id);
      const bytes = fromBase64(data);
      if (!bytes) return fail("bad_frame", "pub: data is not valid base64", id);
      json = { text: `"${data}"`, bin: true, bytes: data.length + 2 }; // the base64 the client sent is already the JSON form (ASCII)
      data = bytes;
      size = bytes.length;
    } else {
      const problem = payloadProblem(data);
      if (problem) return fail("bad_frame", `pub: ${problem}`, id);
      if (data instanceof Uint8Array) {
        size = data.length;
      } else if (typeof raw === "string") {
        // From JSON.parse, so it holds no bytes: plain stringify, without payloadToJson's replacer
        // (a replacer function puts JSON.stringify on its slow path, ~8x slower).
        const text = JSON.stringify(data);
        size = utf8Length(text);
        json = { text, bin: false, bytes: size };
      } else {
        // A structured MessagePack payload is counted by its frame: an upper bound, and no re-encode.
        size = raw.byteLength;
      }
    }
    const out: ClientFrame = { op: "pub", channel, data };
    if (id !== undefined) out.id = id;
    if (password !== undefined) out.password = password;
    return { ok: true, frame: out, payload: { size, json } };
  }
}
