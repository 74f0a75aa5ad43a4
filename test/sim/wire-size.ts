/**
 * Fast paths for large runs: the exact size a peer frame takes on the wire, without encoding it,
 * and a deep freeze (links.ts shares the frozen frame with every receiver) or a deep copy that
 * stands in for decoding. Encoding and decoding every frame costs more than
 * the mesh core itself at 1,000 nodes; these give the same sizes (wire-size.test.ts checks them
 * against encodePeerFrame) and the same isolation between sender and receiver.
 *
 * The layout mirrors src/protocol/peer.ts: `[type, ...fields]`, nested records as positional
 * arrays, an absent `from` as nil. If the codec changes, the cross-check test fails.
 */

import type { PeerFrame } from "../../src/mesh/types.ts";
import { PEER_FRAME_TYPES, encodePeerFrame } from "../../src/protocol/peer.ts";

/** MessagePack size of a value as @msgpack/msgpack encodes it (ignoreUndefined, float64 for non-integers). */
export function msgpackSize(v: unknown): number {
  switch (typeof v) {
    case "boolean":
      return 1;
    case "number":
      return numberSize(v);
    case "string":
      return strSize(v);
    case "undefined":
      return 1; // nil (only reachable inside arrays; map entries that are undefined are skipped below)
    case "object": {
      if (v === null) return 1;
      if (Array.isArray(v)) {
        let n = headerSize(v.length, 16);
        for (const item of v) n += msgpackSize(item);
        return n;
      }
      if (v instanceof Uint8Array) return (v.length < 256 ? 2 : v.length < 65536 ? 3 : 5) + v.length;
      let count = 0;
      let n = 0;
      for (const k in v) {
        if (!Object.hasOwn(v, k)) continue;
        const val = (v as Record<string, unknown>)[k];
        if (val === undefined) continue;
        count++;
        n += strSize(k) + msgpackSize(val);
      }
      return headerSize(count, 16) + n;
    }
    default:
      throw new TypeError(`cannot size a ${typeof v}`);
  }
}

/** Array/map header: fix form below `fixLimit` items, then 16- and 32-bit counts. */
function headerSize(count: number, fixLimit: number): number {
  return count < fixLimit ? 1 : count < 65536 ? 3 : 5;
}

function numberSize(v: number): number {
  if (!Number.isSafeInteger(v)) return 9; // float64
  if (v >= 0) return v < 128 ? 1 : v < 256 ? 2 : v < 65536 ? 3 : v < 4294967296 ? 5 : 9;
  return v >= -32 ? 1 : v >= -128 ? 2 : v >= -32768 ? 3 : v >= -2147483648 ? 5 : 9;
}

function strSize(s: string): number {
  let bytes = s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) bytes += 1;
    else if (c >= 0xd800 && c <= 0xdbff) {
      bytes += 2; // a surrogate pair: 4 bytes for 2 UTF-16 units
      i++;
    } else bytes += 2;
  }
  return (bytes < 32 ? 1 : bytes < 256 ? 2 : bytes < 65536 ? 3 : 5) + bytes;
}

/** An array of positional records (each under 16 fields, so a one-byte header each, counted by `item`). */
function listSize<T>(items: readonly T[], item: (x: T) => number): number {
  let n = headerSize(items.length, 16);
  for (const x of items) n += item(x);
  return n;
}

type GossipFrame = Extract<PeerFrame, { t: "gossip" }>;

function memberSize(m: GossipFrame["members"][number]): number {
  return 1 + strSize(m.name) + numberSize(m.incarnation) + strSize(m.url) + strSize(m.region) + strSize(m.state);
}

function lsaSize(l: GossipFrame["lsas"][number]): number {
  return 1 + strSize(l.origin) + numberSize(l.incarnation) + numberSize(l.seq) + listSize(l.links, ([peer, rtt]) => 1 + strSize(peer) + numberSize(rtt));
}

/** Sizes of frozen records (they cannot change): a record flooded to every node is sized once, not once per link. */
const frozenSizes = new WeakMap<object, number>();

function once<T extends object>(record: T, size: (record: T) => number): number {
  if (!Object.isFrozen(record)) return size(record);
  let n = frozenSizes.get(record);
  if (n === undefined) frozenSizes.set(record, (n = size(record)));
  return n;
}

