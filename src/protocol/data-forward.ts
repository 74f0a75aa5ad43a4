import type { PeerFrame } from "./peer-frames.ts";
import { PEER_FRAME_TYPES } from "./peer.ts";

/**
 * Forwarding a DATA frame without encoding it again. A relay sends on what it received with one
 * field changed, hops + 1; re-encoding the whole frame (strings, payload) was the biggest single
 * item in a relaying node's profile (~27% of its CPU). The received bytes with the hops byte
 * patched are the same bytes, and checking that is cheap: the forwarded frame must be the received
 * one field for field except hops, and the received bytes must have the layout encodePeerFrame
 * writes up to hops (a 10-field array, type 18, then origin, incarnation and seq encoded as
 * @msgpack/msgpack encodes them, then hops as a positive fixint). Anything else (a hops of 128 or
 * more, which needs two bytes; a peer whose encoder chose other widths; an extra trailing field)
 * returns null and the caller encodes as before.
 *
 * What follows hops (channel, instance, from, n, payload) is copied as received. Every node decodes
 * and validates each DATA frame it receives in full before it handles it, so nothing that would be
 * refused travels further than with re-encoding; a payload encoded by another encoder in other (but
 * equivalent) MessagePack travels as it came and decodes to the same value.
 */

type DataFrame = Extract<PeerFrame, { t: "data" }>;

/** MessagePack header of `[type, ...9 fields]`: fixarray of 10. */
const DATA_ARRAY_HEADER = 0x9a;
/** Largest positive fixint: a hops above it takes two bytes, so it cannot be patched in place. */
const FIXINT_MAX = 0x7f;

/**
 * The bytes to send for `forwarded` when it is `received` (whose encoding is `bytes`) passed on
 * with hops + 1, or null when the caller must encode it.
 */
export function forwardedDataBytes(received: DataFrame, bytes: Uint8Array, forwarded: DataFrame): Uint8Array | null {
  if (forwarded.hops > FIXINT_MAX || !isForwardOf(received, forwarded)) return null;
  const at = hopsOffset(bytes, received);
  if (at < 0) return null;
  const out = bytes.slice(); // the received message's buffer is not ours to change
  out[at] = forwarded.hops;
  return out;
}

/** True when `f` is `r` with hops + 1 and every other field the same (the payload by identity, as the mesh passes it on). */
function isForwardOf(r: DataFrame, f: DataFrame): boolean {
  return (
    f.hops === r.hops + 1 &&
    f.origin === r.origin &&
    f.incarnation === r.incarnation &&
    f.seq === r.seq &&
    f.channel === r.channel &&
    f.instance === r.instance &&
    f.from === r.from &&
    f.n === r.n &&
    f.data === r.data
  );
}

/**
 * Offset of the hops byte in `bytes`, or -1 when `bytes` does not start as encodePeerFrame writes
 * `frame`. Checking origin, incarnation and seq against the frame (its id) also proves the bytes
 * are this frame's and not a neighbour's in the same message.
 */
export function hopsOffset(bytes: Uint8Array, frame: DataFrame): number {
  if (bytes[0] !== DATA_ARRAY_HEADER || bytes[1] !== PEER_FRAME_TYPES.data) return -1;
  let at = stringEnd(bytes, 2, frame.origin);
  if (at < 0) return -1;
  at = uintEnd(bytes, at, frame.incarnation);
  if (at < 0) return -1;
  at = uintEnd(bytes, at, frame.seq);
  if (at < 0 || at >= bytes.length || bytes[at] !== frame.hops || frame.hops > FIXINT_MAX) return -1;
  return at;
}

/**
 * End of an ASCII string equal to `text` at `at`, with the header @msgpack/msgpack writes for its
 * length (fixstr under 32 bytes, else str 8), or -1. Node names are ASCII (peer.ts NAME_RE).
 */
function stringEnd(bytes: Uint8Array, at: number, text: string): number {
  const n = text.length;
  if (n < 32) {
    if (bytes[at] !== (0xa0 | n)) return -1;
    at += 1;
  } else if (n < 256) {
    if (bytes[at] !== 0xd9 || bytes[at + 1] !== n) return -1;
    at += 2;
  } else return -1;
  if (at + n > bytes.length) return -1;
  for (let i = 0; i < n; i++) if (bytes[at + i] !== text.charCodeAt(i)) return -1;
  return at + n;
}

/** End of the unsigned integer `value` at `at`, in the width @msgpack/msgpack writes it, or -1. */
function uintEnd(bytes: Uint8Array, at: number, value: number): number {
  let width: number;
  if (value <= FIXINT_MAX) return bytes[at] === value ? at + 1 : -1;
  if (value < 0x100) width = 1;
  else if (value < 0x10000) width = 2;
  else if (value < 0x100000000) width = 4;
  else width = 8;
  if (bytes[at] !== UINT_HEADER[width] || at + 1 + width > bytes.length) return -1;
  // Big-endian, compared byte by byte from the lowest so no 64-bit arithmetic is needed.
  let rest = value;
  for (let i = width; i >= 1; i--) {
    if (bytes[at + i] !== rest % 256) return -1;
    rest = Math.floor(rest / 256);
  }
  return rest === 0 ? at + 1 + width : -1;
}

/** uint 8, 16, 32 and 64 headers by width in bytes. */
const UINT_HEADER: Record<number, number> = { 1: 0xcc, 2: 0xcd, 4: 0xce, 8: 0xcf };
