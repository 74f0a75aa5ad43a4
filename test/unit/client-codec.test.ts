import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import * as v from "valibot";
import { encoder, makeDecoder } from "../../src/protocol/msgpack.ts";
import { ClientFrameDecoder, SCHEMAS, isPlainPub, payloadProblem } from "../../src/protocol/client-decode.ts";
import {
  FRAME_OVERHEAD,
  MAX_PAYLOAD_DEPTH,
  maxFrameBytes,
  decodeServerFrame,
  decodeServerMessage,
  joinJsonFrames,
  joinMsgpackFrames,
  encodeClientFrame,
  encodeServerFrame,
  isErrorCode,
  msgFrameJson,
  msgFrameMsgpack,
  payloadToJson,
  type ClientFrame,
} from "../../src/protocol/index.ts";

const hex = (b: Uint8Array | string) => Buffer.from(b as Uint8Array).toString("hex");
const fromHex = (h: string) => new Uint8Array(Buffer.from(h.replace(/\s+/g, ""), "hex"));
const decoder = new ClientFrameDecoder(64 * 1024);

describe("client frames: golden JSON", () => {
  test.each([
    ['{"op":"sub","channel":"chat","id":1}', { op: "sub", channel: "chat", id: 1 }],
    ['{"op":"sub","channel":"chat","echo":true,"password":"pw","id":"a"}', { op: "sub", channel: "chat", echo: true, password: "pw", id: "a" }],
    ['{"op":"unsub","channel":"chat"}', { op: "unsub", channel: "chat" }],
    ['{"op":"pub","channel":"chat","data":{"text":"hi"},"id":7}', { op: "pub", channel: "chat", data: { text: "hi" }, id: 7 }],
    ['{"op":"pub","channel":"chat","data":null}', { op: "pub", channel: "chat", data: null }],
    ['{"op":"pub","channel":"c","bin":true,"data":"AQID"}', { op: "pub", channel: "c", data: new Uint8Array([1, 2, 3]) }],
    ['{"op":"ping","id":9}', { op: "ping", id: 9 }],
  ])("decodes %s", (text, frame) => {
    expect(decoder.decode(text)).toMatchObject({ ok: true, frame: frame as ClientFrame });
  });

  test("a JSON publish is measured once: UTF-8 bytes of its JSON text, which is kept for JSON subscribers", () => {
    const out = decoder.decode('{"op":"pub","channel":"c","data":"é"}');
    expect(out).toMatchObject({ ok: true, payload: { size: 4, json: { text: '"é"', bin: false } } });
    const bin = decoder.decode('{"op":"pub","channel":"c","bin":true,"data":"AQID"}');
    expect(bin).toMatchObject({ ok: true, payload: { size: 3, json: { text: '"AQID"', bin: true } } });
  });

  test.each([
    ["not json", "bad_frame", undefined],
    ["[1,2]", "bad_frame", undefined],
    ['"just a string"', "bad_frame", undefined],
    ['{"channel":"x"}', "bad_frame", undefined],
    ['{"op":"dance","id":4}', "unknown_op", 4],
    ['{"op":"sub","id":5}', "bad_frame", 5],
    ['{"op":"sub","channel":"no spaces","id":6}', "bad_channel", 6],
    ['{"op":"pub","channel":"c","id":"r1"}', "bad_frame", "r1"],
    ['{"op":"pub","channel":"c","bin":true,"data":"***","id":8}', "bad_frame", 8],
    ['{"op":"pub","channel":"c","bin":true,"data":5}', "bad_frame", undefined],
    ['{"op":"sub","channel":"c","id":-1}', "bad_frame", undefined],
    ['{"op":"sub","channel":"c","id":1.5}', "bad_frame", undefined],
    ['{"op":"sub","channel":"c","echo":"yes","id":2}', "bad_frame", 2],
    ['{"op":"__proto__"}', "unknown_op", undefined],
    ['{"op":"toString"}', "unknown_op", undefined],
    ['{"op":"pub","channel":"c","data":{"a":[{"__proto__":1}]},"id":3}', "bad_frame", 3],
    ['{"op":"pub","channel":"c","data":{"\\u005f_proto__":1}}', "bad_frame", undefined],
  ])("refuses %s with %s, answering id %p", (text, code, id) => {
    const out = decoder.decode(text);
    expect(out.ok).toBe(false);
    if (out.ok) return;
    expect(out.code).toBe(code as never);
    expect(out.id).toBe(id as never);
    expect(out.message.length).toBeGreaterThan(5);
  });
});

