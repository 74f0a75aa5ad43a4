import { Decoder, Encoder } from "@msgpack/msgpack";

/**
 * MessagePack codecs with size limits set before anything is allocated.
 * @msgpack/msgpack's max*Length options default to 4 GiB, so a 6-byte header could make the
 * decoder reserve gigabytes; every limit here is bounded by the frame size the caller accepts.
 */
export function makeDecoder(maxFrameBytes: number): Decoder {
  return new Decoder({
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
  });
}

/** One shared encoder: encode() copies its output, so reuse is safe and saves allocation. */
export const encoder = new Encoder({ ignoreUndefined: true });
