import { describe, expect, test } from "bun:test";
import { decode } from "@msgpack/msgpack";
import fc from "fast-check";
import { encoder, makeDecoder } from "../../src/protocol/msgpack.ts";
import { SHORT_MAX, ShortStrings } from "../../src/protocol/short-strings.ts";

const textDecoder = new TextDecoder();
const utf8 = (b: Uint8Array, start: number, end: number): string => textDecoder.decode(b.subarray(start, end));

describe("short strings by their bytes", () => {
  test("a cached string is always what decoding gives, for any bytes (invalid UTF-8 too), through collisions", () => {
    const cache = new ShortStrings();
    // Few distinct values so hits are frequent, many so slots are overwritten by colliding strings.
    const bytes = fc.oneof(fc.uint8Array({ maxLength: SHORT_MAX }), fc.constantFrom(...["a", "chain-a", "ch", "n1~1~0", "héllo", "日本"].map((s) => new TextEncoder().encode(s))));
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.uint8Array({ maxLength: 8 }), bytes), { minLength: 1, maxLength: 200 }), (items) => {
        for (const [prefix, b] of items) {
          const buf = new Uint8Array([...prefix, ...b, 0xff]);
          expect(cache.get(buf, prefix.length, prefix.length + b.length, utf8)).toBe(utf8(buf, prefix.length, prefix.length + b.length));
        }
      }),
      { numRuns: 300 },
    );
  });

  test("the decoder gives the library's strings, short and long, in values and map keys", () => {
    const d = makeDecoder(1 << 20);
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.string({ maxLength: 40 }), fc.string({ unit: "grapheme", maxLength: 30 }), fc.dictionary(fc.string({ maxLength: 30 }).filter((k) => k !== "__proto__"), fc.string({ maxLength: 30 }))), { maxLength: 20 }), (value) => {
        const bytes = encoder.encode(value);
        expect(d.decode(bytes)).toEqual(decode(bytes));
        expect(d.decode(bytes)).toEqual(value);
      }),
      { numRuns: 500 },
    );
  });
});