describe("client frames: golden MessagePack", () => {
  test("decodes a sub frame from hand-written bytes", () => {
    // fixmap(3) "op" "sub" "channel" "chat" "id" 1
    const bytes = fromHex("83 a2 6f70 a3 737562 a7 6368616e6e656c a4 63686174 a2 6964 01");
    expect(decoder.decode(bytes)).toEqual({ ok: true, frame: { op: "sub", channel: "chat", id: 1 }, payload: null });
  });

  test("a pub frame keeps a bin payload as bytes", () => {
    // fixmap(3) "op" "pub" "channel" "c" "data" bin8(3) 01 02 03
    const bytes = fromHex("83 a2 6f70 a3 707562 a7 6368616e6e656c a1 63 a4 64617461 c4 03 010203");
    expect(decoder.decode(bytes)).toEqual({ ok: true, frame: { op: "pub", channel: "c", data: new Uint8Array([1, 2, 3]) }, payload: { size: 3, json: null } });
  });

  test("length bombs are refused before allocation", () => {
    // str32 claiming 4 GiB, array32 claiming 4 G elements, bin32 claiming 4 GiB: each a 5-byte frame.
    for (const h of ["db ffffffff", "dd ffffffff", "c6 ffffffff", "df ffffffff"]) {
      const out = decoder.decode(fromHex(h));
      expect(out).toEqual({ ok: false, code: "bad_frame", message: "the binary frame is not valid MessagePack" });
    }
  });

  test("unterminated nesting is refused without crashing", () => {
    const deep = new Uint8Array(60_000).fill(0x91); // 60,000 nested one-element arrays, never closed
    expect(decoder.decode(deep).ok).toBe(false);
  });

  test("payloads nested deeper than the limit are refused in both encodings, at any depth", () => {
    const nest = (depth: number): unknown => (depth === 0 ? 1 : [nest(depth - 1)]);
    const ok = { op: "pub", channel: "c", data: nest(MAX_PAYLOAD_DEPTH - 1) }; // depth counts the outer array too
    expect(decoder.decode(JSON.stringify(ok)).ok).toBe(true);
    expect(decoder.decode(encodeClientFrame(ok as ClientFrame, "msgpack")).ok).toBe(true);
    for (const depth of [MAX_PAYLOAD_DEPTH + 1, 10_000]) {
      const text = `{"op":"pub","channel":"c","id":1,"data":${"[".repeat(depth)}${"]".repeat(depth)}}`;
      expect(decoder.decode(text)).toMatchObject({ ok: false, code: "bad_frame", id: 1 });
      const bytes = new Uint8Array([0x83, 0xa2, 0x6f, 0x70, 0xa3, 0x70, 0x75, 0x62, 0xa7, ...new TextEncoder().encode("channel"), 0xa1, 0x63, 0xa4, ...new TextEncoder().encode("data"), ...new Array(depth).fill(0x91), 0x01]);
      expect(decoder.decode(bytes)).toMatchObject({ ok: false, code: "bad_frame" });
    }
    expect(payloadProblem({ a: { b: [{ c: 1 }] } })).toBeNull();
    expect(payloadProblem(JSON.parse('{"a":[{"__proto__":1}]}'))).toMatch(/__proto__/);
  });
});

