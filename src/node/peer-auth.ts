import { createHmac, createSecretKey, randomBytes, timingSafeEqual, type KeyObject } from "node:crypto";
import type { PeerInfo } from "../mesh/types.ts";
import { PEER_LIMITS, PEER_PROTOCOL_VERSION, type AuthFrame, type HelloFrame, type RefuseFrame, type WelcomeFrame, type WireFrame } from "../protocol/peer.ts";

/**
 * The peer handshake: both sides prove they hold the cluster key, over fresh nonces both ways,
 * so a recorded handshake cannot be replayed against either role.
 *
 *   dialer   -> HELLO   {v, name, incarnation, region, url, nonceD}
 *   acceptor -> WELCOME {v, name, incarnation, region, url, nonceA, macA}
 *   dialer   -> AUTH    {macD}                      (the link is up on both sides)
 *   either   -> REFUSE  {code, message}, then close
 *
 * The MACs are HMAC-SHA256(cluster key, message), with these exact bytes (`||` is concatenation,
 * names are UTF-8, nonces are the 32 raw bytes, \0 is one zero byte):
 *
 *   macA = HMAC(key, "relay-peer-v1\0acceptor\0" || nonceD || nonceA || acceptorName || \0 || dialerName)
 *   macD = HMAC(key, "relay-peer-v1\0dialer\0"   || nonceA || nonceD || dialerName   || \0 || acceptorName)
 *
 * Why this shape:
 * - Each side MACs the other's fresh nonce, so an old WELCOME or AUTH fails against a new session.
 * - The role labels differ, so a MAC made by one role is never valid for the other (no reflection:
 *   an attacker cannot bounce our own WELCOME back as an AUTH, or dial us back with our HELLO).
 * - Nonces have a fixed length and names cannot hold \0, so the layout parses one way only.
 * - Both names are bound, so a tag made for one pair of nodes says nothing about another pair.
 *
 * What it does not do: the frames after the handshake are not authenticated, so an attacker on
 * the path could take over a link once it is up. Run peers over wss:// or a private network.
 *
 * The key lives in a crypto KeyObject, which prints without its bytes, and it is never put in a
 * message or a log line. These classes hold no sockets or timers; the shell sends what they
 * return, enforces a handshake timeout, and closes after a refusal.
 */

/** Stable codes for a refused handshake; sent in REFUSE and logged by both sides. */
export type RefuseCode = "bad_version" | "bad_key" | "bad_handshake" | "same_name" | "no_cluster_key";

/** A readable sentence per code; none names the key or any part of it. */
export const REFUSE_MESSAGES: Record<RefuseCode, string> = {
  bad_version: "the peer speaks another peer protocol version",
  bad_key: "the peer's cluster key does not match ours",
  bad_handshake: "the handshake frames came out of order or malformed",
  same_name: "the peer uses this node's own name",
  no_cluster_key: "this node has no cluster key configured (--cluster-key), so it takes no peers",
};

/**
 * A failed handshake. `byPeer` false: we refuse, so the shell sends `refuseFrame(failure)` and
 * closes. `byPeer` true: the peer sent REFUSE with its own code; the shell logs it and closes.
 */
export type HandshakeFailure = { ok: false; byPeer: false; code: RefuseCode; message: string } | { ok: false; byPeer: true; code: string; message: string };

/** What the dialer gets for the acceptor's reply: AUTH to send and the proven peer, or a failure. */
export type DialerStep = { ok: true; auth: AuthFrame; peer: PeerInfo } | HandshakeFailure;
/** What the acceptor gets for HELLO: the WELCOME to send, or a failure. */
export type AcceptorHelloStep = { ok: true; welcome: WelcomeFrame } | HandshakeFailure;
/** What the acceptor gets for AUTH: the proven peer, or a failure. */
export type AcceptorAuthStep = { ok: true; peer: PeerInfo } | HandshakeFailure;

/** The cluster secret as configured; null or empty means none, and every peer is refused. */
export type ClusterSecret = string | Uint8Array | null | undefined;

/** The REFUSE frame that tells the peer why we refused it. */
export function refuseFrame(failure: { code: string; message: string }): RefuseFrame {
  return { t: "refuse", code: failure.code, message: failure.message };
}

/** A fresh 32-byte nonce from the system CSPRNG. */
export function newNonce(): Uint8Array {
  return new Uint8Array(randomBytes(PEER_LIMITS.nonceBytes));
}

