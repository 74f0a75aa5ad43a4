/**
 * Hostile input for the wire decoders (issue 8), shared by the short fuzz run in `npm test`
 * (test/unit/fuzz.test.ts) and the long one (`npm run fuzz`, scripts/fuzz.ts), so both exercise
 * the same generators and the same contract.
 *
 * The decoders under test are the node's two doors for untrusted bytes: the peer codec
 * (decodePeerFrame, decodePeerMessage) and the client edge (ClientFrameDecoder, JSON text and
 * MessagePack binary). The contract checked for every input: the call returns (never throws), and
 * what it returns is typed: an ok frame of a known type, or a refusal with a reason (peer) or a
 * code from the error table (client).
 *
 * Everything here is deterministic from a seed (Rng below), so any failing case can be replayed
 * from the seed and the case number that the runner prints.
 */
import { ClientFrameDecoder, type DecodedClientFrame } from "../../src/protocol/client-decode.ts";
import { encodeClientFrame, isChannelName, isErrorCode, type ClientFrame } from "../../src/protocol/index.ts";
import { encoder } from "../../src/protocol/msgpack.ts";
import { concatBytes } from "../../src/protocol/bytes.ts";
import type { CallBody, ChannelRecord } from "../../src/protocol/peer-frames.ts";
import { PEER_FRAME_TYPES, decodePeerFrame, decodePeerMessage, encodePeerFrame, joinPeerFrames, type PeerDecoded, type WireFrame } from "../../src/protocol/peer.ts";
import { PEER_MAX_FRAME } from "../../src/node/peers.ts";
import { forwardedDataBytes } from "../../src/protocol/data-forward.ts";

// ---------------------------------------------------------------------------------------------
// Seeded randomness

/** A small seeded PRNG (sfc32): fast, and the same sequence on every machine for one seed. */
export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number) {
    this.a = 0x9e3779b9;
    this.b = 0x243f6a88;
    this.c = 0xb7e15162;
    this.d = seed >>> 0;
    for (let i = 0; i < 12; i++) this.next(); // mix the seed through the state
  }

  /** The next 32-bit unsigned integer. */
  next(): number {
    this.a >>>= 0;
    this.b >>>= 0;
    this.c >>>= 0;
    this.d >>>= 0;
    const t = (this.a + this.b + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return n <= 1 ? 0 : Math.floor((this.next() / 0x1_0000_0000) * n);
  }

  /** An integer in [lo, hi]. */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }

  chance(p: number): boolean {
    return this.next() / 0x1_0000_0000 < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }

  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = this.next() & 0xff;
    return out;
  }

  /** A string of `n` characters drawn from `alphabet` (an array when it holds characters outside the BMP). */
  chars(alphabet: string | readonly string[], n: number): string {
    let s = "";
    for (let i = 0; i < n; i++) s += alphabet[this.int(alphabet.length)];
    return s;
  }
}

/** The seed of case `index` of a run seeded with `seed`: each case replays alone from these two numbers. */
export function caseSeed(seed: number, index: number): number {
  // splitmix32-style mixing so neighbouring indexes get unrelated streams.
  let z = (seed ^ Math.imul(index + 1, 0x9e3779b9)) >>> 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
  return (z ^ (z >>> 16)) >>> 0;
}

// ---------------------------------------------------------------------------------------------
// Inputs and the decoders' contract

/** One input for the decoders: bytes (a binary WebSocket message) or text (a text message). */
export type FuzzInput = { kind: "bytes"; bytes: Uint8Array } | { kind: "text"; text: string };

/** A named input; `make` builds it on demand so a corpus of 100 KB bombs is not held all at once. */
export interface FuzzCase {
  name: string;
  make: () => FuzzInput;
}

const bytesIn = (bytes: Uint8Array | number[]): FuzzInput => ({ kind: "bytes", bytes: bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes) });
const textIn = (text: string): FuzzInput => ({ kind: "text", text });

/** The decoders every input goes through, built once: one per limit the node uses. */
export interface Decoders {
  /** The node's client decoder at the default --max-payload (64 KiB). */
  client: ClientFrameDecoder;
  /** A client decoder with a large limit, so bombs bigger than 87 KiB reach the MessagePack decoder too. */
  clientLarge: ClientFrameDecoder;
}

export function makeDecoders(): Decoders {
  return { client: new ClientFrameDecoder(64 * 1024), clientLarge: new ClientFrameDecoder(4 * 1024 * 1024) };
}

/** The peer decoders' limit, as the node calls them (src/node/peers.ts). */
export const PEER_LIMIT = PEER_MAX_FRAME;

const CLIENT_OPS: ReadonlySet<unknown> = new Set(["sub", "unsub", "pub", "ping"]);

/** Why a client decoder result breaks the contract, or null when it is a typed result. */
export function clientResultProblem(out: DecodedClientFrame): string | null {
  if (typeof out !== "object" || out === null) return `not an object: ${String(out)}`;
  if (out.ok === true) {
    const f = out.frame as Record<string, unknown>;
    if (!CLIENT_OPS.has(f.op)) return `ok with op ${String(f.op)}`;
    if (f.op !== "ping" && !isChannelName(f.channel)) return `ok ${String(f.op)} with an invalid channel`;
    if (!validId(f.id)) return `ok with a bad id ${String(f.id)}`;
    if (f.op === "pub") {
      const p = out.payload;
      if (!p || typeof p.size !== "number" || !Number.isFinite(p.size) || p.size < 0) return "ok pub without a payload size";
      if (!("data" in f) || f.data === undefined) return "ok pub without data";
    } else if (out.payload !== null) return `ok ${String(f.op)} with a payload`;
    return null;
  }
  if (out.ok !== false) return `ok is ${String((out as { ok: unknown }).ok)}`;
  if (!isErrorCode(out.code)) return `refusal with unknown code ${String(out.code)}`;
  if (typeof out.message !== "string" || out.message.length === 0) return "refusal without a message";
  if (!validId(out.id)) return `refusal answering a bad id ${String(out.id)}`;
  return null;
}

function validId(id: unknown): boolean {
  return id === undefined || (typeof id === "string" && id.length <= 64) || (typeof id === "number" && Number.isSafeInteger(id) && id >= 0);
}

