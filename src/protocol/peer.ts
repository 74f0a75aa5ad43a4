import type { Decoder } from "@msgpack/msgpack";
import { isChannelName } from "./channel.ts";
import { MAX_PAYLOAD_DEPTH } from "./client.ts";
import { concatBytes } from "./bytes.ts";
import { decoderPosition, encoder, makeDecoder } from "./msgpack.ts";
import { DEPTH_SCAN_FROM_BYTES, msgpackTooDeep } from "./depth.ts";
import type { CallBody, ChannelRecord, DigestEntry, InterestUpdate, LoadRecord, Lsa, MemberRecord, MemberState, NodeName, PeerFrame } from "./peer-frames.ts";

/**
 * The peer wire codec: MessagePack binary frames between nodes, on their own WebSocket path.
 * Pure: bytes in, a typed frame or a reason out; it never throws on any input, and every length
 * is limited by the caller's frame size before the MessagePack decoder allocates for it.
 *
 * Validation is by hand rather than valibot because DATA frames are the hot path of the mesh.
 *
 * Every frame is a MessagePack array `[type, ...fields]`, positional to stay compact. The layout
 * of each type, for docs/protocol.md (`?` = may be nil; `[x]` = array of x):
 *
 * | type | name    | fields after the type                                              |
 * |------|---------|--------------------------------------------------------------------|
 * | 1    | HELLO   | v, name, incarnation, region, url, nonce (bin 32)                  |
 * | 2    | WELCOME | v, name, incarnation, region, url, nonce (bin 32), mac (bin 32)    |
 * | 3    | AUTH    | mac (bin 32)                                                       |
 * | 4    | REFUSE  | code, message                                                      |
 * | 10   | PING    | ts                                                                 |
 * | 11   | PONG    | ts (echoed from the PING)                                          |
 * | 12   | GOSSIP  | [member], [lsa], [interest], [channel], [load]                     |
 * | 13   | DIGEST  | [digest entry], reply (bool)                                       |
 * | 14   | (retired: DATA of v1, without the instance)                                  |
 * | 15   | LEAVE   | name, incarnation                                                  |
 * | 16   | REGSYNC | hash (uint32), reply (bool)                                        |
 * | 17   | CALL    | to, from, hops, req, kind, ...fields of the kind                   |
 * | 18   | DATA    | origin, incarnation, seq, hops, channel, instance, from?, n?, data |
 *
 * Nested records, also positional:
 * - member:       [name, incarnation, url, region, state]   (state: "alive" | "suspect" | "dead" | "left")
 * - lsa:          [origin, incarnation, seq, [[neighbour, rtt ms], ...]]
 * - interest:     [origin, incarnation, version, full (bool), [channel added], [channel removed]]
 * - digest entry: [name, incarnation, state, lsaSeq, interestVersion]   (-1: none held)
 * - channel:      [name, instance, creator, owner, createdAt, verifier?, strict, closedAt?]
 * - load:         [origin, incarnation, seq, connections, draining]
 * - CALL kinds:   "open" channel, verifier?, strict | "bound" [channel] | "refused" code, message
 *                 | "vote" channel | "voted" | "rpc" body | "rpcReply" body   (body: JSON text)
 *
 * Evolution: a decoder ignores fields after the ones it knows, so a later version may append a
 * field to a type; any other change needs a new type number. HELLO and WELCOME keep `v` first and
 * their fields frozen, so every version can read a peer's version and refuse it cleanly.
 * DATA keeps the payload last so the shell can one day splice payload bytes without re-encoding.
 */

/** Deepest nesting a peer frame may have: a DATA payload's MAX_PAYLOAD_DEPTH plus the frame's own levels, with room. */
const MAX_FRAME_DEPTH = MAX_PAYLOAD_DEPTH + 16;

/** Peer protocol version, carried in HELLO and WELCOME; a node refuses a peer that speaks another. v2: a message may batch several frames. */
export const PEER_PROTOCOL_VERSION = 2;

/** The WebSocket path peers dial (`${url}/peer`); clients use `/`, so one port serves both. */
export const PEER_PATH = "/peer";

/**
 * Frame type numbers, keyed by the frame's `t` so one table serves encoding and decoding.
 * APPEND-ONLY: a number is never reused or renumbered, even after its type is retired, because
 * nodes of different versions meet in one mesh. Gaps (5-9, 16+) are room for later types.
 */
