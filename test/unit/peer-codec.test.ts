import { describe, expect, test } from "bun:test";
import { decode } from "@msgpack/msgpack";
import fc from "fast-check";
import { encoder } from "../../src/protocol/msgpack.ts";
import { bytes32, frameArbs, name } from "../helpers/peer-arbitraries.ts";
import { PEER_FRAME_TYPES, PEER_LIMITS, decodePeerFrame, decodePeerMessage, encodePeerFrame, isMeshFrame, joinPeerFrames, type WireFrame } from "../../src/protocol/peer.ts";

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const fromHex = (h: string) => new Uint8Array(Buffer.from(h.replace(/\s+/g, ""), "hex"));
const MAX = 64 * 1024;

/** Decodes and insists on success, so a test failure shows the decoder's reason. */
function decodeOk(bytes: Uint8Array, maxBytes = MAX): WireFrame {
  const out = decodePeerFrame(bytes, maxBytes);
  if (!out.ok) throw new Error(`expected a frame, got: ${out.reason}`);
  return out.frame;
}

describe("peer frames: golden bytes", () => {
  test("PING is [10, ts]", () => {
    // fixarray(2) 0x0a uint16 1234
    const bytes = fromHex("92 0a cd04d2");
    expect(hex(encodePeerFrame({ t: "ping", ts: 1234 }))).toBe(hex(bytes));
    expect(decodeOk(bytes)).toEqual({ t: "ping", ts: 1234 });
  });

  test("DATA is [18, origin, incarnation, seq, hops, channel, instance, from, n, data] with the payload last", () => {
    // fixarray(10) 0x12 "n1" 7 42 3 "chat" "n1~1~0" "c.1" 5 bin8(3) 01 02 03
    const bytes = fromHex("9a 12 a2 6e31 07 2a 03 a4 63686174 a6 6e317e317e30 a3 632e31 05 c4 03 010203");
    const frame: WireFrame = { t: "data", origin: "n1", incarnation: 7, seq: 42, hops: 3, channel: "chat", instance: "n1~1~0", from: "c.1", n: 5, data: new Uint8Array([1, 2, 3]) };
    expect(hex(encodePeerFrame(frame))).toBe(hex(bytes));
    expect(decodeOk(bytes)).toEqual(frame);
  });

  test("DATA without a sender carries nil, and a structured payload stays structured", () => {
    // fixarray(10) 0x12 "a" 1 2 0 "c" "a~1~0" nil nil fixmap(1) "k" 1
    const bytes = fromHex("9a 12 a161 01 02 00 a163 a5 617e317e30 c0 c0 81 a16b 01");
    const frame: WireFrame = { t: "data", origin: "a", incarnation: 1, seq: 2, hops: 0, channel: "c", instance: "a~1~0", data: { k: 1 } };
    expect(hex(encodePeerFrame(frame))).toBe(hex(bytes));
    expect(decodeOk(bytes)).toEqual(frame);
  });

  test("HELLO is [1, v, name, incarnation, region, url, nonce]", () => {
    // fixarray(7) 0x01 v=1 "n1" 5 "eu" "ws://h:7400" bin8(32) 11 x 32
    const bytes = fromHex(`97 01 01 a2 6e31 05 a2 6575 ab 77733a2f2f683a37343030 c4 20 ${"11".repeat(32)}`);
    const frame: WireFrame = { t: "hello", v: 1, name: "n1", incarnation: 5, region: "eu", url: "ws://h:7400", nonce: new Uint8Array(32).fill(0x11) };
    expect(hex(encodePeerFrame(frame))).toBe(hex(bytes));
    expect(decodeOk(bytes)).toEqual(frame);
  });

  test("the type table is the one the docs promise (append-only: these numbers never change)", () => {
    // 14 was DATA without the instance (peer protocol v1): retired, never reused.
    expect(PEER_FRAME_TYPES).toEqual({ hello: 1, welcome: 2, auth: 3, refuse: 4, ping: 10, pong: 11, gossip: 12, digest: 13, leave: 15, regsync: 16, call: 17, data: 18 });
  });

  test("mesh frames (types 10+) are told apart from handshake frames", () => {
    expect(isMeshFrame({ t: "ping", ts: 1 })).toBe(true);
    expect(isMeshFrame({ t: "leave", name: "n", incarnation: 1 })).toBe(true);
    expect(isMeshFrame({ t: "auth", mac: new Uint8Array(32) })).toBe(false);
    expect(isMeshFrame({ t: "refuse", code: "bad_key", message: "m" })).toBe(false);
  });

  test("fields after the known ones are ignored, so a later version can append fields", () => {
    expect(decodeOk(fromHex("93 0a 05 a3 6e6577"))).toEqual({ t: "ping", ts: 5 });
  });
});