/** Why a peer decoder result breaks the contract, or null when it is a typed result. */
export function peerResultProblem(out: PeerDecoded): string | null {
  if (typeof out !== "object" || out === null) return `not an object: ${String(out)}`;
  if (out.ok === true) {
    const t = (out.frame as { t?: unknown } | null)?.t;
    if (typeof t !== "string" || !Object.hasOwn(PEER_FRAME_TYPES, t)) return `ok with frame type ${String(t)}`;
    // A frame the decoder accepted is one this node's own encoder can send on: re-encoding it
    // must work, or a relayed frame would crash the relaying node.
    try {
      encodePeerFrame(out.frame);
    } catch (err) {
      return `an accepted ${t} frame cannot be re-encoded: ${String(err)}`;
    }
    // A relay forwards an accepted DATA frame's own bytes with hops patched: whatever they were,
    // the patched bytes must decode to the frame with hops + 1 (or not be patched at all).
    if (out.frame.t === "data" && out.bytes !== undefined) {
      const forwarded = { ...out.frame, hops: out.frame.hops + 1 };
      const patched = forwardedDataBytes(out.frame, out.bytes, forwarded);
      if (patched !== null) {
        const again = decodePeerFrame(patched, PEER_MAX_FRAME);
        // Compared by encoding, since a payload may hold values unequal to themselves (an invalid Date).
        if (!again.ok || !Bun.deepEquals(encodePeerFrame(again.frame), encodePeerFrame(forwarded))) return "patched DATA bytes do not decode to the frame with hops + 1";
      }
    }
    return null;
  }
  if (out.ok !== false) return `ok is ${String((out as { ok: unknown }).ok)}`;
  if (typeof out.reason !== "string" || out.reason.length === 0) return "refusal without a reason";
  return null;
}

/** One broken promise of a decoder: which decoder, and what went wrong (a throw or an untyped result). */
export interface Violation {
  decoder: string;
  problem: string;
}

/**
 * Runs `input` through every decoder and returns what broke. Bytes go to the peer decoders and
 * to the client's MessagePack side, and (as text, through a lossy UTF-8 decode) to its JSON side;
 * text goes to the client's JSON side, and its UTF-8 bytes to the binary decoders.
 */
export function checkInput(input: FuzzInput, decoders: Decoders): Violation[] {
  const bytes = input.kind === "bytes" ? input.bytes : new TextEncoder().encode(input.text);
  const text = input.kind === "text" ? input.text : new TextDecoder().decode(input.bytes);
  const out: Violation[] = [];
  const run = (decoder: string, fn: () => string | null) => {
    try {
      const problem = fn();
      if (problem !== null) out.push({ decoder, problem });
    } catch (err) {
      out.push({ decoder, problem: `threw ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}` });
    }
  };
  run("decodePeerFrame", () => peerResultProblem(decodePeerFrame(bytes, PEER_LIMIT)));
  run("decodePeerMessage", () => {
    const all = decodePeerMessage(bytes, PEER_LIMIT);
    if (!Array.isArray(all) || all.length === 0) return "no result";
    for (let i = 0; i < all.length; i++) {
      const problem = peerResultProblem(all[i]!);
      if (problem) return `frame ${i}: ${problem}`;
      if (i < all.length - 1 && !all[i]!.ok) return `a refusal at ${i} is not the last entry`;
    }
    return null;
  });
  run("ClientFrameDecoder(binary)", () => clientResultProblem(decoders.client.decode(bytes)));
  run("ClientFrameDecoder(binary, 4 MiB)", () => clientResultProblem(decoders.clientLarge.decode(bytes)));
  run("ClientFrameDecoder(text)", () => clientResultProblem(decoders.client.decode(text)));
  if (input.kind === "text") run("ClientFrameDecoder(text, 4 MiB)", () => clientResultProblem(decoders.clientLarge.decode(text)));
  return out;
}

// ---------------------------------------------------------------------------------------------
// Hand-made MessagePack pieces (the encoder would never write a lying header, so we do)