export const PEER_FRAME_TYPES = {
  hello: 1,
  welcome: 2,
  auth: 3,
  refuse: 4,
  ping: 10,
  pong: 11,
  gossip: 12,
  digest: 13,
  leave: 15,
  regsync: 16,
  call: 17,
  data: 18,
} as const satisfies Record<WireFrame["t"], number>;

/**
 * Upper bounds on lists inside frames. Bytes are limited by `maxBytes` already; these stop a
 * small frame of tiny elements from making the core do outsized work. Senders split larger sets.
 */
export const PEER_LIMITS = {
  /** Members, LSAs or interest updates in one GOSSIP, and entries in one DIGEST. */
  gossipEntries: 10_000,
  /** Links in one LSA (far above --max-peers, which is at most 64). */
  lsaLinks: 1_024,
  /** Channels added or removed in one interest update. */
  interestChannels: 100_000,
  /** Hops a DATA frame may carry; the mesh's own hop limit is far lower. */
  hops: 255,
  /** Length of a nonce and of an HMAC-SHA256 tag. */
  nonceBytes: 32,
  /** Longest advertised URL. */
  urlLength: 1_024,
  /** Longest REFUSE message, and longest CALL refusal message. */
  refuseMessage: 1_024,
  /** Longest channel instance id: two node names, two base-36 counters and separators. */
  instanceLength: 160,
  /** Longest password verifier (an argon2id PHC string is about 100 characters). */
  verifierLength: 512,
  /** Channel records in one GOSSIP (a full registry is sent in chunks below this). */
  channelRecords: 10_000,
  /** Longest rpc body (JSON text): an admin answer such as a large node's channel list. */
  rpcBody: 2 * 1024 * 1024,
} as const;

/** What both handshake openers carry: the protocol version, who is speaking, and a fresh nonce. */
interface Introduction {
  v: number;
  name: NodeName;
  incarnation: number;
  region: string;
  url: string;
  nonce: Uint8Array;
}

/** Dialer -> acceptor, first frame: who I am, and a fresh nonce for the acceptor to MAC. */
export interface HelloFrame extends Introduction {
  t: "hello";
}

/** Acceptor -> dialer: who I am, my fresh nonce, and a MAC over both nonces proving the key. */
export interface WelcomeFrame extends Introduction {
  t: "welcome";
  mac: Uint8Array;
}

/** Dialer -> acceptor: the dialer's MAC over both nonces; the link is up once it checks. */
export interface AuthFrame {
  t: "auth";
  mac: Uint8Array;
}

/** Either side, then close: why the link is refused (a stable code and a readable message). */
export interface RefuseFrame {
  t: "refuse";
  code: string;
  message: string;
}

/** The frames of the handshake; the shell handles them and they never reach the mesh core. */
export type HandshakeFrame = HelloFrame | WelcomeFrame | AuthFrame | RefuseFrame;

/** Any frame on a peer link: handshake or mesh. */
export type WireFrame = HandshakeFrame | PeerFrame;

/** True for the frames the mesh core handles; a handshake frame on an authenticated link is a peer fault. */
export function isMeshFrame(frame: WireFrame): frame is PeerFrame {
  return PEER_FRAME_TYPES[frame.t] >= PEER_FRAME_TYPES.ping;
}

/**
 * The outcome of decoding one peer frame; `reason` is for a debug log, never sent back. A DATA
 * frame from decodePeerMessage also carries its own bytes (a view into the message), so a relay
 * can forward it without encoding it again (data-forward.ts).
 */
export type PeerDecoded = { ok: true; frame: WireFrame; bytes?: Uint8Array } | { ok: false; reason: string };