describe("node frames: golden output", () => {
  test("msg in JSON is built by concatenation and is valid JSON", () => {
    const text = msgFrameJson("chat", "ab.1", payloadToJson({ t: "hi" }));
    expect(text).toBe('{"op":"msg","channel":"chat","from":"ab.1","data":{"t":"hi"}}');
    expect(JSON.parse(text)).toEqual({ op: "msg", channel: "chat", from: "ab.1", data: { t: "hi" } });
  });

  test("bytes reach a JSON client as base64 with bin: true", () => {
    expect(msgFrameJson("c", undefined, payloadToJson(new Uint8Array([1, 2, 3])))).toBe('{"op":"msg","channel":"c","bin":true,"data":"AQID"}');
  });

  test("nested bytes in a structured payload become base64 strings", () => {
    expect(payloadToJson({ b: new Uint8Array([255]) }).text).toBe('{"b":"/w=="}');
  });

  test("msg in MessagePack", () => {
    // fixmap(3) op msg channel "c" data 1
    expect(hex(msgFrameMsgpack("c", undefined, 1))).toBe("83a26f70a36d7367a76368616e6e656ca163a46461746101");
  });

  test("ack, error and pong", () => {
    expect(hex(encodeServerFrame({ op: "ack", id: 1 }, "msgpack") as Uint8Array)).toBe("82a26f70a361636ba2696401");
    expect(encodeServerFrame({ op: "error", code: "bad_channel", message: "m", id: 3 }, "json")).toBe('{"op":"error","code":"bad_channel","message":"m","id":3}');
    expect(encodeServerFrame({ op: "pong" }, "json")).toBe('{"op":"pong"}');
  });

  test("the frame limit leaves room for base64 and the envelope", () => {
    expect(maxFrameBytes(3)).toBe(4 + FRAME_OVERHEAD);
    expect(maxFrameBytes(65536)).toBe(87384 + FRAME_OVERHEAD);
  });
});

describe("MessagePack decoding of strings (native for short ones)", () => {
  const limited = makeDecoder(1024);
  test("strings of every length class and script decode to what was encoded, in arrays and as map keys and values", () => {
    fc.assert(fc.property(fc.array(fc.oneof(fc.string({ maxLength: 40 }), fc.string({ unit: "grapheme", maxLength: 120 }), fc.string({ minLength: 190, maxLength: 260 }))), (strings) => {
      const value = { list: strings, map: Object.fromEntries(strings.filter((k) => k !== "__proto__").map((k, i) => [k, `${i}:${k}`])) };
      expect(makeDecoder(1 << 20).decode(encoder.encode(value))).toEqual(value);
    }), { numRuns: 300 });
  });
  test("the length limit and a truncated string still throw", () => {
    expect(() => limited.decode(encoder.encode(["x".repeat(1025)]))).toThrow();
    const whole = encoder.encode(["hello world"]);
    expect(() => limited.decode(whole.subarray(0, whole.length - 3))).toThrow();
  });
});

describe("protocol version 2: several frames per message", () => {
  const frames = [
    { op: "msg", channel: "a", data: "line\nbreak", from: "x.1", n: 1 },
    { op: "msg", channel: "a", data: new Uint8Array([1, 2]), from: "x.1", n: 2 },
    { op: "ack", id: 3 },
  ] as const;
  test("JSON: joined by newlines, split back into the same frames (a newline in a payload is escaped)", () => {
    const joined = joinJsonFrames(frames.map((f) => encodeServerFrame(f as never, "json") as string));
    expect(joined.split("\n")).toHaveLength(3);
    expect(decodeServerMessage(joined).map((d) => (d.ok ? d.frame : d))).toEqual(frames as never);
  });
  test("MessagePack: concatenated, split back into the same frames", () => {
    const joined = joinMsgpackFrames(frames.map((f) => encodeServerFrame(f as never, "msgpack") as Uint8Array));
    expect(decodeServerMessage(joined).map((d) => (d.ok ? d.frame : d))).toEqual(frames as never);
  });
  test("a version 1 message reads as its one frame; a broken tail is one bad_frame, not a throw", () => {
    expect(decodeServerMessage('{"op":"pong"}')).toEqual([{ ok: true, frame: { op: "pong" } }]);
    const good = encodeServerFrame({ op: "pong" }, "msgpack") as Uint8Array;
    const out = decodeServerMessage(joinMsgpackFrames([good, new Uint8Array([0xc1])]));
    expect(out[0]).toEqual({ ok: true, frame: { op: "pong" } });
    expect(out[1]).toMatchObject({ ok: false, code: "bad_frame" });
  });
});