describe("peer frames: refusals", () => {
  const refused = (value: unknown[], reason: RegExp) => {
    const out = decodePeerFrame(encoder.encode(value), MAX);
    expect(out).toMatchObject({ ok: false });
    if (!out.ok) expect(out.reason).toMatch(reason);
  };

  test.each(([
    [[99, 1], /unknown frame type 99/],
    [[5], /unknown frame type 5/],
    [[-1], /unknown frame type -1/],
    [["ping", 1], /type must be an integer/],
    [[1.5], /type must be an integer/],
    [[], /non-empty array/],
    [[10], /ping needs 1 field/],
    [[10, -1], /ping.ts/],
    [[10, Infinity], /ping.ts/],
    [[10, Number.NaN], /ping.ts/],
    [[18, "n1", 1, 2, 256, "c", "n1~1~0", null, null, 1], /hops is over 255/],
    [[18, "n1", 1.5, 2, 0, "c", "n1~1~0", null, null, 1], /data.incarnation/],
    [[18, "n1", 1, 2 ** 53, 0, "c", "n1~1~0", null, null, 1], /data.seq/],
    [[18, "n1", 1, 2, 0, "bad channel", "n1~1~0", null, null, 1], /data.channel/],
    [[18, "n1", 1, 2, 0, "c", "n1~1~0", "bad id!", null, 1], /data.from/],
    [[18, "n1", 1, 2, 0, "c", "n1~1~0", 5, null, 1], /data.from/],
    [[18, "no spaces", 1, 2, 0, "c", "n1~1~0", null, null, 1], /data.origin/],
    [[18, "x".repeat(65), 1, 2, 0, "c", "n1~1~0", null, null, 1], /data.origin/],
    [[18, "n1", 1, 2, 0, "c", "no tilde", null, null, 1], /data.instance/],
    [[18, "n1", 1, 2, 0, "c", null, null, null, 1], /data.instance/],
    [[14, "n1", 1, 2, 0, "c", null, 1], /unknown frame type 14/],
    [[12, [], [], [], [["c", "n~1~0", "n", "n", 1, "plaintext-password", false, null]]], /channel.verifier/],
    [[12, [], [], [], [["bad channel", "n~1~0", "n", "n", 1, null, false, null]]], /channel.name/],
    [[16, 2 ** 32, true], /regsync.hash/],
    [[17, "n", "m", 0, 1, "shout"], /call.kind/],
    [[17, "n", "m", 0, 1, "refused", "bad_key", "m"], /call.code/],
    [[17, "n", "m", 0, 1, "open", "c", "secret", false], /call.verifier/],
    [[15, "", 1], /leave.name/],
    [[1, 1, "n", 1, "r", "ws://h", new Uint8Array(31)], /hello.nonce must be 32 bytes/],
    [[1, 1, "n", 1, "r", "ftp://h", new Uint8Array(32)], /hello.url/],
    [[1, 1, "n", 1, "r r", "ws://h", new Uint8Array(32)], /hello.region/],
    [[1, 1, "n", 1, "r", "ws://h", "x".repeat(32)], /hello.nonce/],
    [[2, 1, "n", 1, "r", "ws://h", new Uint8Array(32), new Uint8Array(33)], /welcome.mac/],
    [[3, new Uint8Array(0)], /auth.mac/],
    [[4, "Bad Code", "m"], /refuse.code/],
    [[4, "bad_key", "m".repeat(1025)], /refuse.message/],
    [[12, [["n", 1, "ws://h", "r", "zombie"]], [], []], /member.state/],
    [[12, [["n", 1, "ws://h", "r"]], [], []], /members\[0\] must be an array of 5/],
    [[12, [], [["n", 1, 1, [["m", -2]]]], []], /lsa link rtt/],
    [[12, [], [["n", 1, 1, new Array(1025).fill(["m", 1])]], []], /lsa.links has 1025 entries/],
    [[12, [], [], [["n", 1, 1, "yes", [], []]]], /interest.full/],
    [[12, [], [], [["n", 1, 1, true, ["ok", "not ok"], []]]], /interest.add/],
    [[12, new Array(10_001).fill(0), [], []], /gossip.members has 10001 entries/],
    [[13, [["n", 1, "alive", 0, 0]], "true"], /digest.reply/],
    [[13, {}, true], /digest.entries must be an array/],
  ] as [unknown[], RegExp][]).map(([value, reason]) => [reason.source, value, reason] as const))("refuses with /%s/", (_label, value, reason) => refused(value, reason));

  test("a frame that is not an array, or not MessagePack, is refused", () => {
    expect(decodePeerFrame(encoder.encode({ t: "ping", ts: 1 }), MAX)).toEqual({ ok: false, reason: "a peer frame must be a non-empty array" });
    expect(decodePeerFrame(fromHex("92 0a"), MAX)).toEqual({ ok: false, reason: "not valid MessagePack" });
    expect(decodePeerFrame(fromHex("91 0a 00"), MAX)).toEqual({ ok: false, reason: "not valid MessagePack" }); // trailing bytes
    expect(decodePeerFrame(new Uint8Array(0), MAX)).toEqual({ ok: false, reason: "not valid MessagePack" });
  });

  test("length bombs are refused before allocation", () => {
    // Each header claims ~4 G bytes or elements in a handful of bytes: str32, array32, bin32, map32,
    // alone and inside a DATA frame where the payload goes.
    for (const h of ["db ffffffff", "dd ffffffff", "c6 ffffffff", "df ffffffff", "dd 7fffffff 0a", "c6 00100000"]) {
      for (const bytes of [fromHex(h), fromHex(`9a 12 a161 01 02 00 a163 a5 617e317e30 c0 c0 ${h}`)]) {
        expect(decodePeerFrame(bytes, MAX)).toEqual({ ok: false, reason: "not valid MessagePack" });
      }
    }
  });

  test("10,000-deep nesting is refused without crashing, as a frame or as a DATA payload", () => {
    const deep = new Uint8Array(10_001).fill(0x91);
    deep[10_000] = 0x01;
    expect(decodePeerFrame(deep, MAX)).toEqual({ ok: false, reason: "the frame type must be an integer" });
    expect(decodePeerFrame(deep.subarray(0, 10_000), MAX)).toEqual({ ok: false, reason: "not valid MessagePack" }); // never closed
    const data = new Uint8Array([...fromHex("9a 12 a161 01 02 00 a163 a5 617e317e30 c0 c0"), ...deep]);
    expect(decodePeerFrame(data, MAX)).toMatchObject({ ok: false, reason: expect.stringMatching(/deeper than 64/) });
    // The same nesting as a map payload is caught too.
    const deepMaps = new Uint8Array([...fromHex("9a 12 a161 01 02 00 a163 a5 617e317e30 c0 c0"), ...new Array(10_000).fill([0x81, 0xa1, 0x6b]).flat(), 0x01]);
    expect(decodePeerFrame(deepMaps, MAX)).toMatchObject({ ok: false, reason: expect.stringMatching(/deeper than 64/) });
  });

  test("maxBytes is respected: one byte over the limit is refused before decoding", () => {
    const bytes = encodePeerFrame({ t: "data", origin: "n", incarnation: 1, seq: 1, hops: 0, channel: "c", instance: "n~1~0", data: new Uint8Array(1000) });
    expect(decodePeerFrame(bytes, bytes.length).ok).toBe(true);
    expect(decodePeerFrame(bytes, bytes.length - 1)).toEqual({ ok: false, reason: `frame of ${bytes.length} bytes is over the limit of ${bytes.length - 1}` });
  });
});

