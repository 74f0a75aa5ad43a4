/**
 * The simulator's fast sizing must agree byte for byte with the real peer codec, for every frame
 * type and awkward values (multi-byte strings, every integer width, floats, bytes, deep payloads).
 */
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import type { PeerFrame } from "../../src/mesh/types.ts";
import { encodePeerFrame } from "../../src/protocol/peer.ts";
import { deepCopy, peerFrameSize } from "./wire-size.ts";

const name = fc.string({ minLength: 1, maxLength: 40, unit: "grapheme" });
const count = fc.oneof(fc.integer({ min: 0, max: 300 }), fc.integer({ min: 0, max: 70_000 }), fc.maxSafeNat());
const rtt = fc.oneof(fc.double({ min: 0, max: 1e6, noNaN: true }), fc.integer({ min: 0, max: 1000 }));
const state = fc.constantFrom("alive", "suspect", "dead", "left" as const);
const payload = fc.oneof(fc.jsonValue(), fc.uint8Array({ maxLength: 300 }), fc.record({ id: fc.string(), t: rtt, neg: fc.integer() }));
const list = <T>(arb: fc.Arbitrary<T>) => fc.oneof(fc.array(arb, { maxLength: 3 }), fc.array(arb, { minLength: 14, maxLength: 20 }));

const frame: fc.Arbitrary<PeerFrame> = fc.oneof(
  fc.record({ t: fc.constantFrom("ping", "pong" as const), ts: rtt }),
  fc.record({ t: fc.constant("leave" as const), name, incarnation: count }),
  fc.record({ t: fc.constant("digest" as const), entries: list(fc.record({ name, incarnation: count, state, lsaSeq: count, interestVersion: count })), reply: fc.boolean() }),
  fc.record({
    t: fc.constant("gossip" as const),
    members: list(fc.record({ name, incarnation: count, url: name, region: name, state })),
    lsas: list(fc.record({ origin: name, incarnation: count, seq: count, links: list(fc.tuple(name, rtt)) })),
    interests: list(fc.record({ origin: name, incarnation: count, version: count, full: fc.boolean(), add: list(name), remove: list(name) })),
    channels: list(
      fc.record({ name, instance: name, creator: name, owner: name, createdAt: rtt, verifier: fc.option(name), strict: fc.boolean(), closedAt: fc.option(rtt) }),
    ),
    loads: list(fc.record({ origin: name, incarnation: count, seq: count, connections: count, draining: fc.boolean() })),
  }),
  fc.record({ t: fc.constant("regsync" as const), hash: fc.integer({ min: 0, max: 0xffffffff }), reply: fc.boolean() }),
  fc.record(
    { t: fc.constant("data" as const), origin: name, incarnation: count, seq: count, hops: fc.nat(255), channel: name, instance: name, from: name, n: count, data: payload },
    { requiredKeys: ["t", "origin", "incarnation", "seq", "hops", "channel", "instance", "data"] },
  ),
);

describe("simulator wire sizes", () => {
  test("peerFrameSize equals the real codec's byte count", () => {
    fc.assert(fc.property(frame, (f) => peerFrameSize(f) === encodePeerFrame(f).byteLength), { numRuns: 500 });
  });

  test("deepCopy gives an equal value that shares no objects", () => {
    fc.assert(
      fc.property(frame, (f) => {
        const copy = deepCopy(f);
        expect(copy).toEqual(f);
        return f.t !== "gossip" || f.members.length === 0 || copy.t !== "gossip" || copy.members[0] !== f.members[0];
      }),
      { numRuns: 200 },
    );
  });
});