describe("properties", () => {
  test("the hand-written publish check accepts exactly what the pub schema accepts", () => {
    const field = fc.oneof(fc.constant(undefined), fc.boolean(), fc.integer(), fc.double(), fc.constant(Number.MAX_SAFE_INTEGER + 1), fc.string({ maxLength: 70 }), fc.string({ minLength: 1020, maxLength: 1030 }), fc.constant(null), fc.object());
    fc.assert(fc.property(fc.record({ op: fc.constant("pub"), channel: fc.oneof(fc.string({ maxLength: 10 }), field), data: fc.anything(), id: field, bin: field, password: field, extra: fc.anything() }, { requiredKeys: ["op"] }), (rec) => {
      expect(isPlainPub(rec as Record<string, unknown>)).toBe(v.safeParse(SCHEMAS.pub, rec).success);
    }), { numRuns: 3000 });
  });

  test("the client decoder never throws, whatever the text", () => {
    fc.assert(fc.property(fc.string({ maxLength: 300 }), (s) => {
      const out = decoder.decode(s);
      expect(typeof out.ok).toBe("boolean");
      if (!out.ok) expect(isErrorCode(out.code)).toBe(true);
    }), { numRuns: 2000 });
  });

  test("the client decoder never throws, whatever the bytes", () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (b) => {
      const out = decoder.decode(b);
      if (!out.ok) expect(isErrorCode(out.code)).toBe(true);
    }), { numRuns: 2000 });
  });

  test("decoding JSON-shaped objects never throws", () => {
    fc.assert(fc.property(fc.record({ op: fc.constantFrom("sub", "unsub", "pub", "ping", "x"), channel: fc.anything(), id: fc.anything(), data: fc.anything(), bin: fc.anything() }, { requiredKeys: [] }), (obj) => {
      let text: string;
      try {
        text = JSON.stringify(obj);
      } catch {
        return;
      }
      const out = decoder.decode(text);
      if (!out.ok) expect(isErrorCode(out.code)).toBe(true);
    }), { numRuns: 2000 });
  });

  const channel = fc.stringMatching(/^[A-Za-z0-9_\-.:/@=+~]{1,40}$/);
  const id = fc.option(fc.oneof(fc.nat(), fc.string({ maxLength: 64 })), { nil: undefined });
  // __proto__ keys are refused at the edge (see "refuses" above), so payloads never hold them.
  const payload = fc.oneof(fc.jsonValue().filter((v) => !JSON.stringify(v).includes('"__proto__"')).map((v) => JSON.parse(JSON.stringify(v)) as unknown), fc.uint8Array({ maxLength: 100 }));
  const frames: fc.Arbitrary<ClientFrame> = fc.oneof(
    fc.record({ op: fc.constant("sub" as const), channel, id }),
    fc.record({ op: fc.constant("unsub" as const), channel, id }),
    fc.record({ op: fc.constant("pub" as const), channel, data: payload, id }),
    fc.record({ op: fc.constant("ping" as const), id }),
  ).map((f) => JSON.parse(JSON.stringify(f, (_k, v) => (v instanceof Uint8Array ? { __bytes: [...v] } : v)), (_k, v) => (v && typeof v === "object" && "__bytes" in v ? new Uint8Array(v.__bytes) : v)) as ClientFrame);

  test.each(["json", "msgpack"] as const)("%s: encode then decode gives the frame back", (encoding) => {
    fc.assert(fc.property(frames, (frame) => {
      const out = decoder.decode(encodeClientFrame(frame, encoding));
      expect(out).toMatchObject({ ok: true, frame });
      if (out.ok) expect(out.frame).toEqual(frame);
    }), { numRuns: 1000 });
  });

  test("server msg frames round-trip through the SDK decoder in both encodings", () => {
    fc.assert(fc.property(channel, payload, (ch, data) => {
      const viaJson = decodeServerFrame(msgFrameJson(ch, "x.1", payloadToJson(data)));
      const viaMsgpack = decodeServerFrame(msgFrameMsgpack(ch, "x.1", data));
      expect(viaMsgpack).toEqual({ ok: true, frame: { op: "msg", channel: ch, from: "x.1", data } });
      expect(viaJson).toEqual({ ok: true, frame: { op: "msg", channel: ch, from: "x.1", data } });
    }), { numRuns: 1000 });
  });

  test("the frame limit leaves room for the envelope", () => {
    expect(FRAME_OVERHEAD).toBeGreaterThanOrEqual(1024 + 255 + 100);
  });
});