/** Any value MessagePack can carry, biased toward pieces that pass some checks, to reach deep branches. */
const { value: msgpackValue } = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: "small" },
    fc.constantFrom(null, true, false, 0, 1, 255, 256, -1, 2 ** 53, 1.5, Infinity, Number.NaN, "alive", "n1", "ws://h", "c"),
    fc.integer(),
    fc.double(),
    fc.string({ maxLength: 20 }),
    name,
    fc.uint8Array({ maxLength: 40 }),
    bytes32,
    fc.array(tie("value"), { maxLength: 6 }),
    fc.dictionary(fc.string({ maxLength: 5 }).filter((k) => k !== "__proto__"), tie("value"), { maxKeys: 4 }),
  ),
}));

describe("peer frames: properties", () => {
  test.each(Object.keys(frameArbs) as WireFrame["t"][])("%s: encode then decode gives the frame back", (t) => {
    fc.assert(fc.property(frameArbs[t], (frame) => {
      expect(decodeOk(encodePeerFrame(frame))).toEqual(frame);
    }), { numRuns: 300 });
  });

  test("never throws on arbitrary bytes, only {ok:false}", () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), fc.integer({ min: 1, max: 400 }), (b, max) => {
      const out = decodePeerFrame(b, max);
      if (!out.ok) expect(typeof out.reason).toBe("string");
    }), { numRuns: 3000 });
  });

  const typeNumbers = [...Object.values(PEER_FRAME_TYPES), 0, 5, 16, 255, 65536];
  test("never throws on arbitrary MessagePack arrays starting with each type number", () => {
    fc.assert(fc.property(fc.constantFrom(...typeNumbers), fc.array(msgpackValue, { maxLength: 9 }), (type, rest) => {
      const out = decodePeerFrame(encoder.encode([type, ...rest]), MAX);
      if (!out.ok) expect(out.reason.length).toBeGreaterThan(0);
    }), { numRuns: 3000 });
  });

  test("never throws when one field of a valid frame is replaced by anything", () => {
    const anyFrame = fc.oneof(...Object.values(frameArbs));
    fc.assert(fc.property(anyFrame, fc.nat(), msgpackValue, (frame, at, junk) => {
      const arr = decodeAsArray(encodePeerFrame(frame));
      arr[1 + (at % (arr.length - 1))] = junk;
      const out = decodePeerFrame(encoder.encode(arr), MAX);
      expect(typeof out.ok).toBe("boolean");
    }), { numRuns: 3000 });
  });

  test("never throws on truncations of valid frames", () => {
    fc.assert(fc.property(fc.oneof(...Object.values(frameArbs)), fc.nat(), (frame, cut) => {
      const bytes = encodePeerFrame(frame);
      expect(decodePeerFrame(bytes.subarray(0, cut % bytes.length), MAX).ok).toBe(false);
    }), { numRuns: 1000 });
  });
});