const LABEL_ACCEPTOR = new TextEncoder().encode("relay-peer-v1\0acceptor\0");
const LABEL_DIALER = new TextEncoder().encode("relay-peer-v1\0dialer\0");
const ZERO = new Uint8Array([0]);

/** The MAC the acceptor sends in WELCOME (layout in the header comment). */
export function acceptorMac(key: KeyObject, dialerNonce: Uint8Array, acceptorNonce: Uint8Array, acceptorName: string, dialerName: string): Uint8Array {
  return mac(key, LABEL_ACCEPTOR, dialerNonce, acceptorNonce, acceptorName, dialerName);
}

/** The MAC the dialer sends in AUTH (layout in the header comment). */
export function dialerMac(key: KeyObject, acceptorNonce: Uint8Array, dialerNonce: Uint8Array, dialerName: string, acceptorName: string): Uint8Array {
  return mac(key, LABEL_DIALER, acceptorNonce, dialerNonce, dialerName, acceptorName);
}

function mac(key: KeyObject, label: Uint8Array, firstNonce: Uint8Array, secondNonce: Uint8Array, senderName: string, receiverName: string): Uint8Array {
  const h = createHmac("sha256", key);
  h.update(label).update(firstNonce).update(secondNonce).update(senderName, "utf8").update(ZERO).update(receiverName, "utf8");
  return new Uint8Array(h.digest());
}

/** Constant-time comparison of tags (and nonces); a wrong length is simply unequal. */
function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Wraps the secret so it prints as `SecretKeyObject { ... }`, never as its bytes. */
function toKey(secret: ClusterSecret): KeyObject | null {
  if (secret === null || secret === undefined || secret.length === 0) return null;
  return createSecretKey(typeof secret === "string" ? new TextEncoder().encode(secret) : secret);
}

function checkNonce(nonce: Uint8Array): Uint8Array {
  if (nonce.length !== PEER_LIMITS.nonceBytes) throw new RangeError(`a handshake nonce must be ${PEER_LIMITS.nonceBytes} bytes`);
  return nonce;
}

function refuse(code: RefuseCode, message: string = REFUSE_MESSAGES[code]): HandshakeFailure {
  return { ok: false, byPeer: false, code, message };
}

/** A REFUSE from the peer, or bad_handshake for any other frame that is not the one expected. */
function unexpected(frame: WireFrame, expected: string): HandshakeFailure {
  if (frame.t === "refuse") return { ok: false, byPeer: true, code: frame.code, message: frame.message };
  return refuse("bad_handshake", `expected ${expected} during the handshake, got ${frame.t}`);
}

function versionProblem(v: number): HandshakeFailure | null {
  if (v === PEER_PROTOCOL_VERSION) return null;
  return refuse("bad_version", `this node speaks peer protocol v${PEER_PROTOCOL_VERSION}, the peer speaks v${v}`);
}

function peerInfo(f: HelloFrame | WelcomeFrame): PeerInfo {
  return { name: f.name, incarnation: f.incarnation, region: f.region, url: f.url };
}

/** The side that opened the socket. Call hello() once, then onFrame() (or onWelcome()) once. */
export class DialerHandshake {
  /** The cluster key, or null when none is configured. Private (#) so it never shows in dumps. */
  readonly #key: KeyObject | null;
  /** This node's identity, sent in HELLO and bound into both MACs. */
  readonly #self: PeerInfo;
  /** Our fresh nonce: the acceptor must MAC it, which makes its WELCOME unique to this session. */
  readonly #nonce: Uint8Array;
  /** Where we are: a step out of order is bad_handshake, and a finished handshake takes no more frames. */
  #state: "start" | "waitWelcome" | "done" = "start";

  /** @param nonce injected by tests; otherwise fresh from randomBytes. */
  constructor(key: ClusterSecret, self: PeerInfo, nonce: Uint8Array = newNonce()) {
    this.#key = toKey(key);
    this.#self = self;
    this.#nonce = checkNonce(nonce);
  }