/** Encodes a frame as `[type, ...fields]`. Trusts its input: values come from this node. */
export function encodePeerFrame(frame: WireFrame): Uint8Array {
  const type = PEER_FRAME_TYPES[frame.t];
  switch (frame.t) {
    case "data":
      return encoder.encode([type, frame.origin, frame.incarnation, frame.seq, frame.hops, frame.channel, frame.instance, frame.from ?? null, frame.n ?? null, frame.data]);
    case "ping":
    case "pong":
      return encoder.encode([type, frame.ts]);
    case "gossip":
      return encoder.encode([type, frame.members.map(memberFields), frame.lsas.map(lsaFields), frame.interests.map(interestFields), frame.channels.map(channelFields), frame.loads.map(loadFields)]);
    case "regsync":
      return encoder.encode([type, frame.hash, frame.reply]);
    case "call":
      return encoder.encode([type, frame.to, frame.from, frame.hops, frame.req, ...callFields(frame.body)]);
    case "digest":
      return encoder.encode([type, frame.entries.map(digestFields), frame.reply]);
    case "leave":
      return encoder.encode([type, frame.name, frame.incarnation]);
    case "hello":
      return encoder.encode([type, frame.v, frame.name, frame.incarnation, frame.region, frame.url, frame.nonce]);
    case "welcome":
      return encoder.encode([type, frame.v, frame.name, frame.incarnation, frame.region, frame.url, frame.nonce, frame.mac]);
    case "auth":
      return encoder.encode([type, frame.mac]);
    case "refuse":
      return encoder.encode([type, frame.code, frame.message]);
  }
}

const memberFields = (m: MemberRecord) => [m.name, m.incarnation, m.url, m.region, m.state];
const lsaFields = (l: Lsa) => [l.origin, l.incarnation, l.seq, l.links];
const interestFields = (i: InterestUpdate) => [i.origin, i.incarnation, i.version, i.full, i.add, i.remove];
const digestFields = (d: DigestEntry) => [d.name, d.incarnation, d.state, d.lsaSeq, d.interestVersion];
const loadFields = (l: LoadRecord) => [l.origin, l.incarnation, l.seq, l.connections, l.draining];
const channelFields = (c: ChannelRecord) => [c.name, c.instance, c.creator, c.owner, c.createdAt, c.verifier, c.strict, c.closedAt];
function callFields(b: CallBody): unknown[] {
  switch (b.kind) {
    case "open":
      return [b.kind, b.channel, b.verifier, b.strict];
    case "bound":
      return [b.kind, channelFields(b.record)];
    case "refused":
      return [b.kind, b.code, b.message];
    case "vote":
      return [b.kind, b.channel];
    case "voted":
      return [b.kind];
    case "rpc":
    case "rpcReply":
      return [b.kind, b.body];
  }
}

/**
 * Decodes and validates one peer frame of at most `maxBytes` bytes. Never throws.
 * Byte strings (nonces, MACs, bytes payloads) are views into `bytes`: the caller must not reuse
 * that buffer while the frame is alive (Bun hands each WebSocket message its own buffer).
 */
export function decodePeerFrame(bytes: Uint8Array, maxBytes: number): PeerDecoded {
  if (bytes.byteLength > maxBytes) return { ok: false, reason: `frame of ${bytes.byteLength} bytes is over the limit of ${maxBytes}` };
  if (bytes.byteLength >= DEPTH_SCAN_FROM_BYTES && msgpackTooDeep(bytes, MAX_FRAME_DEPTH)) return { ok: false, reason: `frame nests deeper than ${MAX_FRAME_DEPTH} levels` };
  let raw: unknown;
  try {
    raw = decoderFor(maxBytes).decode(bytes);
  } catch {
    return { ok: false, reason: "not valid MessagePack" };
  }
  return readFrame(raw);
}

/** Validates one decoded MessagePack value as a peer frame. */
function readFrame(raw: unknown): PeerDecoded {
  if (!Array.isArray(raw) || raw.length === 0) return { ok: false, reason: "a peer frame must be a non-empty array" };
  const type: unknown = raw[0];
  if (!Number.isSafeInteger(type)) return { ok: false, reason: "the frame type must be an integer" };
  const read = READERS[type as number];
  if (read === undefined) return { ok: false, reason: `unknown frame type ${type as number}` };
  try {
    return { ok: true, frame: read(raw) };
  } catch (e) {
    if (e instanceof Bad) return { ok: false, reason: e.reason };
    return { ok: false, reason: "malformed frame" }; // unreachable by design; kept so the decoder can never throw
  }
}

/**
 * Decodes a peer message: one frame, or several concatenated (a sender batches the frames it
 * queued in one turn of its event loop into one WebSocket message, so a relay under load pays the
 * per-message costs of the socket once per batch, not once per frame). Never throws. The result
 * lists the frames in order; a bad frame ends the list with its reason, and nothing after it is
 * read (a peer's stream is in an unknown state past a malformed frame).
 */
