import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { encode } from "@msgpack/msgpack";
import { jsonTooDeep, msgpackTooDeep } from "../../src/protocol/depth.ts";

/** Nesting depth of a JS value as the decoders would build it. */
function depth(v: unknown): number {
  if (Array.isArray(v)) return 1 + Math.max(0, ...v.map(depth));
  if (typeof v === "object" && v !== null && !(v instanceof Uint8Array)) return 1 + Math.max(0, ...Object.values(v).map(depth));
  return 0;
}

describe("nesting scans before decoding", () => {
  test("msgpackTooDeep agrees with the real depth of any value, and with several values in a row", () => {
    fc.assert(
      fc.property(fc.array(fc.jsonValue({ maxDepth: 12 }), { minLength: 1, maxLength: 3 }), fc.integer({ min: 0, max: 14 }), (values, limit) => {
        const bytes = new Uint8Array(values.flatMap((v) => [...encode(v)]));
        expect(msgpackTooDeep(bytes, limit)).toBe(values.some((v) => depth(v) > limit));
      }),
    );
  });

  test("jsonTooDeep agrees with the real depth, and ignores brackets inside strings", () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 12 }), fc.integer({ min: 0, max: 14 }), (v, limit) => {
        expect(jsonTooDeep(JSON.stringify(v), limit)).toBe(depth(v) > limit);
      }),
    );
    expect(jsonTooDeep(JSON.stringify({ s: '[[[[[["]]' }), 1)).toBe(false);
  });

  test("4 MiB of unclosed nesting is refused at once and without allocating it", () => {
    const bombs = [new Uint8Array(4 * 1024 * 1024).fill(0x91), new Uint8Array(4 * 1024 * 1024).fill(0x81)];
    for (const b of bombs) {
      const t0 = performance.now();
      expect(msgpackTooDeep(b, 80)).toBe(true);
      expect(performance.now() - t0).toBeLessThan(100);
    }
    expect(jsonTooDeep("[".repeat(1_000_000), 65)).toBe(true);
  });

  test("length headers are skipped, not trusted to allocate", () => {
    // str32, bin32 and array32 claiming 4 G: scanning stops at the end of the bytes.
    for (const h of [[0xdb, 0xff, 0xff, 0xff, 0xff], [0xc6, 0xff, 0xff, 0xff, 0xff], [0xdd, 0xff, 0xff, 0xff, 0xff]]) {
      expect(msgpackTooDeep(new Uint8Array(h), 10)).toBe(false);
    }
  });
});
