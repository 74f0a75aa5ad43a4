import { Decoder, Encoder } from "@msgpack/msgpack";
import { SHORT_MAX, ShortStrings } from "./short-strings.ts";

/**
 * MessagePack codecs with size limits set before anything is allocated.
 * @msgpack/msgpack's max*Length options default to 4 GiB, so a 6-byte header could make the
 * decoder reserve gigabytes; every limit here is bounded by the frame size the caller accepts.
 */
export function makeDecoder(maxFrameBytes: number): Decoder {
  return withNativeStrings(new Decoder({
    maxStrLength: maxFrameBytes,
    maxBinLength: maxFrameBytes,
    // An element takes at least one byte, so a frame can never hold more elements than bytes.
    maxArrayLength: maxFrameBytes,
    maxMapLength: maxFrameBytes,
    maxExtLength: maxFrameBytes,
    // Map keys from the wire become object properties: refuse __proto__ tricks by using only strings.
    mapKeyConverter: (key) => {
      if (typeof key !== "string" && typeof key !== "number") throw new TypeError("map keys must be strings or numbers");
      return key;
    },
  }));
}

/** One shared encoder: encode() copies its output, so reuse is safe and saves allocation. */
export const encoder = new Encoder({ ignoreUndefined: true });

/** The decoder's internals that withNativeStrings replaces (@msgpack/msgpack 3.x, pinned in package-lock.json). */
interface DecoderInternals {
  bytes: Uint8Array;
  pos: number;
  maxStrLength: number;
  stateIsMapKey(): boolean;
  decodeUtf8String(byteLength: number, headerOffset: number): string;
}

/**
 * Where `decoder` stands in the buffer it reads: while decodeMulti is paused after yielding a
 * value, the end of that value's bytes. peer.ts uses it to hand a relay each DATA frame's own bytes.
 */
export function decoderPosition(decoder: Decoder): number {
  return (decoder as unknown as DecoderInternals).pos;
}

/** Strings longer than this keep the library's own path (it switches to TextDecoder at 200 bytes). */
const NATIVE_STRING_MAX = 200;
const nodeUtf8Slice = (globalThis as { Buffer?: { prototype: { utf8Slice?: (this: Uint8Array, start: number, end: number) => string } } }).Buffer?.prototype.utf8Slice;
const textDecoder = new TextDecoder();
const utf8 = (bytes: Uint8Array, start: number, end: number): string => (nodeUtf8Slice ? nodeUtf8Slice.call(bytes, start, end) : textDecoder.decode(bytes.subarray(start, end)));
/** Shared by every decoder: the same names and channels recur across peer and client frames alike. */
const shortStrings = new ShortStrings();

/**
 * Decodes short strings natively. The library decodes strings under 200 bytes in JavaScript, one
 * code unit at a time into an array spread into String.fromCharCode: in a relaying node's profile
 * that was 19% of its CPU (channel, instance, origin, client id and payload of every DATA frame).
 * Bun's Buffer#utf8Slice takes ~70 ns for 64 bytes against ~630 ns; browsers get TextDecoder (~100
 * ns). Map keys (cached by the library) and anything unusual go through the original method, which
 * keeps every length check and error. Invalid UTF-8 becomes U+FFFD here, as TextDecoder makes it.
 * Strings of up to SHORT_MAX bytes come from a small cache by their bytes (short-strings.ts).
 */
function withNativeStrings(decoder: Decoder): Decoder {
  const d = decoder as unknown as DecoderInternals;
  const original = d.decodeUtf8String;
  if (typeof original !== "function") return decoder;
  d.decodeUtf8String = function (this: DecoderInternals, byteLength: number, headerOffset: number): string {
    const start = this.pos + headerOffset;
    const end = start + byteLength;
    if (byteLength > NATIVE_STRING_MAX || byteLength > this.maxStrLength || end > this.bytes.byteLength || this.stateIsMapKey()) {
      return original.call(this, byteLength, headerOffset);
    }
    this.pos = end;
    return byteLength <= SHORT_MAX ? shortStrings.get(this.bytes, start, end, utf8) : utf8(this.bytes, start, end);
  };
  return decoder;
}
