import { describe, expect, test } from "bun:test";
import { createHmac, createSecretKey } from "node:crypto";
import fc from "fast-check";
import type { PeerInfo } from "../../src/mesh/types.ts";
import { AcceptorHandshake, DialerHandshake, REFUSE_MESSAGES, dialerMac, refuseFrame, type HandshakeFailure } from "../../src/node/peer-auth.ts";
import { PEER_PROTOCOL_VERSION, decodePeerFrame, encodePeerFrame, type WireFrame } from "../../src/protocol/peer.ts";

const KEY = "correct horse battery staple";
const WRONG = "incorrect horse battery staple";
const dialerSelf: PeerInfo = { name: "dialer-1", incarnation: 11, region: "westeurope", url: "ws://10.0.0.1:7400" };
const acceptorSelf: PeerInfo = { name: "acceptor-1", incarnation: 22, region: "eastus", url: "ws://10.0.0.2:7400" };
const nonce = (byte: number) => new Uint8Array(32).fill(byte);

/** Sends a frame through the real codec, as the shell does, so the handshake is tested over bytes. */
function wire<T extends WireFrame>(frame: T): T {
  const out = decodePeerFrame(encodePeerFrame(frame), 4096);
  if (!out.ok) throw new Error(out.reason);
  return out.frame as T;
}

function expectRefused(step: { ok: boolean }, code: string): void {
  expect(step).toMatchObject({ ok: false, byPeer: false, code });
  const failure = step as HandshakeFailure;
  expect(failure.message.length).toBeGreaterThan(10);
  expect(failure.message).not.toContain(KEY);
  expect(failure.message).not.toContain(WRONG);
}

/** Runs HELLO -> WELCOME -> AUTH between two fresh sides; returns every step for inspection. */
function handshake(dialerKey: string | null, acceptorKey: string | null, nonces = { d: nonce(1), a: nonce(2) }) {
  const dialer = new DialerHandshake(dialerKey, dialerSelf, nonces.d);
  const acceptor = new AcceptorHandshake(acceptorKey, acceptorSelf, nonces.a);
  const hello = wire(dialer.hello());
  const helloStep = acceptor.onHello(hello);
  if (!helloStep.ok) return { dialer, acceptor, hello, helloStep } as const;
  const welcome = wire(helloStep.welcome);
  const welcomeStep = dialer.onWelcome(welcome);
  if (!welcomeStep.ok) return { dialer, acceptor, hello, helloStep, welcome, welcomeStep } as const;
  const auth = wire(welcomeStep.auth);
  const authStep = acceptor.onAuth(auth);
  return { dialer, acceptor, hello, helloStep, welcome, welcomeStep, auth, authStep } as const;
}