export function decodePeerMessage(bytes: Uint8Array, maxBytes: number): PeerDecoded[] {
  if (bytes.byteLength > maxBytes) return [{ ok: false, reason: `message of ${bytes.byteLength} bytes is over the limit of ${maxBytes}` }];
  if (bytes.byteLength >= DEPTH_SCAN_FROM_BYTES && msgpackTooDeep(bytes, MAX_FRAME_DEPTH)) return [{ ok: false, reason: `message nests deeper than ${MAX_FRAME_DEPTH} levels` }];
  const out: PeerDecoded[] = [];
  const decoder = decoderFor(maxBytes);
  let start = 0;
  try {
    for (const raw of decoder.decodeMulti(bytes)) {
      const end = decoderPosition(decoder);
      const one = readFrame(raw);
      // Views, not copies: only a relay that forwards the frame copies them (data-forward.ts checks they are this frame's).
      if (one.ok && one.frame.t === "data" && start < end && end <= bytes.byteLength) one.bytes = bytes.subarray(start, end);
      start = end;
      out.push(one);
      if (!one.ok) return out;
    }
  } catch {
    out.push({ ok: false, reason: "not valid MessagePack" });
  }
  if (out.length === 0) out.push({ ok: false, reason: "not valid MessagePack" });
  return out;
}

/** Joins encoded frames into one peer message (see decodePeerMessage). */
export function joinPeerFrames(frames: Uint8Array[]): Uint8Array {
  return concatBytes(frames);
}

/** Decoders by frame limit: making one per frame would cost more than decoding a small DATA frame. */
const decoders = new Map<number, Decoder>();
function decoderFor(maxBytes: number): Decoder {
  let d = decoders.get(maxBytes);
  if (d === undefined) {
    if (decoders.size >= 8) decoders.clear(); // a node uses one or two limits; stay bounded anyway
    d = makeDecoder(maxBytes);
    decoders.set(maxBytes, d);
  }
  return d;
}

/** A validation failure inside a reader. Not an Error: no stack is captured on the refusal path. */
class Bad {
  constructor(readonly reason: string) {}
}

type Reader = (f: unknown[]) => WireFrame;

