import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { forwardedDataBytes, hopsOffset } from "../../src/protocol/data-forward.ts";
import { encoder } from "../../src/protocol/msgpack.ts";
import { decodePeerMessage, encodePeerFrame, joinPeerFrames, type WireFrame } from "../../src/protocol/peer.ts";
import type { PeerFrame } from "../../src/protocol/peer-frames.ts";
import { frameArbs } from "../helpers/peer-arbitraries.ts";

type DataFrame = Extract<PeerFrame, { t: "data" }>;
const MAX = 4 * 1024 * 1024;

/** What a relay does: decode the message, and forward each DATA frame as the core does ({...frame, hops + 1}). */
function relay(frames: WireFrame[]): { received: DataFrame; bytes: Uint8Array; forwarded: DataFrame }[] {
  const out = [];
  for (const one of decodePeerMessage(joinPeerFrames(frames.map(encodePeerFrame)), MAX)) {
    if (!one.ok) throw new Error(one.reason);
    if (one.frame.t !== "data") continue;
    expect(one.bytes).toBeDefined();
    out.push({ received: one.frame, bytes: one.bytes!, forwarded: { ...one.frame, hops: one.frame.hops + 1 } });
  }
  return out;
}

const dataFrame = frameArbs.data as fc.Arbitrary<DataFrame>;
/** Hops around the fixint boundary (127 patches to... nothing: 128 needs two bytes). */
const edgeHops = fc.constantFrom(0, 1, 31, 32, 125, 126, 127, 128, 200, 254);
/** Integers at every width boundary of MessagePack's unsigned encodings. */
const edgeUint = fc.constantFrom(0, 127, 128, 255, 256, 65535, 65536, 2 ** 32 - 1, 2 ** 32, 2 ** 53 - 1);

describe("forwarding DATA frames by patching hops", () => {
  test("patched bytes equal encodePeerFrame of the frame with hops + 1, for any frame, alone or batched", () => {
    const frame = fc.tuple(dataFrame, fc.option(edgeHops), fc.option(edgeUint), fc.option(edgeUint)).map(([f, hops, inc, seq]) => ({ ...f, hops: hops ?? f.hops, incarnation: inc ?? f.incarnation, seq: seq ?? f.seq }));
    const others = fc.array(fc.oneof(frameArbs.ping, frameArbs.leave, dataFrame), { maxLength: 3 });
    fc.assert(
      fc.property(others, frame, others, (before, f, after) => {
        const all = relay([...before, f, ...after]);
        for (const { received, bytes, forwarded } of all) {
          const patched = forwardedDataBytes(received, bytes, forwarded);
          if (forwarded.hops <= 127) expect(patched).toEqual(encodePeerFrame(forwarded));
          else expect(patched).toBeNull(); // two bytes now: the caller encodes
        }
      }),
      { numRuns: 2000 },
    );
  });

  test("hops 126 patches to 127; 127 does not patch (128 takes two bytes)", () => {
    for (const hops of [126, 127]) {
      const [{ received, bytes, forwarded }] = relay([{ t: "data", origin: "a", incarnation: 1, seq: 1, hops, channel: "c", instance: "a~1~0", data: 1 }]) as [ReturnType<typeof relay>[0]];
      const patched = forwardedDataBytes(received, bytes, forwarded);
      if (hops === 126) expect(patched).toEqual(encodePeerFrame(forwarded));
      else expect(patched).toBeNull();
    }
  });

  test("the received bytes are not changed", () => {
    const [{ received, bytes, forwarded }] = relay([{ t: "data", origin: "a", incarnation: 1, seq: 1, hops: 3, channel: "c", instance: "a~1~0", data: "x" }]) as [ReturnType<typeof relay>[0]];
    const copy = bytes.slice();
    forwardedDataBytes(received, bytes, forwarded);
    expect(bytes).toEqual(copy);
  });

  test("a frame that is not the received one with hops + 1 is not patched", () => {
    const base: DataFrame = { t: "data", origin: "a", incarnation: 1, seq: 9, hops: 2, channel: "c", instance: "a~1~0", from: "c.1", n: 4, data: { k: 1 } };
    const [{ received, bytes }] = relay([base]) as [ReturnType<typeof relay>[0]];
    const changes: Partial<DataFrame>[] = [{ hops: 2 }, { hops: 4 }, { origin: "b" }, { incarnation: 2 }, { seq: 10 }, { channel: "d" }, { instance: "a~1~1" }, { from: "c.2" }, { from: undefined }, { n: 5 }, { n: undefined }, { data: { k: 1 } }];
    for (const change of changes) expect(forwardedDataBytes(received, bytes, { ...received, hops: 3, ...change })).toBeNull();
    expect(forwardedDataBytes(received, bytes, { ...received, hops: 3 })).toEqual(encodePeerFrame({ ...base, hops: 3 }));
  });

  test("bytes laid out otherwise than encodePeerFrame writes are not patched", () => {
    const f: DataFrame = { t: "data", origin: "a", incarnation: 1, seq: 2, hops: 3, channel: "c", instance: "a~1~0", data: 1 };
    const fields = (hops: unknown): unknown[] => [18, "a", 1, 2, hops, "c", "a~1~0", null, null, 1];
    // As encodePeerFrame writes it: 9a 12 a1 61 01 02 [03] ...
    expect(hopsOffset(encoder.encode(fields(3)), f)).toBe(6);
    // hops as uint 8 (0xcc 0x03), incarnation as float 64, an 11th (appended) field, another frame's id.
    const odd = [
      concat(encoder.encode(fields(3)).subarray(0, 6), [0xcc, 3], encoder.encode(fields(3)).subarray(7)),
      (() => {
        const b = encoder.encode(fields(3));
        return concat(b.subarray(0, 4), [0xcb, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0], b.subarray(5));
      })(),
      encoder.encode([...fields(3), "later"]),
      encodePeerFrame({ ...f, seq: 3 }),
      encodePeerFrame({ ...f, origin: "b" }),
    ];
    for (const bytes of odd) expect(hopsOffset(bytes, f)).toBe(-1);
    // Truncated anywhere before hops.
    const good = encoder.encode(fields(3));
    for (let cut = 0; cut <= 6; cut++) expect(hopsOffset(good.subarray(0, cut), f)).toBe(-1);
  });
});

function concat(...parts: (Uint8Array | number[])[]): Uint8Array {
  return Uint8Array.from(parts.flatMap((p) => [...p]));
}