  /** The first frame to send. */
  hello(): HelloFrame {
    if (this.#state === "start") this.#state = "waitWelcome";
    const s = this.#self;
    return { t: "hello", v: PEER_PROTOCOL_VERSION, name: s.name, incarnation: s.incarnation, region: s.region, url: s.url, nonce: this.#nonce };
  }

  /** Any frame received during the handshake: WELCOME advances it, REFUSE ends it, anything else is bad_handshake. */
  onFrame(frame: WireFrame): DialerStep {
    if (frame.t === "welcome") return this.onWelcome(frame);
    this.#state = "done";
    return unexpected(frame, "welcome");
  }

  /** Checks the acceptor's WELCOME; on success returns the AUTH to send and who the acceptor is. */
  onWelcome(w: WelcomeFrame): DialerStep {
    const state = this.#state;
    this.#state = "done";
    if (state !== "waitWelcome") return refuse("bad_handshake", state === "start" ? "welcome arrived before hello was sent" : "welcome arrived after the handshake ended");
    if (this.#key === null) return refuse("no_cluster_key");
    const problem = versionProblem(w.v);
    if (problem) return problem;
    if (w.name === this.#self.name) return refuse("same_name", `the peer uses this node's own name ${w.name}`);
    if (sameBytes(w.nonce, this.#nonce)) return refuse("bad_handshake", "the peer echoed our nonce");
    const expected = acceptorMac(this.#key, this.#nonce, w.nonce, w.name, this.#self.name);
    if (!sameBytes(w.mac, expected)) return refuse("bad_key");
    const auth: AuthFrame = { t: "auth", mac: dialerMac(this.#key, w.nonce, this.#nonce, this.#self.name, w.name) };
    return { ok: true, auth, peer: peerInfo(w) };
  }
}

/** The side that accepted the socket. Feed it HELLO, then AUTH, through onFrame() or the typed methods. */
export class AcceptorHandshake {
  /** The cluster key, or null when none is configured. Private (#) so it never shows in dumps. */
  readonly #key: KeyObject | null;
  /** This node's identity, sent in WELCOME and bound into both MACs. */
  readonly #self: PeerInfo;
  /** Our fresh nonce: the dialer must MAC it, which makes its AUTH unique to this session. */
  readonly #nonce: Uint8Array;
  /** The dialer's HELLO, kept to check its AUTH against; null until it arrives. */
  #hello: HelloFrame | null = null;
  /** Where we are: a step out of order is bad_handshake, and a finished handshake takes no more frames. */
  #state: "waitHello" | "waitAuth" | "done" = "waitHello";

  /** @param nonce injected by tests; otherwise fresh from randomBytes. */
  constructor(key: ClusterSecret, self: PeerInfo, nonce: Uint8Array = newNonce()) {
    this.#key = toKey(key);
    this.#self = self;
    this.#nonce = checkNonce(nonce);
  }

  /** Any frame received during the handshake: HELLO, then AUTH; REFUSE ends it, anything else is bad_handshake. */
  onFrame(frame: WireFrame): AcceptorHelloStep | AcceptorAuthStep {
    if (frame.t === "hello") return this.onHello(frame);
    if (frame.t === "auth") return this.onAuth(frame);
    this.#state = "done";
    return unexpected(frame, this.#hello === null ? "hello" : "auth");
  }

  /** Checks the dialer's HELLO; on success returns the WELCOME to send. */
  onHello(h: HelloFrame): AcceptorHelloStep {
    const state = this.#state;
    this.#state = "done";
    if (state !== "waitHello") return refuse("bad_handshake", "a second hello arrived");
    if (this.#key === null) return refuse("no_cluster_key");
    const problem = versionProblem(h.v);
    if (problem) return problem;
    if (h.name === this.#self.name) return refuse("same_name", `the peer uses this node's own name ${h.name}`);
    if (sameBytes(h.nonce, this.#nonce)) return refuse("bad_handshake", "the peer echoed our nonce");
    this.#hello = h;
    this.#state = "waitAuth";
    const s = this.#self;
    return {
      ok: true,
      welcome: { t: "welcome", v: PEER_PROTOCOL_VERSION, name: s.name, incarnation: s.incarnation, region: s.region, url: s.url, nonce: this.#nonce, mac: acceptorMac(this.#key, h.nonce, this.#nonce, s.name, h.name) },
    };
  }

  /** Checks the dialer's AUTH; on success the link is up, and this returns who the dialer is. */
  onAuth(a: AuthFrame): AcceptorAuthStep {
    const state = this.#state;
    this.#state = "done";
    const hello = this.#hello;
    if (state !== "waitAuth" || hello === null || this.#key === null) return refuse("bad_handshake", state === "waitHello" ? "auth arrived before hello" : "auth arrived after the handshake ended");
    const expected = dialerMac(this.#key, this.#nonce, hello.nonce, hello.name, this.#self.name);
    if (!sameBytes(a.mac, expected)) return refuse("bad_key");
    return { ok: true, peer: peerInfo(hello) };
  }
}