/** One reader per type number; a missing entry is an unknown type. Readers ignore extra trailing fields. */
const READERS: Record<number, Reader> = {
  [PEER_FRAME_TYPES.hello]: (f) => {
    fields(f, 6, "hello");
    return { t: "hello", v: uint(f[1], "hello.v"), name: nodeName(f[2], "hello.name"), incarnation: uint(f[3], "hello.incarnation"), region: region(f[4], "hello.region"), url: url(f[5], "hello.url"), nonce: bin32(f[6], "hello.nonce") };
  },
  [PEER_FRAME_TYPES.welcome]: (f) => {
    fields(f, 7, "welcome");
    return {
      t: "welcome",
      v: uint(f[1], "welcome.v"),
      name: nodeName(f[2], "welcome.name"),
      incarnation: uint(f[3], "welcome.incarnation"),
      region: region(f[4], "welcome.region"),
      url: url(f[5], "welcome.url"),
      nonce: bin32(f[6], "welcome.nonce"),
      mac: bin32(f[7], "welcome.mac"),
    };
  },
  [PEER_FRAME_TYPES.auth]: (f) => {
    fields(f, 1, "auth");
    return { t: "auth", mac: bin32(f[1], "auth.mac") };
  },
  [PEER_FRAME_TYPES.refuse]: (f) => {
    fields(f, 2, "refuse");
    const code = f[1];
    if (typeof code !== "string" || !REFUSE_CODE_RE.test(code)) throw new Bad("refuse.code must be 1-64 of a-z 0-9 _");
    return { t: "refuse", code, message: str(f[2], PEER_LIMITS.refuseMessage, "refuse.message") };
  },
  [PEER_FRAME_TYPES.ping]: (f) => {
    fields(f, 1, "ping");
    return { t: "ping", ts: num(f[1], "ping.ts") };
  },
  [PEER_FRAME_TYPES.pong]: (f) => {
    fields(f, 1, "pong");
    return { t: "pong", ts: num(f[1], "pong.ts") };
  },
  [PEER_FRAME_TYPES.gossip]: (f) => {
    fields(f, 3, "gossip");
    return {
      t: "gossip",
      members: list(f[1], PEER_LIMITS.gossipEntries, "gossip.members").map(readMember),
      lsas: list(f[2], PEER_LIMITS.gossipEntries, "gossip.lsas").map(readLsa),
      interests: list(f[3], PEER_LIMITS.gossipEntries, "gossip.interests").map(readInterest),
      channels: list(f[4] ?? [], PEER_LIMITS.channelRecords, "gossip.channels").map(readChannel),
      loads: list(f[5] ?? [], PEER_LIMITS.gossipEntries, "gossip.loads").map(readLoad),
    };
  },
  [PEER_FRAME_TYPES.regsync]: (f) => {
    fields(f, 2, "regsync");
    const hash = uint(f[1], "regsync.hash");
    if (hash > 0xffffffff) throw new Bad("regsync.hash must fit in 32 bits");
    return { t: "regsync", hash, reply: bool(f[2], "regsync.reply") };
  },
  [PEER_FRAME_TYPES.call]: (f) => {
    fields(f, 5, "call");
    const hops = uint(f[3], "call.hops");
    if (hops > PEER_LIMITS.hops) throw new Bad(`call.hops is over ${PEER_LIMITS.hops}`);
    return { t: "call", to: nodeName(f[1], "call.to"), from: nodeName(f[2], "call.from"), hops, req: uint(f[4], "call.req"), body: readCallBody(f) };
  },
  [PEER_FRAME_TYPES.digest]: (f) => {
    fields(f, 2, "digest");
    return { t: "digest", entries: list(f[1], PEER_LIMITS.gossipEntries, "digest.entries").map(readDigestEntry), reply: bool(f[2], "digest.reply") };
  },
  [PEER_FRAME_TYPES.data]: (f) => {
    fields(f, 9, "data");
    const channel = f[5];
    if (!isChannelName(channel)) throw new Bad("data.channel is not a valid channel name");
    const hops = uint(f[4], "data.hops");
    if (hops > PEER_LIMITS.hops) throw new Bad(`data.hops is over ${PEER_LIMITS.hops}`);
    const data = f[9];
    if (tooDeep(data)) throw new Bad(`data payload nests deeper than ${MAX_PAYLOAD_DEPTH} levels`);
    const frame: PeerFrame = { t: "data", origin: nodeName(f[1], "data.origin"), incarnation: uint(f[2], "data.incarnation"), seq: uint(f[3], "data.seq"), hops, channel, instance: instance(f[6], "data.instance"), data };
    const from = f[7];
    if (from !== null) {
      if (typeof from !== "string" || !CLIENT_ID_RE.test(from)) throw new Bad("data.from is not a valid client id");
      frame.from = from;
    }
    if (f[8] !== null) frame.n = uint(f[8], "data.n");
    return frame;
  },
  [PEER_FRAME_TYPES.leave]: (f) => {
    fields(f, 2, "leave");
    return { t: "leave", name: nodeName(f[1], "leave.name"), incarnation: uint(f[2], "leave.incarnation") };
  },
};

/** Node names, as --name allows (config.ts): safe in logs, URLs and metric labels. */
const NAME_RE = /^[A-Za-z0-9_.-]{1,64}$/;
/** Regions as --region allows; empty when the node has none. */
const REGION_RE = /^[A-Za-z0-9_.-]{0,64}$/;
/** Advertised URLs as --advertise allows (no whitespace or control characters); empty when the node takes no dials. */
const URL_RE = /^(?:(?:wss?|https?):\/\/[\x21-\x7e]+)?$/;
/** Client ids as the node mints them for `from`. */
const CLIENT_ID_RE = /^[A-Za-z0-9._:-]{1,128}$/;
/** Channel instance ids as the owner mints them (channels.ts): node name, then base-36 counters. */
const INSTANCE_RE = /^[A-Za-z0-9_.-]{1,64}(?:~[0-9a-z]{1,20}){2}$/;
/** argon2id PHC strings as Bun.password makes them: printable ASCII without spaces. */
const VERIFIER_RE = /^\$argon2id\$[\x21-\x7e]+$/;
/** Refusal codes: snake_case, like the error table. */
const REFUSE_CODE_RE = /^[a-z0-9_]{1,64}$/;
const MEMBER_STATES: ReadonlySet<unknown> = new Set<MemberState>(["alive", "suspect", "dead", "left"]);

function readMember(m: unknown, i: number): MemberRecord {
  const f = record(m, 5, `gossip.members[${i}]`);
  return { name: nodeName(f[0], "member.name"), incarnation: uint(f[1], "member.incarnation"), url: url(f[2], "member.url"), region: region(f[3], "member.region"), state: state(f[4], "member.state") };
}