describe("peer handshake", () => {
  test("the right key completes both ways, and each side learns the other's PeerInfo", () => {
    const r = handshake(KEY, KEY);
    expect(r.hello).toMatchObject({ t: "hello", v: PEER_PROTOCOL_VERSION, ...dialerSelf, nonce: nonce(1) });
    expect(r.welcomeStep).toMatchObject({ ok: true, peer: acceptorSelf });
    expect(r.authStep).toEqual({ ok: true, peer: dialerSelf });
  });

  test("the MACs have exactly the documented byte layout", () => {
    const r = handshake(KEY, KEY);
    const hmac = (...parts: (string | Uint8Array)[]) => new Uint8Array(createHmac("sha256", KEY).update(Buffer.concat(parts.map((p) => (typeof p === "string" ? Buffer.from(p) : p)))).digest());
    expect(r.welcome?.mac).toEqual(hmac("relay-peer-v1\0acceptor\0", nonce(1), nonce(2), "acceptor-1", "\0", "dialer-1"));
    expect(r.auth?.mac).toEqual(hmac("relay-peer-v1\0dialer\0", nonce(2), nonce(1), "dialer-1", "\0", "acceptor-1"));
  });

  test("fresh nonces come from the CSPRNG when none is injected", () => {
    const a = new DialerHandshake(KEY, dialerSelf).hello().nonce;
    const b = new DialerHandshake(KEY, dialerSelf).hello().nonce;
    expect(a.length).toBe(32);
    expect(a).not.toEqual(b);
    expect(() => new DialerHandshake(KEY, dialerSelf, new Uint8Array(16))).toThrow(RangeError);
  });

  test("a wrong key is refused with bad_key by the dialer, on WELCOME", () => {
    const r = handshake(WRONG, KEY);
    expect(r.helloStep.ok).toBe(true); // the acceptor cannot know yet: the dialer has proven nothing
    expectRefused(r.welcomeStep!, "bad_key");
    expect((r.welcomeStep as HandshakeFailure).message).toBe(REFUSE_MESSAGES.bad_key);
  });

  test("a wrong key is refused with bad_key by the acceptor, on AUTH", () => {
    // A dialer that ignores the bad WELCOME and answers with a MAC under its own (wrong) key.
    const acceptor = new AcceptorHandshake(KEY, acceptorSelf, nonce(2));
    const hello = new DialerHandshake(WRONG, dialerSelf, nonce(1)).hello();
    const step = acceptor.onHello(wire(hello));
    if (!step.ok) throw new Error("hello refused");
    const forged = dialerMac(createSecretKey(Buffer.from(WRONG)), step.welcome.nonce, hello.nonce, dialerSelf.name, acceptorSelf.name);
    expectRefused(acceptor.onAuth(wire({ t: "auth", mac: forged })), "bad_key");
  });

  test("a recorded AUTH replayed to a new acceptor session (new nonce) is refused with bad_key", () => {
    const recorded = handshake(KEY, KEY, { d: nonce(1), a: nonce(2) });
    expect(recorded.authStep?.ok).toBe(true);
    // The attacker replays the same HELLO, gets a WELCOME with a fresh nonce, and replays the old AUTH.
    const acceptor = new AcceptorHandshake(KEY, acceptorSelf, nonce(3));
    expect(acceptor.onHello(recorded.hello).ok).toBe(true);
    expectRefused(acceptor.onAuth(recorded.auth!), "bad_key");
  });

  test("a recorded WELCOME replayed to a new dialer session is refused with bad_key", () => {
    const recorded = handshake(KEY, KEY, { d: nonce(1), a: nonce(2) });
    const dialer = new DialerHandshake(KEY, dialerSelf, nonce(4));
    dialer.hello();
    expectRefused(dialer.onWelcome(recorded.welcome!), "bad_key");
  });

  test("reflection fails: the acceptor's own MAC offered back as AUTH is refused", () => {
    const r = handshake(KEY, KEY);
    const acceptor = new AcceptorHandshake(KEY, acceptorSelf, nonce(2));
    acceptor.onHello(r.hello);
    expectRefused(acceptor.onAuth({ t: "auth", mac: r.welcome!.mac }), "bad_key");
  });

  test("replay is refused for any pair of distinct nonces (property)", () => {
    const n32 = fc.uint8Array({ minLength: 32, maxLength: 32 });
    fc.assert(fc.property(n32, n32, n32, (d, a1, a2) => {
      fc.pre(Buffer.compare(a1, a2) !== 0 && Buffer.compare(d, a1) !== 0 && Buffer.compare(d, a2) !== 0);
      const first = handshake(KEY, KEY, { d, a: a1 });
      expect(first.authStep?.ok).toBe(true);
      const acceptor = new AcceptorHandshake(KEY, acceptorSelf, a2);
      acceptor.onHello(first.hello);
      expect(acceptor.onAuth(first.auth!)).toMatchObject({ ok: false, code: "bad_key" });
    }), { numRuns: 50 });
  });

  test("a different protocol version is refused with bad_version on each side", () => {
    const acceptor = new AcceptorHandshake(KEY, acceptorSelf, nonce(2));
    const hello = new DialerHandshake(KEY, dialerSelf, nonce(1)).hello();
    expectRefused(acceptor.onHello(wire({ ...hello, v: PEER_PROTOCOL_VERSION + 1 })), "bad_version");

    const r = handshake(KEY, KEY);
    const dialer = new DialerHandshake(KEY, dialerSelf, nonce(1));
    dialer.hello();
    const step = dialer.onWelcome({ ...r.welcome!, v: 0 });
    expectRefused(step, "bad_version");
    expect((step as HandshakeFailure).message).toBe(`this node speaks peer protocol v${PEER_PROTOCOL_VERSION}, the peer speaks v0`);
  });

  test("a peer that claims our own name is refused with same_name on each side", () => {
    const acceptor = new AcceptorHandshake(KEY, acceptorSelf, nonce(2));
    const twin = new DialerHandshake(KEY, { ...dialerSelf, name: acceptorSelf.name }, nonce(1));
    expectRefused(acceptor.onHello(twin.hello()), "same_name");

    const dialer = new DialerHandshake(KEY, { ...dialerSelf, name: acceptorSelf.name }, nonce(1));
    const welcomer = new AcceptorHandshake(KEY, acceptorSelf, nonce(2));
    const step = welcomer.onHello({ ...dialer.hello(), name: "someone-else" });
    if (!step.ok) throw new Error("hello refused");
    expectRefused(dialer.onWelcome(step.welcome), "same_name");
  });

  test("a node without a cluster key refuses with no_cluster_key", () => {
    const r = handshake(KEY, null);
    expectRefused(r.helloStep, "no_cluster_key");
    const acceptor = new AcceptorHandshake(KEY, acceptorSelf, nonce(2));
    const dialer = new DialerHandshake("", dialerSelf, nonce(1));
    const step = acceptor.onHello(dialer.hello());
    if (!step.ok) throw new Error("hello refused");
    expectRefused(dialer.onWelcome(step.welcome), "no_cluster_key");
  });

  test("out-of-order frames give bad_handshake", () => {
    const good = handshake(KEY, KEY);
    // AUTH before HELLO.
    expectRefused(new AcceptorHandshake(KEY, acceptorSelf, nonce(2)).onAuth(good.auth!), "bad_handshake");
    // A second HELLO.
    const twice = new AcceptorHandshake(KEY, acceptorSelf, nonce(2));
    expect(twice.onHello(good.hello).ok).toBe(true);
    expectRefused(twice.onHello(good.hello), "bad_handshake");
    // WELCOME before HELLO was sent.
    expectRefused(new DialerHandshake(KEY, dialerSelf, nonce(1)).onWelcome(good.welcome!), "bad_handshake");
    // A second WELCOME after success.
    const dialer = new DialerHandshake(KEY, dialerSelf, nonce(1));
    dialer.hello();
    expect(dialer.onWelcome(good.welcome!).ok).toBe(true);
    expectRefused(dialer.onWelcome(good.welcome!), "bad_handshake");
    // AUTH after the handshake ended, even a valid one.
    expectRefused(good.acceptor.onAuth(good.auth!), "bad_handshake");
    // Mesh frames before the handshake ends.
    expectRefused(new AcceptorHandshake(KEY, acceptorSelf).onFrame({ t: "ping", ts: 1 }), "bad_handshake");
    const early = new DialerHandshake(KEY, dialerSelf);
    early.hello();
    expectRefused(early.onFrame({ t: "data", origin: "x", incarnation: 1, seq: 1, hops: 0, channel: "c", instance: "x~1~0", data: 1 }), "bad_handshake");
    // A dialer's HELLO sent to a dialer.
    const confused = new DialerHandshake(KEY, dialerSelf);
    confused.hello();
    expectRefused(confused.onFrame(good.hello), "bad_handshake");
  });

  test("a failed side takes no more frames: the right AUTH after a refusal is still refused", () => {
    const acceptor = new AcceptorHandshake(KEY, acceptorSelf, nonce(2));
    const hello = new DialerHandshake(KEY, dialerSelf, nonce(1)).hello();
    acceptor.onHello(hello);
    expectRefused(acceptor.onAuth({ t: "auth", mac: new Uint8Array(32) }), "bad_key");
    const good = handshake(KEY, KEY);
    expectRefused(acceptor.onAuth(good.auth!), "bad_handshake");
  });

  test("onFrame routes the handshake and passes the peer's REFUSE through without answering it", () => {
    const dialer = new DialerHandshake(KEY, dialerSelf, nonce(1));
    const acceptor = new AcceptorHandshake(KEY, acceptorSelf, nonce(2));
    const s1 = acceptor.onFrame(wire(dialer.hello()));
    if (!s1.ok || !("welcome" in s1)) throw new Error("hello refused");
    const s2 = dialer.onFrame(wire(s1.welcome));
    if (!s2.ok) throw new Error("welcome refused");
    expect(acceptor.onFrame(wire(s2.auth))).toEqual({ ok: true, peer: dialerSelf });

    const refused = new DialerHandshake(KEY, dialerSelf);
    refused.hello();
    const refusal = wire(refuseFrame({ code: "bad_key", message: REFUSE_MESSAGES.bad_key }));
    expect(refused.onFrame(refusal)).toEqual({ ok: false, byPeer: true, code: "bad_key", message: REFUSE_MESSAGES.bad_key });
  });

  test("the key never shows in a dump of a handshake or in its frames", () => {
    const r = handshake(KEY, KEY);
    for (const shown of [Bun.inspect(r.dialer), Bun.inspect(r.acceptor), JSON.stringify(r.dialer), JSON.stringify(r.acceptor), JSON.stringify(r)]) {
      expect(shown).not.toContain(KEY);
      expect(shown).not.toContain(Buffer.from(KEY).toString("hex"));
    }
    for (const frame of [r.hello, r.welcome!, r.auth!]) expect(Buffer.from(encodePeerFrame(frame)).includes(Buffer.from(KEY))).toBe(false);
  });
});