const te = new TextEncoder();
const cat = (...parts: (Uint8Array | number[])[]): Uint8Array => concatBytes(parts.map((p) => (p instanceof Uint8Array ? p : Uint8Array.from(p))));
const repeat = (unit: number[], times: number): Uint8Array => {
  const out = new Uint8Array(unit.length * times);
  for (let i = 0; i < times; i++) out.set(unit, i * unit.length);
  return out;
};
const u32 = (n: number): number[] => [(n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255];
/** A MessagePack fixstr/str8 of raw bytes (which need not be UTF-8). */
const rawStr = (b: number[] | Uint8Array): Uint8Array => cat(b.length < 32 ? [0xa0 | b.length] : [0xd9, b.length], b);
const str = (s: string): Uint8Array => rawStr(te.encode(s));

/** Headers claiming far more bytes or elements than any frame holds: each would reserve GBs if trusted. */
export const LENGTH_BOMBS: Record<string, number[]> = {
  "str32 4 GiB": [0xdb, ...u32(0xffffffff)],
  "str32 2 GiB": [0xdb, ...u32(0x7fffffff)],
  "bin32 4 GiB": [0xc6, ...u32(0xffffffff)],
  "bin32 4 MiB + 1": [0xc6, ...u32(4 * 1024 * 1024 + 1)],
  "array32 4 G": [0xdd, ...u32(0xffffffff)],
  "array32 256 M": [0xdd, ...u32(0x10000000)],
  "map32 4 G": [0xdf, ...u32(0xffffffff)],
  "map32 2 G": [0xdf, ...u32(0x7fffffff)],
  "ext32 4 GiB": [0xc9, ...u32(0xffffffff), 0x01],
  "array16 65535": [0xdc, 0xff, 0xff],
  "map16 65535": [0xde, 0xff, 0xff],
  "str16 65535": [0xda, 0xff, 0xff],
  "bin16 65535": [0xc5, 0xff, 0xff],
};

/** Extreme numbers, each as one MessagePack value. */
export const HUGE_NUMBERS: Record<string, number[]> = {
  "uint64 max": [0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
  "uint64 2^53+1": [0xcf, 0x00, 0x20, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01],
  "int64 min": [0xd3, 0x80, 0, 0, 0, 0, 0, 0, 0],
  "int64 -1": [0xd3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
  "uint32 max": [0xce, 0xff, 0xff, 0xff, 0xff],
  "float64 NaN": [0xcb, 0x7f, 0xf8, 0, 0, 0, 0, 0, 0],
  "float64 +Inf": [0xcb, 0x7f, 0xf0, 0, 0, 0, 0, 0, 0],
  "float64 -Inf": [0xcb, 0xff, 0xf0, 0, 0, 0, 0, 0, 0],
  "float64 -0": [0xcb, 0x80, 0, 0, 0, 0, 0, 0, 0],
  "float64 max": [0xcb, 0x7f, 0xef, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
  "float64 denormal": [0xcb, 0, 0, 0, 0, 0, 0, 0, 1],
  "float32 NaN": [0xca, 0x7f, 0xc0, 0, 0],
  "float32 -Inf": [0xca, 0xff, 0x80, 0, 0],
  "float64 1.5": [0xcb, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0],
};

/** Byte strings that are not UTF-8, as raw MessagePack str bodies. */
export const BAD_UTF8: Record<string, number[]> = {
  "lone 0xff": [0xff],
  "overlong NUL": [0xc0, 0x80],
  "UTF-16 surrogate": [0xed, 0xa0, 0x80],
  "above U+10FFFF": [0xf4, 0x90, 0x80, 0x80],
  "cut 3-byte sequence": [0xe2, 0x82],
  "lone continuation": [0x80, 0x61],
};

/** Timestamp (-1) and other ext values: short, long, out of range, unknown types. */
const EXTS: number[][] = [
  [0xd6, 0xff, 0xff, 0xff, 0xff, 0xff], // timestamp32 max
  [0xc7, 0x0c, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff], // timestamp96, nsec over 1e9, sec 2^63-1: an invalid Date
  [0xc7, 0x03, 0xff, 0, 0, 0], // timestamp of 3 bytes: malformed
  [0xd4, 0x05, 0x00], // an unknown ext type
  [0xd8, 0xff, ...new Array(16).fill(0xff)], // fixext16 timestamp: malformed
];

/** The MessagePack prefix of a DATA frame up to its payload: [18, "a", 1, 2, 0, "c", "a~1~0", nil, nil, <payload>]. */
const DATA_PREFIX = cat([0x9a, 0x12], str("a"), [0x01, 0x02, 0x00], str("c"), str("a~1~0"), [0xc0, 0xc0]);
/** The MessagePack prefix of a client publish up to its payload: {"op":"pub","channel":"c","id":1,"data": <payload>}. */
const PUB_PREFIX = cat([0x84], str("op"), str("pub"), str("channel"), str("c"), str("id"), [0x01], str("data"));

/** A MessagePack client frame map from key/value pieces (values already encoded). */
const clientMap = (entries: [Uint8Array, Uint8Array | number[]][]): Uint8Array => cat([0x80 | entries.length], ...entries.flat());

// ---------------------------------------------------------------------------------------------
// The fixed hostile corpus

/**
 * The named hostile inputs: nesting bombs (10^4 and 10^5 deep, closed and unclosed, arrays and
 * maps, alone and where a payload goes), length bombs, huge numbers and NaN/Infinity in every
 * numeric position, `__proto__` keys, invalid UTF-8, extension values, and every truncation of
 * a set of valid frames. Deterministic, and the same for the unit test and the long run.
 */
export function hostileCorpus(): FuzzCase[] {
  const cases: FuzzCase[] = [];
  const add = (name: string, make: () => FuzzInput) => cases.push({ name, make });

  // --- nesting bombs
  for (const depth of [10_000, 100_000]) {
    add(`fixarray nesting ${depth}, closed`, () => bytesIn(cat(repeat([0x91], depth), [0x01])));
    add(`fixarray nesting ${depth}, never closed`, () => bytesIn(repeat([0x91], depth)));
    add(`array16 nesting ${depth}`, () => bytesIn(cat(repeat([0xdc, 0x00, 0x01], depth), [0x01])));
    add(`array32 nesting ${depth}`, () => bytesIn(cat(repeat([0xdd, 0, 0, 0, 0x01], depth), [0x01])));
    add(`fixmap nesting ${depth}`, () => bytesIn(cat(repeat([0x81, 0xa1, 0x6b], depth), [0x01])));
    add(`map nesting ${depth} under __proto__ keys`, () => bytesIn(cat(repeat([0x81, ...str("__proto__")], depth), [0x01])));
    add(`nesting ${depth} in a DATA payload`, () => bytesIn(cat(DATA_PREFIX, repeat([0x91], depth), [0x01])));
    add(`nesting ${depth} in a client pub payload`, () => bytesIn(cat(PUB_PREFIX, repeat([0x91], depth), [0x01])));
    add(`nesting ${depth} as gossip members`, () => bytesIn(cat([0x94, 0x0c], repeat([0x91], depth), [0x90, 0x90, 0x90])));
    add(`nesting ${depth} as a map key`, () => bytesIn(cat([0x81], repeat([0x91], depth), [0x01, 0x01])));
    add(`JSON [ nesting ${depth}, closed`, () => textIn(`${"[".repeat(depth)}${"]".repeat(depth)}`));
    add(`JSON [ nesting ${depth}, never closed`, () => textIn("[".repeat(depth)));
    add(`JSON object nesting ${depth} in pub data`, () => textIn(`{"op":"pub","channel":"c","id":1,"data":${'{"a":'.repeat(depth)}1${"}".repeat(depth)}}`));
    add(`JSON __proto__ nesting ${depth} in pub data`, () => textIn(`{"op":"pub","channel":"c","data":${'{"__proto__":'.repeat(depth)}null${"}".repeat(depth)}}`));
    add(`JSON array nesting ${depth} as the id`, () => textIn(`{"op":"sub","channel":"c","id":${"[".repeat(depth)}${"]".repeat(depth)}}`));
  }

  // --- length bombs: alone, where a payload goes, as a list, as a map key, and back to back
  for (const [label, header] of Object.entries(LENGTH_BOMBS)) {
    add(`${label} alone`, () => bytesIn(header));
    add(`${label} with a few bytes after`, () => bytesIn(cat(header, [0x01, 0x02, 0x03, 0x04])));
    add(`${label} as a DATA payload`, () => bytesIn(cat(DATA_PREFIX, header)));
    add(`${label} as a client pub payload`, () => bytesIn(cat(PUB_PREFIX, header)));
    add(`${label} as gossip members`, () => bytesIn(cat([0x94, 0x0c], header)));
    add(`${label} as the frame's type`, () => bytesIn(cat([0x92], header, [0x00])));
    add(`${label} as a map key`, () => bytesIn(cat([0x81], header)));
    add(`${label} twice`, () => bytesIn(cat([0x92], header, header)));
  }

  // --- huge numbers and NaN/Infinity, in every numeric position of a frame
  const numericPositions: [string, (n: Uint8Array) => Uint8Array][] = [
    ["the frame type", (n) => cat([0x92], n, [0x00])],
    ["ping.ts", (n) => cat([0x92, 0x0a], n)],
    ["pong.ts", (n) => cat([0x92, 0x0b], n)],
    ["data.incarnation", (n) => cat([0x9a, 0x12], str("a"), n, [0x02, 0x00], str("c"), str("a~1~0"), [0xc0, 0xc0, 0x01])],
    ["data.seq", (n) => cat([0x9a, 0x12], str("a"), [0x01], n, [0x00], str("c"), str("a~1~0"), [0xc0, 0xc0, 0x01])],
    ["data.hops", (n) => cat([0x9a, 0x12], str("a"), [0x01, 0x02], n, str("c"), str("a~1~0"), [0xc0, 0xc0, 0x01])],
    ["data.n", (n) => cat([0x9a, 0x12], str("a"), [0x01, 0x02, 0x00], str("c"), str("a~1~0"), [0xc0], n, [0x01])],
    ["data payload", (n) => cat(DATA_PREFIX, n)],
    ["regsync.hash", (n) => cat([0x93, 0x10], n, [0xc3])],
    ["call.hops", (n) => cat([0x96, 0x11], str("a"), str("b"), n, [0x01], str("voted"))],
    ["call.req", (n) => cat([0x96, 0x11], str("a"), str("b"), [0x00], n, str("voted"))],
    ["leave.incarnation", (n) => cat([0x93, 0x0f], str("a"), n)],
    ["digest lsaSeq", (n) => cat([0x93, 0x0d, 0x91, 0x95], str("a"), [0x01], str("alive"), n, [0x00, 0xc2])],
    ["lsa link rtt", (n) => cat([0x94, 0x0c, 0x90, 0x91, 0x94], str("a"), [0x01, 0x01, 0x91, 0x92], str("b"), n, [0x90])],
    ["channel createdAt", (n) => cat([0x95, 0x0c, 0x90, 0x90, 0x90, 0x91, 0x98], str("c"), str("a~1~0"), str("a"), str("a"), n, [0xc0, 0xc2, 0xc0])],
    ["hello.v", (n) => cat([0x97, 0x01], n, str("a"), [0x01], str(""), str(""), [0xc4, 0x20], new Uint8Array(32))],
    ["client id", (n) => clientMap([[str("op"), str("ping")], [str("id"), n]])],
    ["client pub data", (n) => cat(PUB_PREFIX, n)],
    ["client op", (n) => clientMap([[str("op"), n]])],
  ];
  for (const [numLabel, num] of Object.entries(HUGE_NUMBERS)) {
    for (const [where, build] of numericPositions) add(`${numLabel} as ${where}`, () => bytesIn(build(new Uint8Array(num))));
  }
  for (const [label, json] of [
    ["NaN literal", '{"op":"pub","channel":"c","data":NaN}'],
    ["Infinity literal", '{"op":"pub","channel":"c","data":Infinity}'],
    ["-Infinity literal", '{"op":"pub","channel":"c","data":-Infinity}'],
    ["1e999 as data", '{"op":"pub","channel":"c","data":1e999}'],
    ["1e999 as id", '{"op":"sub","channel":"c","id":1e999}'],
    ["-1e999 as id", '{"op":"sub","channel":"c","id":-1e999}'],
    ["1e-999 as id", '{"op":"sub","channel":"c","id":1e-999}'],
    ["-0 as id", '{"op":"ping","id":-0}'],
    ["30-digit id", '{"op":"sub","channel":"c","id":123456789012345678901234567890}'],
    ["2^53 id", '{"op":"ping","id":9007199254740992}'],
    ["400-digit number as data", `{"op":"pub","channel":"c","data":${"9".repeat(400)}}`],
    ["1e308 * 10 in an array", '{"op":"pub","channel":"c","data":[1e308,10e308,-10e308]}'],
  ] as const) {
    add(`JSON ${label}`, () => textIn(json));
  }

  // --- __proto__ and other prototype keys
  for (const key of ["__proto__", "constructor", "prototype", "toString", "hasOwnProperty"]) {
    add(`msgpack ${key} key at the top`, () => bytesIn(clientMap([[str("op"), str("sub")], [str("channel"), str("c")], [str(key), clientMap([[str("id"), [0x05]]])]])));
    add(`msgpack ${key} key in pub data`, () => bytesIn(cat(PUB_PREFIX, clientMap([[str(key), clientMap([[str("polluted"), [0xc3]]])]]))));
    add(`msgpack ${key} key in a DATA payload`, () => bytesIn(cat(DATA_PREFIX, clientMap([[str(key), [0x01]]]))));
    add(`msgpack ${key} as the op`, () => bytesIn(clientMap([[str("op"), str(key)]])));
    add(`msgpack ${key} as the channel`, () => bytesIn(clientMap([[str("op"), str("sub")], [str("channel"), str(key)]])));
    add(`JSON ${key} key at the top`, () => textIn(`{"op":"sub","channel":"c","${key}":{"id":5,"op":"pub"}}`));
    add(`JSON ${key} key in pub data`, () => textIn(`{"op":"pub","channel":"c","id":2,"data":{"a":[{"${key}":{"polluted":true}}]}}`));
    add(`JSON ${key} as the op`, () => textIn(`{"op":"${key}","id":3}`));
    add(`JSON ${key} as the id object`, () => textIn(`{"op":"ping","id":{"${key}":null}}`));
  }
  add("JSON escaped \\u005f_proto__ key", () => textIn('{"op":"pub","channel":"c","data":{"\\u005f_proto__":{"x":1}}}'));
  add("JSON duplicate op keys", () => textIn('{"op":"ping","op":"pub","channel":"c","data":1,"op":"sub"}'));
  add("msgpack duplicate op keys", () => bytesIn(clientMap([[str("op"), str("ping")], [str("op"), str("pub")], [str("channel"), str("c")], [str("data"), [0x01]]])));
  add("msgpack map with a nil key", () => bytesIn(cat([0x81, 0xc0, 0x01])));
  add("msgpack map with an array key", () => bytesIn(cat([0x82], str("op"), str("ping"), [0x91, 0x01, 0x01])));
  add("msgpack map with a bin key", () => bytesIn(cat([0x81, 0xc4, 0x02, 0x6f, 0x70], str("ping"))));
  add("msgpack map with a float key", () => bytesIn(cat([0x82], str("op"), str("ping"), [0xcb, 0x7f, 0xf8, 0, 0, 0, 0, 0, 0, 0x01])));

  // --- invalid UTF-8, where a string is read
  for (const [label, bad] of Object.entries(BAD_UTF8)) {
    add(`${label} as the op`, () => bytesIn(clientMap([[str("op"), rawStr(bad)]])));
    add(`${label} as the channel`, () => bytesIn(clientMap([[str("op"), str("sub")], [str("channel"), rawStr(bad)]])));
    add(`${label} as a map key`, () => bytesIn(clientMap([[rawStr(bad), str("ping")]])));
    add(`${label} as the password`, () => bytesIn(clientMap([[str("op"), str("sub")], [str("channel"), str("c")], [str("password"), rawStr(bad)]])));
    add(`${label} in pub data`, () => bytesIn(cat(PUB_PREFIX, rawStr(bad))));
    add(`${label} as data.origin`, () => bytesIn(cat([0x9a, 0x12], rawStr(bad), [0x01, 0x02, 0x00], str("c"), str("a~1~0"), [0xc0, 0xc0, 0x01])));
    add(`${label} as refuse.message`, () => bytesIn(cat([0x93, 0x04], str("bad_key"), rawStr(bad))));
    add(`${label} as an rpc body`, () => bytesIn(cat([0x97, 0x11], str("a"), str("b"), [0x00, 0x01], str("rpc"), rawStr(bad))));
    add(`${label} as JSON text (lossy UTF-8 decode)`, () => textIn(new TextDecoder().decode(cat(te.encode('{"op":"pub","channel":"c","data":"'), bad, te.encode('"}')))));
  }
  for (const [label, s] of [
    ["lone high surrogate", "\ud800"],
    ["lone low surrogate", "\udc00"],
    ["reversed pair", "\udc00\ud800"],
    ["NUL", "\u0000"],
    ["BOM", "\ufeff"],
  ] as const) {
    add(`JSON ${label} in data`, () => textIn(`{"op":"pub","channel":"c","data":"x${s}y"}`));
    add(`JSON ${label} in the channel`, () => textIn(`{"op":"sub","channel":"c${s}"}`));
    add(`JSON ${label} as a key`, () => textIn(`{"op":"pub","channel":"c","data":{"${s}":1}}`));
    add(`JSON ${label} in the password`, () => textIn(`{"op":"sub","channel":"c","password":"${s}"}`));
    add(`JSON ${label} before the frame`, () => textIn(`${s}{"op":"ping"}`));
  }
  add("JSON escaped lone surrogates", () => textIn('{"op":"pub","channel":"c","data":"\\ud800\\udfff\\udc00"}'));

  // --- extension values (timestamps and unknown types)
  EXTS.forEach((ext, i) => {
    add(`ext #${i} alone`, () => bytesIn(ext));
    add(`ext #${i} as a client pub payload`, () => bytesIn(cat(PUB_PREFIX, ext)));
    add(`ext #${i} as a DATA payload`, () => bytesIn(cat(DATA_PREFIX, ext)));
    add(`ext #${i} as ping.ts`, () => bytesIn(cat([0x92, 0x0a], ext)));
    add(`ext #${i} as the client id`, () => bytesIn(clientMap([[str("op"), str("ping")], [str("id"), ext]])));
  });

  // --- limits at and past their edges
  add("gossip with 10,001 members", () => bytesIn(encoder.encode([12, new Array(10_001).fill(["a", 1, "", "", "alive"]), [], []])));
  add("lsa with 1,025 links", () => bytesIn(encoder.encode([12, [], [["a", 1, 1, new Array(1025).fill(["b", 1])]], []])));
  add("interest with 100,001 channels", () => bytesIn(encoder.encode([12, [], [], [["a", 1, 1, true, new Array(100_001).fill("c"), []]]])));
  add("200,000 pings in one message", () => bytesIn(repeat([0x92, 0x0a, 0x00], 200_000)));
  add("1 MiB of nils as one message", () => bytesIn(new Uint8Array(1024 * 1024).fill(0xc0)));
  // Zeros, not nesting: past the size check the client decoders would still read it (the node
  // never hands them a frame this big), and 4 MiB of nesting is its own finding (see fuzz.test.ts).
  add("a message one byte over the peer limit", () => bytesIn(new Uint8Array(PEER_LIMIT + 1)));
  add("empty bytes", () => bytesIn([]));
  add("empty text", () => textIn(""));
  add("a 300-byte channel", () => textIn(JSON.stringify({ op: "sub", channel: "x".repeat(300) })));
  add("a 65-char id", () => textIn(JSON.stringify({ op: "ping", id: "i".repeat(65) })));
  add("a 1025-char password", () => textIn(JSON.stringify({ op: "sub", channel: "c", password: "p".repeat(1025) })));
  add("bin with bad base64", () => textIn('{"op":"pub","channel":"c","bin":true,"data":"@@@="}'));
  add("bin with base64 whitespace", () => textIn('{"op":"pub","channel":"c","bin":true,"data":" AQ ID "}'));
  add("bin with a huge base64 string", () => textIn(`{"op":"pub","channel":"c","bin":true,"data":"${"A".repeat(200_000)}"}`));
  add("bin with a non-string", () => textIn('{"op":"pub","channel":"c","bin":true,"data":[1,2]}'));

  // --- every truncation of valid frames (the seed fixes which frames)
  const rng = new Rng(0x7e57);
  const frames: Uint8Array[] = [];
  for (const t of Object.keys(PEER_FRAME_TYPES) as WireFrame["t"][]) frames.push(encodePeerFrame(randomPeerFrame(rng, t)));
  for (const op of ["sub", "unsub", "pub", "ping"] as const) frames.push(encodeClientFrame(randomClientFrame(rng, op), "msgpack") as Uint8Array);
  frames.forEach((bytes, f) => {
    for (let cut = 0; cut < bytes.length; cut++) add(`frame #${f} cut at ${cut} of ${bytes.length}`, () => bytesIn(bytes.subarray(0, cut)));
  });
  for (const op of ["sub", "pub", "ping"] as const) {
    const text = encodeClientFrame(randomClientFrame(rng, op), "json") as string;
    for (let cut = 0; cut < text.length; cut += Math.max(1, Math.floor(text.length / 40))) add(`JSON ${op} cut at ${cut}`, () => textIn(text.slice(0, cut)));
  }
  return cases;
}

// ---------------------------------------------------------------------------------------------
// Valid frames (what the mutators start from)

const NAME_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-";
const CHANNEL_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-.:/@=+~";
const STATES = ["alive", "suspect", "dead", "left"] as const;

const nameOf = (r: Rng) => r.chars(NAME_CHARS, r.range(1, r.chance(0.1) ? 64 : 8));
const channelOf = (r: Rng) => r.chars(CHANNEL_CHARS, r.range(1, r.chance(0.05) ? 255 : 12));
const uintOf = (r: Rng) => (r.chance(0.1) ? Number.MAX_SAFE_INTEGER - r.int(1000) : r.chance(0.5) ? r.int(256) : r.next() * 1000 + r.int(1000));
const msOf = (r: Rng) => (r.chance(0.5) ? r.int(100_000) : r.next() / 7);
const instanceOf = (r: Rng) => `${nameOf(r)}~${r.int(1e9).toString(36)}~${r.int(1e6).toString(36)}`;
const urlOf = (r: Rng) => (r.chance(0.2) ? "" : `${r.pick(["ws", "wss", "http", "https"])}://${r.chars("abcdefghijklmnopqrstuvwxyz0123456789.", r.range(1, 20))}:${r.range(1, 65535)}`);
const regionOf = (r: Rng) => (r.chance(0.3) ? "" : r.chars(NAME_CHARS, r.range(1, 10)));
const verifierOf = (r: Rng) => (r.chance(0.5) ? null : `$argon2id$v=19$m=19456,t=2,p=1$${r.chars(NAME_CHARS, 22)}$${r.chars(NAME_CHARS, 43)}`);
/** Text with multi-byte characters; an array so the emoji is never split into lone surrogates. */
const TEXT_CHARS = Array.from("abc xyz é中🙂\"\\\n{}[]");
const textOf = (r: Rng, max: number) => r.chars(TEXT_CHARS, r.int(max));

/** A random JSON-ish payload (with bytes sometimes), bounded in size and depth. */
export function payloadOf(r: Rng, depth = 0): unknown {
  const k = r.int(depth > 4 ? 6 : 9);
  switch (k) {
    case 0:
      return null;
    case 1:
      return r.chance(0.5);
    case 2:
      return r.chance(0.5) ? r.int(1e6) - 5e5 : (r.next() - 2 ** 31) / 1024;
    case 3:
      return textOf(r, 20);
    case 4:
      return r.bytes(r.int(40));
    case 5:
      return r.int(2 ** 31);
    case 6:
    case 7:
      return Array.from({ length: r.int(5) }, () => payloadOf(r, depth + 1));
    default: {
      const o: Record<string, unknown> = {};
      for (let i = r.int(5); i > 0; i--) o[r.chars("abcdefgh", r.range(1, 6))] = payloadOf(r, depth + 1);
      return o;
    }
  }
}

function channelRecordOf(r: Rng): ChannelRecord {
  return { name: channelOf(r), instance: instanceOf(r), creator: nameOf(r), owner: nameOf(r), createdAt: msOf(r), verifier: verifierOf(r), strict: r.chance(0.5), closedAt: r.chance(0.7) ? null : msOf(r) };
}

function callBodyOf(r: Rng): CallBody {
  switch (r.int(7)) {
    case 0:
      return { kind: "open", channel: channelOf(r), verifier: verifierOf(r), strict: r.chance(0.5) };
    case 1:
      return { kind: "bound", record: channelRecordOf(r) };
    case 2:
      return { kind: "refused", code: r.pick(["not_ready", "channel_unavailable"] as const), message: textOf(r, 60) };
    case 3:
      return { kind: "vote", channel: channelOf(r) };
    case 4:
      return { kind: "voted" };
    default:
      return { kind: r.pick(["rpc", "rpcReply"] as const), body: JSON.stringify({ op: textOf(r, 10), args: payloadOf(r, 3) }, (_k, v) => (v instanceof Uint8Array ? [...v] : v)) };
  }
}

/** A valid peer frame of type `t` (random type when omitted), every field within the codec's grammar. */
export function randomPeerFrame(r: Rng, t: WireFrame["t"] = r.pick(Object.keys(PEER_FRAME_TYPES) as WireFrame["t"][])): WireFrame {
  const list = <T>(max: number, of: () => T): T[] => Array.from({ length: r.int(max + 1) }, of);
  switch (t) {
    case "hello":
      return { t, v: r.int(4), name: nameOf(r), incarnation: uintOf(r), region: regionOf(r), url: urlOf(r), nonce: r.bytes(32) };
    case "welcome":
      return { t, v: r.int(4), name: nameOf(r), incarnation: uintOf(r), region: regionOf(r), url: urlOf(r), nonce: r.bytes(32), mac: r.bytes(32) };
    case "auth":
      return { t, mac: r.bytes(32) };
    case "refuse":
      return { t, code: r.chars("abcdefghijklmnopqrstuvwxyz_0123456789", r.range(1, 20)), message: textOf(r, 80) };
    case "ping":
    case "pong":
      return { t, ts: msOf(r) };
    case "gossip":
      return {
        t,
        members: list(4, () => ({ name: nameOf(r), incarnation: uintOf(r), url: urlOf(r), region: regionOf(r), state: r.pick(STATES) })),
        lsas: list(3, () => ({ origin: nameOf(r), incarnation: uintOf(r), seq: uintOf(r), links: list(4, (): [string, number] => [nameOf(r), msOf(r)]) })),
        interests: list(3, () => ({ origin: nameOf(r), incarnation: uintOf(r), version: uintOf(r), full: r.chance(0.5), add: list(4, () => channelOf(r)), remove: list(3, () => channelOf(r)) })),
        channels: list(3, () => channelRecordOf(r)),
        loads: list(3, () => ({ origin: nameOf(r), incarnation: uintOf(r), seq: uintOf(r), connections: uintOf(r), draining: r.chance(0.2) })),
      };
    case "digest":
      return { t, entries: list(5, () => ({ name: nameOf(r), incarnation: uintOf(r), state: r.pick(STATES), lsaSeq: r.chance(0.2) ? -1 : uintOf(r), interestVersion: r.chance(0.2) ? -1 : uintOf(r) })), reply: r.chance(0.5) };
    case "leave":
      return { t, name: nameOf(r), incarnation: uintOf(r) };
    case "regsync":
      return { t, hash: r.next(), reply: r.chance(0.5) };
    case "call":
      return { t, to: nameOf(r), from: nameOf(r), hops: r.int(256), req: uintOf(r), body: callBodyOf(r) };
    case "data": {
      const frame: WireFrame = { t, origin: nameOf(r), incarnation: uintOf(r), seq: uintOf(r), hops: r.int(256), channel: channelOf(r), instance: instanceOf(r), data: payloadOf(r) };
      if (r.chance(0.7)) frame.from = `${r.chars("abcdefghijklmnopqrstuvwxyz0123456789", 6)}.${r.int(1e6).toString(36)}`;
      if (r.chance(0.7)) frame.n = uintOf(r);
      return frame;
    }
  }
}

/** A valid client frame (op random when omitted), with every optional field sometimes present. */
export function randomClientFrame(r: Rng, op: ClientFrame["op"] = r.pick(["sub", "unsub", "pub", "ping"] as const)): ClientFrame {
  const id = r.chance(0.3) ? undefined : r.chance(0.5) ? r.int(1e9) : r.chars(NAME_CHARS, r.range(1, 64));
  const withId = <T extends object>(f: T): T => (id === undefined ? f : { ...f, id });
  const password = r.chance(0.7) ? undefined : textOf(r, 40);
  switch (op) {
    case "sub": {
      const f: ClientFrame = withId({ op, channel: channelOf(r) });
      if (r.chance(0.4)) f.echo = r.chance(0.5);
      if (password !== undefined) f.password = password;
      return f;
    }
    case "unsub":
      return withId({ op, channel: channelOf(r) });
    case "pub": {
      const f: ClientFrame = withId({ op, channel: channelOf(r), data: payloadOf(r) });
      if (password !== undefined) f.password = password;
      return f;
    }
    case "ping":
      return withId({ op });
  }
}

// ---------------------------------------------------------------------------------------------
// Mutators

/** Single bytes that MessagePack gives meaning to: type markers, boundaries, and the never-used 0xc1. */
const INTERESTING_BYTES = [0x00, 0x01, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc1, 0xc2, 0xc3, 0xc4, 0xc6, 0xc7, 0xc9, 0xca, 0xcb, 0xcf, 0xd3, 0xd4, 0xd8, 0xd9, 0xdb, 0xdc, 0xdd, 0xde, 0xdf, 0xe0, 0xff];
/** Multi-byte pieces worth splicing in: bombs, extremes, bad UTF-8, prototype keys. */
const INTERESTING_CHUNKS: Uint8Array[] = [
  ...Object.values(LENGTH_BOMBS).map((b) => new Uint8Array(b)),
  ...Object.values(HUGE_NUMBERS).map((b) => new Uint8Array(b)),
  ...Object.values(BAD_UTF8).map((b) => rawStr(b)),
  ...EXTS.map((b) => new Uint8Array(b)),
  str("__proto__"),
  str("constructor"),
  str("op"),
  str("pub"),
  str("channel"),
  str("data"),
];

/**
 * A mutant of `base`: 1 to 4 of bit flips, interesting bytes, spliced pieces (bombs, extremes,
 * bad UTF-8, chunks of other valid frames), deletions, duplications, nesting runs and truncations.
 */
export function mutateBytes(r: Rng, base: Uint8Array, donors: readonly Uint8Array[]): Uint8Array {
  let b: Uint8Array = base.slice();
  for (let m = r.range(1, 4); m > 0; m--) {
    const at = r.int(b.length + 1);
    switch (r.int(9)) {
      case 0: // bit flips
        for (let k = r.range(1, 8); k > 0 && b.length > 0; k--) b[r.int(b.length)]! ^= 1 << r.int(8);
        break;
      case 1: // interesting bytes
        for (let k = r.range(1, 3); k > 0 && b.length > 0; k--) b[r.int(b.length)] = r.pick(INTERESTING_BYTES);
        break;
      case 2: // splice in an interesting chunk
        b = cat(b.subarray(0, at), r.pick(INTERESTING_CHUNKS), b.subarray(r.chance(0.5) ? at : Math.min(b.length, at + r.int(10))));
        break;
      case 3: {
        // splice in a piece of another valid frame
        const donor = r.pick(donors);
        const from = r.int(donor.length);
        b = cat(b.subarray(0, at), donor.subarray(from, from + r.range(1, 64)), b.subarray(at));
        break;
      }
      case 4: // delete a range
        b = cat(b.subarray(0, at), b.subarray(Math.min(b.length, at + r.range(1, 16))));
        break;
      case 5: {
        // duplicate a range in place
        const len = r.range(1, 32);
        b = cat(b.subarray(0, at + len), b.subarray(at, at + len), b.subarray(at + len));
        break;
      }
      case 6: // a run of nesting
        b = cat(b.subarray(0, at), repeat([r.pick([0x91, 0x81, 0x92])], r.range(10, 2000)), b.subarray(at));
        break;
      case 7: // truncate
        b = b.subarray(0, at);
        break;
      default: // random bytes
        b = cat(b.subarray(0, at), r.bytes(r.range(1, 16)), b.subarray(at));
    }
  }
  return b;
}

/** Pieces of JSON worth splicing into a text frame. */
const INTERESTING_TOKENS = [
  '"__proto__"', '{"__proto__":{"op":"pub"}}', '"constructor"', "NaN", "Infinity", "-Infinity", "1e999", "-1e999", "-0", "1.5", "9007199254740993",
  "123456789012345678901234567890", '"\ud800"', '"\\ud800"', "\ud800", "\udfff", "\u0000", "\ufeff", "null", "true", "[]", "{}", '"op"', '"pub"', '"sub"',
  '"channel"', '"data"', '"bin":true', '"id"', '"password"', ",", ":", "}", "]", '"', "\\", '"\\u0000"', '"a b"', '"x".repeat',
];

/** A mutant of JSON text: deletions, duplications, spliced tokens, nesting runs, flipped code units, truncations. */
export function mutateText(r: Rng, base: string): string {
  let s = base;
  for (let m = r.range(1, 4); m > 0; m--) {
    const at = r.int(s.length + 1);
    switch (r.int(7)) {
      case 0:
        s = s.slice(0, at) + s.slice(at + r.range(1, 12));
        break;
      case 1: {
        const len = r.range(1, 24);
        s = s.slice(0, at + len) + s.slice(at, at + len) + s.slice(at + len);
        break;
      }
      case 2:
      case 3:
        s = s.slice(0, at) + r.pick(INTERESTING_TOKENS) + s.slice(r.chance(0.5) ? at : at + r.int(8));
        break;
      case 4: {
        const k = r.range(10, 3000);
        s = s.slice(0, at) + (r.chance(0.5) ? "[".repeat(k) + "]".repeat(r.chance(0.5) ? k : r.int(k)) : '{"a":'.repeat(k) + "1" + "}".repeat(k)) + s.slice(at);
        break;
      }
      case 5: // any UTF-16 code unit, lone surrogates included
        if (s.length > 0) {
          const i = r.int(s.length);
          s = s.slice(0, i) + String.fromCharCode(r.int(0x10000)) + s.slice(i + 1);
        }
        break;
      default:
        s = s.slice(0, at);
    }
  }
  return s;
}

/** Valid frames of both codecs to mutate and to splice from: every peer type, every client op, both encodings. */
export function seedFrames(r: Rng, perType = 3): { bytes: Uint8Array[]; texts: string[] } {
  const bytes: Uint8Array[] = [];
  const texts: string[] = [];
  for (let i = 0; i < perType; i++) {
    for (const t of Object.keys(PEER_FRAME_TYPES) as WireFrame["t"][]) bytes.push(encodePeerFrame(randomPeerFrame(r, t)));
    bytes.push(joinPeerFrames([0, 1, 2].map(() => encodePeerFrame(randomPeerFrame(r)))));
    for (const op of ["sub", "unsub", "pub", "ping"] as const) {
      bytes.push(encodeClientFrame(randomClientFrame(r, op), "msgpack") as Uint8Array);
      texts.push(encodeClientFrame(randomClientFrame(r, op), "json") as string);
    }
  }
  return { bytes, texts };
}

/**
 * Random MessagePack built by hand from the hostile palette (any type marker, lying lengths,
 * extremes, bad UTF-8, prototype keys), shaped like a peer frame or a client frame half the time
 * so the validators past the MessagePack layer are reached too.
 */
export function structuredBytes(r: Rng): Uint8Array {
  const value = (depth: number): Uint8Array => {
    switch (r.int(depth > 3 ? 8 : 11)) {
      case 0:
        return new Uint8Array([r.pick([0xc0, 0xc2, 0xc3, 0x00, 0x7f, 0xe0, 0xff])]);
      case 1:
        return new Uint8Array(r.pick(Object.values(HUGE_NUMBERS)));
      case 2:
        return str(r.pick(["alive", "ws://h:1", "a", "c", "a~1~0", "__proto__", "rpc", "open", "bound", "refused", "not_ready", "x.1", ""]));
      case 3:
        return rawStr(r.chance(0.5) ? r.pick(Object.values(BAD_UTF8)) : r.bytes(r.int(20)));
      case 4:
        return cat([0xc4, 32], r.bytes(32));
      case 5:
        return r.chance(0.3) ? new Uint8Array(r.pick(Object.values(LENGTH_BOMBS))) : new Uint8Array(r.pick(EXTS));
      case 6:
        return new Uint8Array([r.int(128)]);
      case 7:
        return repeat([0x91], r.range(1, 200)).map((x, i, a) => (i === a.length - 1 ? 0x90 : x));
      case 8:
      case 9: {
        const n = r.int(8);
        const items = Array.from({ length: n }, () => value(depth + 1));
        return cat(n < 16 ? [0x90 | n] : [0xdc, 0, n], ...items);
      }
      default: {
        const n = r.int(5);
        const parts: Uint8Array[] = [];
        for (let i = 0; i < n; i++) parts.push(r.chance(0.8) ? str(r.pick(["op", "channel", "data", "id", "bin", "echo", "password", "__proto__", "constructor", "k"])) : value(depth + 1), value(depth + 1));
        return cat([0x80 | n], ...parts);
      }
    }
  };
  switch (r.int(3)) {
    case 0: {
      // [type, fields...]: a peer frame's shape with a known type number
      const type = r.chance(0.9) ? r.pick(Object.values(PEER_FRAME_TYPES)) : r.pick([0, 5, 14, 19, 127, 255]);
      const n = r.int(11);
      return cat([0x90 | (n + 1), type], ...Array.from({ length: n }, () => value(1)));
    }
    case 1: {
      // a client frame's shape with a known op
      const entries: Uint8Array[] = [str("op"), str(r.pick(["sub", "unsub", "pub", "ping", "x"]))];
      for (const key of ["channel", "id", "data", "echo", "password", "bin"]) if (r.chance(0.5)) entries.push(str(key), r.chance(0.5) && key === "channel" ? str(channelOf(r)) : value(1));
      return cat([0x80 | (entries.length / 2)], ...entries);
    }
    default:
      return value(0);
  }
}

/** Random JSON text with hostile values: non-JSON literals, extremes, deep nesting, prototype keys, lone surrogates. */
export function structuredText(r: Rng): string {
  const value = (depth: number): string => {
    switch (r.int(depth > 3 ? 6 : 9)) {
      case 0:
        return r.pick(["null", "true", "false", "0", "-0", "1e999", "NaN", "Infinity", "9007199254740993", "1.5", "-1", "123456789012345678901234567890"]);
      case 1:
        return JSON.stringify(textOf(r, 20));
      case 2:
        return `"${r.pick(["\ud800", "\\ud800", "\\u0000", "\u0000", "AQID", "@@", "__proto__", "a b", "c"])}"`;
      case 3:
        return `"${r.chars(CHANNEL_CHARS, r.range(1, 20))}"`;
      case 4:
        return "[".repeat(r.range(1, 300)) + "]".repeat(r.range(0, 300));
      case 5:
        return String(r.int(1e6));
      case 6:
      case 7:
        return `[${Array.from({ length: r.int(6) }, () => value(depth + 1)).join(",")}]`;
      default:
        return `{${Array.from({ length: r.int(5) }, () => `"${r.pick(["a", "__proto__", "constructor", "op", "data", "\ud800"])}":${value(depth + 1)}`).join(",")}}`;
    }
  };
  const fields = [`"op":${r.chance(0.9) ? `"${r.pick(["sub", "unsub", "pub", "ping", "__proto__", "x"])}"` : value(1)}`];
  for (const key of ["channel", "id", "data", "echo", "password", "bin", "__proto__"]) {
    if (r.chance(0.5)) fields.push(`"${key}":${key === "channel" && r.chance(0.5) ? `"${channelOf(r)}"` : key === "bin" && r.chance(0.5) ? "true" : value(1)}`);
  }
  return `{${fields.join(",")}}`;
}

/**
 * Fuzz case `index` of a run: a mutant of a valid frame (binary or text) or a hand-built
 * structured input. `seeds` are the valid frames to start from (seedFrames()).
 */
/** Inputs at least this big reach the decoders' pre-decode nesting scan (src/protocol/depth.ts scans from 64 KiB). */
export const LARGE_INPUT_BYTES = 64 * 1024;

/** Nesting `levels` deep of arrays and one-key maps mixed, closed around `inner`, as MessagePack. */
export function msgpackNest(r: Rng, levels: number, inner: Uint8Array): Uint8Array {
  const heads: number[] = [];
  for (let i = 0; i < levels; i++) heads.push(...(r.chance(0.5) ? [0x91] : [0x81, 0xa1, 0x6b]));
  return cat(heads, inner);
}

/** The same as JSON text. */
export function jsonNest(r: Rng, levels: number, inner: string): string {
  const kinds = Array.from({ length: levels }, () => r.chance(0.5));
  return kinds.map((array) => (array ? "[" : '{"k":')).join("") + inner + kinds.reverse().map((array) => (array ? "]" : "}")).join("");
}

/**
 * An input past LARGE_INPUT_BYTES: a frame carrying a big payload (bytes or a long string) at a
 * random nesting, or a batch of many valid frames, then mutated, so the scan that runs before
 * decoding large inputs is fuzzed too (the small mutants never reach it).
 */
function largeCase(r: Rng, seeds: { bytes: Uint8Array[]; texts: string[] }): FuzzInput {
  const size = LARGE_INPUT_BYTES + r.int(LARGE_INPUT_BYTES);
  const levels = r.pick([0, 1, 30, 63, 64, 65, 79, 80, 81, 200, r.int(3000)]);
  switch (r.int(4)) {
    case 0: {
      const big = r.chance(0.5) ? cat([0xc6, ...u32(size)], r.bytes(size)) : cat([0xdb, ...u32(size)], te.encode("s".repeat(size)));
      return bytesIn(mutateBytes(r, cat(DATA_PREFIX, msgpackNest(r, levels, big)), seeds.bytes));
    }
    case 1: {
      const big = cat([0xdb, ...u32(size)], te.encode("x".repeat(size)));
      return bytesIn(mutateBytes(r, cat(PUB_PREFIX, msgpackNest(r, levels, big)), seeds.bytes));
    }
    case 2: {
      const frames: Uint8Array[] = [];
      let total = 0;
      while (total < size) {
        const f = r.pick(seeds.bytes);
        frames.push(f);
        total += f.length;
      }
      return bytesIn(mutateBytes(r, cat(...frames), seeds.bytes));
    }
    default:
      return textIn(mutateText(r, `{"op":"pub","channel":"c","id":1,"data":${jsonNest(r, levels, JSON.stringify("t[{".repeat(size / 3)))}}`));
  }
}

export function generateCase(seed: number, index: number, seeds: { bytes: Uint8Array[]; texts: string[] }): FuzzInput {
  const r = new Rng(caseSeed(seed, index));
  // One case in 40 is large: they cost ~50 times a small one.
  if (r.chance(1 / 40)) return largeCase(r, seeds);
  switch (r.int(6)) {
    case 0:
    case 1:
      return bytesIn(mutateBytes(r, r.pick(seeds.bytes), seeds.bytes));
    case 2:
      return textIn(mutateText(r, r.pick(seeds.texts)));
    case 3:
      return bytesIn(structuredBytes(r));
    case 4:
      return textIn(structuredText(r));
    default:
      // a valid frame with a structured tail or head: trailing bytes after a frame, or a batch gone bad
      return bytesIn(r.chance(0.5) ? cat(r.pick(seeds.bytes), structuredBytes(r)) : cat(structuredBytes(r), r.pick(seeds.bytes)));
  }
}

/** A short, printable description of an input for a failure report (hex or JSON, cut to `max` characters). */
export function describeInput(input: FuzzInput, max = 400): string {
  if (input.kind === "text") {
    const s = JSON.stringify(input.text);
    return `text(${input.text.length}) ${s.length > max ? `${s.slice(0, max)}...` : s}`;
  }
  const hex = Buffer.from(input.bytes.subarray(0, max / 2)).toString("hex");
  return `bytes(${input.bytes.length}) ${hex}${input.bytes.length > max / 2 ? "..." : ""}`;
}