function readLsa(l: unknown, i: number): Lsa {
  const f = record(l, 4, `gossip.lsas[${i}]`);
  const links = list(f[3], PEER_LIMITS.lsaLinks, "lsa.links").map((link): [NodeName, number] => {
    const pair = record(link, 2, "lsa.links[]");
    return [nodeName(pair[0], "lsa link name"), num(pair[1], "lsa link rtt")];
  });
  return { origin: nodeName(f[0], "lsa.origin"), incarnation: uint(f[1], "lsa.incarnation"), seq: uint(f[2], "lsa.seq"), links };
}

function readInterest(u: unknown, i: number): InterestUpdate {
  const f = record(u, 6, `gossip.interests[${i}]`);
  return {
    origin: nodeName(f[0], "interest.origin"),
    incarnation: uint(f[1], "interest.incarnation"),
    version: uint(f[2], "interest.version"),
    full: bool(f[3], "interest.full"),
    add: channels(f[4], "interest.add"),
    remove: channels(f[5], "interest.remove"),
  };
}

function readChannel(c: unknown, i: number): ChannelRecord {
  const f = record(c, 8, `channel[${i}]`);
  const name = f[0];
  if (!isChannelName(name)) throw new Bad("channel.name is not a valid channel name");
  const verifier = f[5];
  if (verifier !== null && (typeof verifier !== "string" || verifier.length === 0 || verifier.length > PEER_LIMITS.verifierLength || !VERIFIER_RE.test(verifier))) {
    throw new Bad("channel.verifier must be nil or an argon2id PHC string");
  }
  return {
    name,
    instance: instance(f[1], "channel.instance"),
    creator: nodeName(f[2], "channel.creator"),
    owner: nodeName(f[3], "channel.owner"),
    createdAt: num(f[4], "channel.createdAt"),
    verifier,
    strict: bool(f[6], "channel.strict"),
    closedAt: f[7] === null ? null : num(f[7], "channel.closedAt"),
  };
}

function readLoad(l: unknown, i: number): LoadRecord {
  const f = record(l, 5, `gossip.loads[${i}]`);
  return { origin: nodeName(f[0], "load.origin"), incarnation: uint(f[1], "load.incarnation"), seq: uint(f[2], "load.seq"), connections: uint(f[3], "load.connections"), draining: bool(f[4], "load.draining") };
}

function readCallBody(f: unknown[]): CallBody {
  switch (f[5]) {
    case "open": {
      fields(f, 8, "call open");
      const channel = f[6];
      if (!isChannelName(channel)) throw new Bad("call.channel is not a valid channel name");
      const verifier = f[7];
      if (verifier !== null && (typeof verifier !== "string" || verifier.length > PEER_LIMITS.verifierLength || !VERIFIER_RE.test(verifier))) throw new Bad("call.verifier must be nil or an argon2id PHC string");
      return { kind: "open", channel, verifier, strict: bool(f[8], "call.strict") };
    }
    case "bound":
      fields(f, 6, "call bound");
      return { kind: "bound", record: readChannel(f[6], 0) };
    case "refused": {
      fields(f, 7, "call refused");
      const code = f[6];
      if (code !== "not_ready" && code !== "channel_unavailable") throw new Bad("call.code must be not_ready or channel_unavailable");
      return { kind: "refused", code, message: str(f[7], PEER_LIMITS.refuseMessage, "call.message") };
    }
    case "vote": {
      fields(f, 6, "call vote");
      const channel = f[6];
      if (!isChannelName(channel)) throw new Bad("call.channel is not a valid channel name");
      return { kind: "vote", channel };
    }
    case "voted":
      return { kind: "voted" };
    case "rpc":
    case "rpcReply":
      fields(f, 6, `call ${f[5]}`);
      return { kind: f[5], body: str(f[6], PEER_LIMITS.rpcBody, "call.body") };
    default:
      throw new Bad("call.kind must be open, bound, refused, vote, voted, rpc or rpcReply");
  }
}

function instance(v: unknown, what: string): string {
  if (typeof v !== "string" || v.length > PEER_LIMITS.instanceLength || !INSTANCE_RE.test(v)) throw new Bad(`${what} must be a channel instance id`);
  return v;
}