/** The raw positional array of a valid frame, so a field can be swapped without knowing the layout. */
function decodeAsArray(bytes: Uint8Array): unknown[] {
  return decode(bytes) as unknown[];
}

describe("peer messages (batches of frames)", () => {
  const MAX = 64 * 1024;
  test("frames joined into one message come back in order", () => {
    const frames: WireFrame[] = [
      { t: "ping", ts: 1 },
      { t: "data", origin: "a", incarnation: 1, seq: 7, hops: 0, channel: "c", instance: "a~1~0", data: { x: [1, 2] } },
      { t: "leave", name: "a", incarnation: 1 },
    ];
    const encoded = frames.map(encodePeerFrame);
    const out = decodePeerMessage(joinPeerFrames(encoded), MAX);
    // A DATA frame also comes with its own bytes, for a relay to forward (data-forward.ts).
    expect(out).toEqual(frames.map((frame, i) => (frame.t === "data" ? { ok: true, frame, bytes: encoded[i] } : { ok: true, frame })));
  });

  test("a single frame is sent as it is, without a copy", () => {
    const one = encodePeerFrame({ t: "ping", ts: 5 });
    expect(joinPeerFrames([one])).toBe(one);
  });

  test("a bad frame ends the message: the frames before it stand, nothing after it is read", () => {
    const good = encodePeerFrame({ t: "ping", ts: 1 });
    const bad = encoder.encode([99, "x"]);
    const out = decodePeerMessage(joinPeerFrames([good, bad, good]), MAX);
    expect(out).toEqual([{ ok: true, frame: { t: "ping", ts: 1 } }, { ok: false, reason: "unknown frame type 99" }]);
    // Truncated MessagePack after a good frame.
    expect(decodePeerMessage(joinPeerFrames([good, fromHex("92 0a")]), MAX)).toEqual([{ ok: true, frame: { t: "ping", ts: 1 } }, { ok: false, reason: "not valid MessagePack" }]);
  });

  test("an empty or oversized message is refused", () => {
    expect(decodePeerMessage(new Uint8Array(0), MAX)).toEqual([{ ok: false, reason: "not valid MessagePack" }]);
    expect(decodePeerMessage(new Uint8Array(MAX + 1), MAX)[0]).toMatchObject({ ok: false, reason: expect.stringMatching(/over the limit/) });
  });

  test("never throws on arbitrary bytes", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 512 }), (bytes) => {
        const out = decodePeerMessage(bytes, MAX);
        expect(out.length).toBeGreaterThan(0);
        expect(out.slice(0, -1).every((d) => d.ok)).toBe(true);
      }),
    );
  });
});
