import fc from "fast-check";
import { PEER_LIMITS, type WireFrame } from "../../src/protocol/peer.ts";

/**
 * fast-check arbitraries for peer frames: valid values for every field, so round trips cover the
 * whole grammar. Shared by the codec's tests and the DATA forwarding tests.
 */
export const name = fc.stringMatching(/^[A-Za-z0-9_.-]{1,64}$/);
export const uint = fc.oneof(fc.nat(), fc.maxSafeNat());
export const ms = fc.double({ min: 0, max: 1e12, noNaN: true }).filter((x) => !Object.is(x, -0));
export const region = fc.stringMatching(/^[A-Za-z0-9_.-]{0,64}$/);
export const url = fc.oneof(fc.constant(""), fc.stringMatching(/^(ws|wss|http|https):\/\/[a-z0-9.:-]{1,60}$/));
export const bytes32 = fc.uint8Array({ minLength: 32, maxLength: 32 });
export const state = fc.constantFrom("alive" as const, "suspect" as const, "dead" as const, "left" as const);
export const channel = fc.stringMatching(/^[A-Za-z0-9_\-.:/@=+~]{1,40}$/);
export const clientId = fc.stringMatching(/^[A-Za-z0-9._:-]{1,128}$/);
// __proto__ keys are refused by the MessagePack decoder and by the client edge, so payloads never hold them.
export const payload = fc.oneof(
  fc.jsonValue({ maxDepth: 8 }).filter((v) => !JSON.stringify(v).includes('"__proto__"')).map((v) => JSON.parse(JSON.stringify(v)) as unknown),
  fc.uint8Array({ maxLength: 200 }),
);
export const member = fc.record({ name, incarnation: uint, url, region, state });
export const lsa = fc.record({ origin: name, incarnation: uint, seq: uint, links: fc.array(fc.tuple(name, ms), { maxLength: 10 }) });
export const interest = fc.record({ origin: name, incarnation: uint, version: uint, full: fc.boolean(), add: fc.array(channel, { maxLength: 10 }), remove: fc.array(channel, { maxLength: 10 }) });
export const digestEntry = fc.record({ name, incarnation: uint, state, lsaSeq: uint, interestVersion: uint });
export const instance = fc.tuple(name, fc.nat(), fc.nat()).map(([n, a, b]) => `${n}~${a.toString(36)}~${b.toString(36)}`);
export const verifier = fc.option(fc.stringMatching(/^[!-~]{1,200}$/).map((s) => `$argon2id$${s}`));
export const channelRecord = fc.record({ name: channel, instance, creator: name, owner: name, createdAt: ms, verifier, strict: fc.boolean(), closedAt: fc.option(ms) });
export const callBody = fc.oneof(
  fc.record({ kind: fc.constant("open" as const), channel, verifier, strict: fc.boolean() }),
  fc.record({ kind: fc.constant("bound" as const), record: channelRecord }),
  fc.record({ kind: fc.constantFrom("refused" as const), code: fc.constantFrom("not_ready" as const, "channel_unavailable" as const), message: fc.string({ maxLength: 300 }) }),
  fc.record({ kind: fc.constant("vote" as const), channel }),
  fc.record({ kind: fc.constant("voted" as const) }),
);

export const frameArbs: Record<WireFrame["t"], fc.Arbitrary<WireFrame>> = {
  hello: fc.record({ t: fc.constant("hello" as const), v: uint, name, incarnation: uint, region, url, nonce: bytes32 }),
  welcome: fc.record({ t: fc.constant("welcome" as const), v: uint, name, incarnation: uint, region, url, nonce: bytes32, mac: bytes32 }),
  auth: fc.record({ t: fc.constant("auth" as const), mac: bytes32 }),
  refuse: fc.record({ t: fc.constant("refuse" as const), code: fc.stringMatching(/^[a-z0-9_]{1,64}$/), message: fc.string({ maxLength: 300 }) }),
  ping: fc.record({ t: fc.constant("ping" as const), ts: ms }),
  pong: fc.record({ t: fc.constant("pong" as const), ts: ms }),
  gossip: fc.record({ t: fc.constant("gossip" as const), members: fc.array(member, { maxLength: 5 }), lsas: fc.array(lsa, { maxLength: 5 }), interests: fc.array(interest, { maxLength: 5 }), channels: fc.array(channelRecord, { maxLength: 5 }), loads: fc.array(fc.record({ origin: name, incarnation: uint, seq: uint, connections: uint, draining: fc.boolean() }), { maxLength: 5 }) }),
  regsync: fc.record({ t: fc.constant("regsync" as const), hash: fc.integer({ min: 0, max: 0xffffffff }), reply: fc.boolean() }),
  call: fc.record({ t: fc.constant("call" as const), to: name, from: name, hops: fc.integer({ min: 0, max: PEER_LIMITS.hops }), req: uint, body: callBody }),
  digest: fc.record({ t: fc.constant("digest" as const), entries: fc.array(digestEntry, { maxLength: 10 }), reply: fc.boolean() }),
  data: fc.record(
    { t: fc.constant("data" as const), origin: name, incarnation: uint, seq: uint, hops: fc.integer({ min: 0, max: PEER_LIMITS.hops }), channel, instance, from: clientId, n: uint, data: payload },
    { requiredKeys: ["t", "origin", "incarnation", "seq", "hops", "channel", "instance", "data"] },
  ),
  leave: fc.record({ t: fc.constant("leave" as const), name, incarnation: uint }),
};