function readDigestEntry(d: unknown, i: number): DigestEntry {
  const f = record(d, 5, `digest.entries[${i}]`);
  return { name: nodeName(f[0], "digest.name"), incarnation: uint(f[1], "digest.incarnation"), state: state(f[2], "digest.state"), lsaSeq: seqOrNone(f[3], "digest.lsaSeq"), interestVersion: seqOrNone(f[4], "digest.interestVersion") };
}

/** A frame needs at least `n` fields after its type. */
function fields(f: unknown[], n: number, what: string): void {
  if (f.length < n + 1) throw new Bad(`${what} needs ${n} field(s), got ${f.length - 1}`);
}

/** A nested positional record: an array of at least `n` items. */
function record(v: unknown, n: number, what: string): unknown[] {
  if (!Array.isArray(v) || v.length < n) throw new Bad(`${what} must be an array of ${n} fields`);
  return v;
}

function list(v: unknown, max: number, what: string): unknown[] {
  if (!Array.isArray(v)) throw new Bad(`${what} must be an array`);
  if (v.length > max) throw new Bad(`${what} has ${v.length} entries, over ${max}`);
  return v;
}

function channels(v: unknown, what: string): string[] {
  const out = list(v, PEER_LIMITS.interestChannels, what);
  for (const c of out) if (!isChannelName(c)) throw new Bad(`${what} holds an invalid channel name`);
  return out as string[];
}

/** Counters, versions and incarnations: whole, non-negative, and exact in a double. */
function uint(v: unknown, what: string): number {
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) throw new Bad(`${what} must be a non-negative integer`);
  return v;
}

/** A sequence number in a digest, or -1 for "none held" (no LSA or interest set known yet). */
function seqOrNone(v: unknown, what: string): number {
  if (v === -1) return -1;
  return uint(v, what);
}

/** Times and RTTs (ms), which may be fractional. */
function num(v: unknown, what: string): number {
  if (typeof v !== "number" || !Number.isFinite(v) || v < 0) throw new Bad(`${what} must be a finite non-negative number`);
  return v;
}

function bool(v: unknown, what: string): boolean {
  if (typeof v !== "boolean") throw new Bad(`${what} must be a boolean`);
  return v;
}

function str(v: unknown, max: number, what: string): string {
  if (typeof v !== "string" || v.length > max) throw new Bad(`${what} must be a string of at most ${max} characters`);
  return v;
}

function nodeName(v: unknown, what: string): NodeName {
  if (typeof v !== "string" || !NAME_RE.test(v)) throw new Bad(`${what} must be 1-64 of A-Z a-z 0-9 _ . -`);
  return v;
}

function region(v: unknown, what: string): string {
  if (typeof v !== "string" || !REGION_RE.test(v)) throw new Bad(`${what} must be 0-64 of A-Z a-z 0-9 _ . -`);
  return v;
}

function url(v: unknown, what: string): string {
  if (typeof v !== "string" || v.length > PEER_LIMITS.urlLength || !URL_RE.test(v)) throw new Bad(`${what} must be empty or a ws, wss, http or https URL`);
  return v;
}

function state(v: unknown, what: string): MemberState {
  if (!MEMBER_STATES.has(v)) throw new Bad(`${what} must be alive, suspect, dead or left`);
  return v as MemberState;
}

function bin32(v: unknown, what: string): Uint8Array {
  if (!(v instanceof Uint8Array) || v.length !== PEER_LIMITS.nonceBytes) throw new Bad(`${what} must be ${PEER_LIMITS.nonceBytes} bytes`);
  return v;
}

/**
 * True when a payload nests deeper than MAX_PAYLOAD_DEPTH. Client edges refuse such payloads, so
 * only a faulty peer sends one, and re-encoding it for subscribers would fail. Iterative, so no
 * input can overflow the stack; scalars and bytes (the common case) return at once.
 */
function tooDeep(data: unknown): boolean {
  if (typeof data !== "object" || data === null || data instanceof Uint8Array) return false;
  const stack: [unknown, number][] = [[data, 1]];
  while (stack.length > 0) {
    const [value, depth] = stack.pop()!;
    if (depth > MAX_PAYLOAD_DEPTH) return true;
    const items = Array.isArray(value) ? value : value instanceof Uint8Array || value instanceof Date ? [] : Object.values(value as object);
    // Bytes (and dates) are values, not levels, as at the client edge.
    for (const item of items) if (typeof item === "object" && item !== null && !(item instanceof Uint8Array) && !(item instanceof Date)) stack.push([item, depth + 1]);
  }
  return false;
}