/** Bytes encodePeerFrame(frame) would produce, computed from the same positional layout. */
export function peerFrameSize(frame: PeerFrame): number {
  const type = PEER_FRAME_TYPES[frame.t];
  switch (frame.t) {
    case "ping":
    case "pong":
      return msgpackSize([type, frame.ts]);
    case "data":
      return msgpackSize([type, frame.origin, frame.incarnation, frame.seq, frame.hops, frame.channel, frame.instance, frame.from ?? null, frame.n ?? null]) + msgpackSize(frame.data);
    case "gossip":
      return (
        1 +
        numberSize(type) +
        listSize(frame.members, (m) => once(m, memberSize)) +
        listSize(frame.lsas, (l) => once(l, lsaSize)) +
        listSize(frame.interests, (i) => 1 + strSize(i.origin) + numberSize(i.incarnation) + numberSize(i.version) + 1 + listSize(i.add, strSize) + listSize(i.remove, strSize)) +
        listSize(frame.channels, (c) => msgpackSize([c.name, c.instance, c.creator, c.owner, c.createdAt, c.verifier, c.strict, c.closedAt])) +
        listSize(frame.loads, (l) => msgpackSize([l.origin, l.incarnation, l.seq, l.connections, l.draining]))
      );
    case "digest":
      return 1 + numberSize(type) + listSize(frame.entries, (d) => 1 + strSize(d.name) + numberSize(d.incarnation) + strSize(d.state) + numberSize(d.lsaSeq) + numberSize(d.interestVersion)) + 1;
    case "leave":
      return msgpackSize([type, frame.name, frame.incarnation]);
    case "regsync":
      return msgpackSize([type, frame.hash, frame.reply]);
    case "call":
      // Rare (opens and votes), so the real encoder sizes them.
      return encodePeerFrame(frame).byteLength;
  }
}

/**
 * A deep copy of plain frame data, as a decoder would hand the receiver: fresh arrays and objects,
 * copied byte arrays, undefined object fields dropped (the codec does not carry them).
 */
export function deepCopy<T>(v: T): T {
  if (typeof v !== "object" || v === null) return v;
  if (Array.isArray(v)) {
    const out = new Array(v.length);
    for (let i = 0; i < v.length; i++) out[i] = deepCopy(v[i]);
    return out as T;
  }
  if (v instanceof Uint8Array) return v.slice() as T;
  const out: Record<string, unknown> = {};
  // for-in over plain objects is several times faster than Object.entries on this hot path.
  for (const k in v) {
    if (!Object.hasOwn(v, k)) continue;
    const val = (v as Record<string, unknown>)[k];
    if (val === undefined) continue;
    // A "__proto__" key must stay an own property, as a decoder makes it, not become the prototype.
    if (k === "__proto__") Object.defineProperty(out, k, { value: deepCopy(val), enumerable: true, writable: true, configurable: true });
    else out[k] = deepCopy(val);
  }
  return out as T;
}


/**
 * Freezes plain frame data in place, all the way down, and returns it: what "copy" hands every
 * receiver instead of a copy each. Nothing can change a frozen frame (a core that tried would throw
 * in strict mode), so sharing one object among the sender and every receiver isolates them as
 * well as a copy would, at no cost per receiver; records the sender floods to many links (LSAs,
 * member records) are frozen once and then shared by every core that keeps them.
 *
 * `arrays` false freezes the objects only: JavaScriptCore moves a frozen array to a storage
 * several times slower to read (and freezing it costs more than the rest of a send), and every
 * receiving core iterates the frame's arrays. links.ts freezes arrays too in the frames it samples
 * for the codec check, so a core that writes into a received array still throws there: the core
 * either never does it or does it on some code path, and a path runs for many frames.
 *
 * Invariant: an object is frozen only here, and only after everything it holds (arrays aside when
 * `arrays` is false), so a frozen object is skipped: its own fields, and the objects below it,
 * are already frozen. Byte arrays cannot be frozen; they are shared as they are (payload bytes
 * pass through the core untouched).
 */
export function deepFreeze<T>(v: T, arrays = true): T {
  if (typeof v !== "object" || v === null || Object.isFrozen(v) || ArrayBuffer.isView(v)) return v;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) deepFreeze(v[i], arrays);
    return arrays ? Object.freeze(v) : v;
  }
  for (const k in v) if (Object.hasOwn(v, k)) deepFreeze((v as Record<string, unknown>)[k], arrays);
  return Object.freeze(v);
}
