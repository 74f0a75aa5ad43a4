import type { ServerWebSocket } from "bun";
import type { ConsolaInstance } from "consola/core";
import { Mesh, timing, type ChannelRecord, type Directive, type LinkId, type MeshEvent, type PeerFrame, type PeerInfo } from "../mesh/index.ts";
import { PEER_PATH, decodePeerMessage, encodePeerFrame, isMeshFrame, joinPeerFrames, type WireFrame } from "../protocol/peer.ts";
import { forwardedDataBytes } from "../protocol/data-forward.ts";
import type { Payload } from "../protocol/index.ts";
import { AcceptorHandshake, DialerHandshake, refuseFrame } from "./peer-auth.ts";
import type { Metrics } from "./metrics.ts";
import { TurnBatches, type Batch } from "./turn-batches.ts";

/** Largest peer frame: gossip and digests of a few thousand members, or a client payload with its envelope. */
export const PEER_MAX_FRAME = 4 * 1024 * 1024;
/** A handshake not finished in this time is dropped (a peer that connects and says nothing holds a socket). */
const HANDSHAKE_TIMEOUT_MS = 5000;
/** RTT probes: a few requests to the member's /ping; the first pays for the TCP handshake, so it is left out. */
const PROBE_SAMPLES = 3;
const PROBE_TIMEOUT_MS = 2000;
/**
 * A batch is sent as soon as it holds this many bytes, without waiting for the end of the turn:
 * large enough that a relay under load sends a few messages per turn instead of one per frame,
 * small enough that a batch never waits on one big copy.
 */
const BATCH_MAX_BYTES = 64 * 1024;
/** Recent membership and link events kept for the dashboard (GET /events). */
const EVENT_RING = 100;

/** One peer socket, inbound or outbound, before and after its handshake. */
interface PeerConn {
  /** Set once the handshake succeeded; the mesh knows the link by this id. */
  link: LinkId | null;
  dialed: boolean;
  /** The address dialed (outbound only), reported back to the mesh with linkUp or dialFailed. */
  address?: string;
  handshake: DialerHandshake | AcceptorHandshake;
  send(bytes: Uint8Array): void;
  close(code: number, reason: string): void;
  /** For logs: the peer's name once known, else its address. */
  label: string;
  timer: ReturnType<typeof setTimeout> | null;
  /** Set when this side closed it, so the close is not reported twice. */
  closed: boolean;
  /** Frames waiting for the end of this event-loop turn (TurnBatches). */
  pending: Batch<Uint8Array> | null;
}

/** ws.data for inbound peer sockets (client sockets carry a Session instead). */
export interface PeerSocketData {
  kind: "peer";
  conn: PeerConn | null;
  remote: string;
}

/** What the node passes to its peer links. */
export interface PeerDeps {
  log: ConsolaInstance;
  metrics: Metrics;
  /** Milliseconds clock. */
  now: () => number;
  /** Hands a message from another node to local subscribers of that channel instance. */
  deliver: (channel: string, instance: string, data: unknown, from: string | undefined, n: number | undefined) => void;
  /** A PEM CA file trusted when dialing peers and probing them over TLS (--tls-ca), for a private CA. */
  tlsCa?: string | undefined;
  /** This node serves TLS: a seed given as bare host:port is dialed with wss://. */
  secure?: boolean;
  /** This node's load, reported to the mesh every tick (it floods it when it moved). */
  load: () => { connections: number; draining: boolean };
  /** A shell-level call (admin rpc) arrived from a node. */
  called: (from: string, req: number, kind: "rpc" | "rpcReply", body: string) => void;
  /** A channel instance lost a conflict or was closed: turn its local clients away. */
  channelLost: (record: ChannelRecord, reason: "conflict" | "closed", winner: ChannelRecord | undefined) => void;
}

/**
 * The mesh's I/O shell: peer sockets (inbound on PEER_PATH, outbound by dialing), the handshake,
 * the peer codec, ticks, probes, and the execution of the core's directives. All mesh decisions
 * are the core's (src/mesh); this file only moves bytes and time.
 */
export class PeerLinks {
  readonly mesh: Mesh;
  private readonly conns = new Map<LinkId, PeerConn>();
  private nextLink = 1;
  private tickTimer: ReturnType<typeof setInterval> | null = null;
  /** The frame last encoded, so a data frame sent to several tree children is encoded once. */
  private lastFrame: PeerFrame | null = null;
  private lastBytes: Uint8Array | null = null;
  /** The DATA frame the core is handling and its bytes as received, so forwarding it patches hops instead of encoding (data-forward.ts). */
  private receivedFrame: Extract<PeerFrame, { t: "data" }> | null = null;
  private receivedBytes: Uint8Array | null = null;
  /** Encoded mesh frames per link, leaving as one WebSocket message (see decodePeerMessage) at the end of the turn. */
  private readonly batches = new TurnBatches<PeerConn, Uint8Array>(BATCH_MAX_BYTES, (conn, frames) => {
    if (!conn.closed) conn.send(joinPeerFrames(frames));
  });
  /** The core's info-level log lines (joins, leaves, suspect and dead verdicts, link changes), newest last. */
  private readonly recent: { at: string; message: string }[] = [];
  /** Opens waiting for the core's answer, by request number. */
  private readonly opens = new Map<number, { resolve: (r: ChannelRecord) => void; reject: (e: Error) => void }>();
  private nextOpen = 1;

  constructor(
    private readonly self: PeerInfo,
    private readonly clusterKey: string | undefined,
    seeds: string[],
    maxPeers: number,
    private readonly deps: PeerDeps,
  ) {
    this.mesh = new Mesh({ self, seeds, maxPeers }, Math.random);
  }

  /** Starts ticking (and so joining through the seeds). */
  start(): void {
    this.tickTimer = setInterval(() => {
      this.handle({ type: "load", ...this.deps.load() });
      this.handle({ type: "tick" });
    }, timing.TICK_MS);
    this.handle({ type: "tick" });
  }

  /** Feeds one event to the core and carries out what it asks. */
  handle(event: MeshEvent): void {
    let directives: Directive[];
    try {
      directives = this.mesh.handle(event, this.deps.now());
    } catch (err) {
      // A core bug must not take the node down: log it and drop the event.
      this.deps.log.error(`mesh: ${event.type} failed`, err);
      return;
    }
    for (const d of directives) this.run(d);
  }

  /** Hands a local publish to the mesh; with no peer connection at all there is no one to send it to. */
  publish(channel: string, instance: string, data: Payload, from: string, n: number): void {
    if (this.conns.size === 0) return;
    this.handle({ type: "publish", channel, instance, data, from, n });
  }

  /**
   * Opens a channel through the registry: resolves with the record that holds the name (bound
   * now with `verifier`, or already held), rejects with channel_unavailable's message.
   */
  open(channel: string, verifier: string | null, strict: boolean): Promise<ChannelRecord> {
    return new Promise((resolve, reject) => {
      const req = this.nextOpen++;
      this.opens.set(req, { resolve, reject });
      this.handle({ type: "open", req, channel, verifier, strict });
    });
  }

  /** Recent membership and link events, oldest first (the dashboard's event list). */
  events(): { at: string; message: string }[] {
    return [...this.recent];
  }

  /** Number of links the mesh holds (a link it is turning away is not counted). */
  get peerCount(): number {
    return this.mesh.links().length;
  }

  /**
   * Graceful leave: the core withdraws this node's links and keeps relaying for LINK_DRAIN_MS
   * while the others route around it, then sends LEAVE and closes the links. Resolves once left
   * (every peer socket closed). Idempotent.
   */
  stop(): Promise<void> {
    this.stopping ??= new Promise<void>((resolve) => {
      for (const open of this.opens.values()) open.reject(new Error("the node is shutting down"));
      this.opens.clear();
      this.handle({ type: "leave" });
      const deadline = this.deps.now() + timing.LINK_DRAIN_MS + 1000;
      const check = setInterval(() => {
        if (!this.mesh.hasLeft && this.deps.now() < deadline) return;
        clearInterval(check);
        if (this.tickTimer) clearInterval(this.tickTimer);
        this.tickTimer = null;
        for (const conn of this.conns.values()) this.closeConn(conn, 1001, "leaving");
        resolve();
      }, timing.TICK_MS);
      if (!this.tickTimer) this.start(); // a node never started still leaves cleanly
    });
    return this.stopping;
  }
  private stopping: Promise<void> | null = null;

  // ---- inbound sockets (Bun.serve calls these for ws.data.kind === "peer") ----

  onOpen(ws: ServerWebSocket<PeerSocketData>): void {
    const conn: PeerConn = {
      link: null,
      dialed: false,
      handshake: new AcceptorHandshake(this.clusterKey, this.self),
      send: (bytes) => void ws.send(bytes),
      close: (code, reason) => ws.close(code, reason),
      label: ws.data.remote,
      timer: null,
      closed: false,
      pending: null,
    };
    ws.data.conn = conn;
    this.armHandshakeTimer(conn);
  }

  onMessage(ws: ServerWebSocket<PeerSocketData>, raw: string | Uint8Array): void {
    const conn = ws.data.conn;
    if (!conn) return;
    if (typeof raw === "string") return this.badFrame(conn, "a text frame on a peer link");
    this.onBytes(conn, raw);
  }

  onClose(ws: ServerWebSocket<PeerSocketData>): void {
    if (ws.data.conn) this.onClosed(ws.data.conn);
  }

  // ---- directives ----

  private run(d: Directive): void {
    switch (d.type) {
      case "send": {
        const conn = this.conns.get(d.link);
        if (!conn) return;
        const bytes = this.encode(d.frame);
        this.count(d.frame, bytes.byteLength, "out");
        this.batches.add(conn, bytes, bytes.byteLength);
        return;
      }
      case "close": {
        const conn = this.conns.get(d.link);
        if (conn) this.closeConn(conn, 1000, d.reason);
        return;
      }
      case "dial":
        return this.dial(d.address);
      case "probe":
        return void this.probe(d.name, d.url);
      case "deliver":
        return this.deps.deliver(d.channel, d.instance, d.data, d.from, d.n);
      case "opened":
      case "openFailed": {
        const open = this.opens.get(d.req);
        if (!open) return;
        this.opens.delete(d.req);
        return d.type === "opened" ? open.resolve(d.record) : open.reject(new Error(d.message));
      }
      case "channelLost":
        return this.deps.channelLost(d.record, d.reason, d.winner);
      case "called":
        return this.deps.called(d.from, d.req, d.body.kind, d.body.body);
      case "log":
        if (d.level !== "debug") {
          this.recent.push({ at: new Date().toISOString(), message: d.message });
          if (this.recent.length > EVENT_RING) this.recent.shift();
        }
        return void this.deps.log[d.level](`mesh: ${d.message}`);
    }
  }

  private encode(frame: PeerFrame): Uint8Array {
    if (frame !== this.lastFrame) {
      this.lastFrame = frame;
      const received = this.receivedFrame;
      this.lastBytes = (frame.t === "data" && received !== null ? forwardedDataBytes(received, this.receivedBytes!, frame) : null) ?? encodePeerFrame(frame);
    }
    return this.lastBytes!;
  }

  private dial(address: string): void {
    let url: string;
    try {
      url = peerUrl(address, this.deps.secure === true);
    } catch {
      this.deps.log.warn(`mesh: cannot dial ${address}: not a host:port or ws:// address`);
      return this.handle({ type: "dialFailed", address });
    }
    this.deps.log.debug(`mesh: dialing ${url}`);
    const ws = this.deps.tlsCa ? new TlsWebSocket(url, { tls: { ca: Bun.file(this.deps.tlsCa) } }) : new WebSocket(url);
    ws.binaryType = "arraybuffer";
    const handshake = new DialerHandshake(this.clusterKey, this.self);
    const conn: PeerConn = {
      link: null,
      dialed: true,
      address,
      handshake,
      send: (bytes) => ws.send(bytes),
      close: (code, reason) => ws.close(code, reason),
      label: address,
      timer: null,
      closed: false,
      pending: null,
    };
    this.armHandshakeTimer(conn);
    ws.onopen = () => conn.send(encodePeerFrame(handshake.hello()));
    ws.onmessage = (ev) => {
      if (typeof ev.data === "string") return this.badFrame(conn, "a text frame on a peer link");
      this.onBytes(conn, new Uint8Array(ev.data as ArrayBuffer));
    };
    ws.onerror = (ev) => {
      // Without this, a dial that fails (refused, TLS not trusted, a bad name) is silent: say why,
      // once per address at warn (the redials follow at debug), so a misconfigured seed shows up.
      const why = (ev as ErrorEvent).message || "the connection failed";
      if (!this.dialWarned.has(address)) {
        this.dialWarned.add(address);
        this.deps.log.warn(`mesh: could not link to ${url}: ${why}${url.startsWith("wss:") && !this.deps.tlsCa ? " (for a private CA, give --tls-ca)" : ""}`);
      } else this.deps.log.debug(`mesh: could not link to ${url} again: ${why}`);
    };
    ws.onclose = () => this.onClosed(conn);
  }
  /** Addresses whose dial failure was logged at warn (once each). */
  private readonly dialWarned = new Set<string>();

  private async probe(name: string, url: string): Promise<void> {
    let best: number | null = null;
    try {
      const target = `${httpBase(url)}/ping`;
      for (let i = 0; i < PROBE_SAMPLES; i++) {
        const started = this.deps.now();
        const res = await fetch(target, { signal: AbortSignal.timeout(PROBE_TIMEOUT_MS), ...(this.deps.tlsCa ? { tls: { ca: Bun.file(this.deps.tlsCa) } } : {}) });
        await res.arrayBuffer();
        const rtt = this.deps.now() - started;
        if (i > 0) best = best === null ? rtt : Math.min(best, rtt);
      }
    } catch {
      best = null;
    }
    this.handle({ type: "probed", name, rtt: best });
  }

  // ---- bytes in ----

  private onBytes(conn: PeerConn, bytes: Uint8Array): void {
    const decoded = decodePeerMessage(bytes, PEER_MAX_FRAME);
    // Bytes are counted per message, attributed to the kind of its first frame.
    let counted = false;
    for (const one of decoded) {
      if (conn.closed) return; // refused mid-batch: the rest is the peer's problem
      if (!one.ok) return this.badFrame(conn, one.reason);
      const frame = one.frame;
      if (conn.link === null) {
        this.onHandshakeFrame(conn, frame);
        continue;
      }
      if (!isMeshFrame(frame)) return this.badFrame(conn, `a ${frame.t} frame after the handshake`);
      if (!counted) this.count(frame, bytes.byteLength, "in");
      counted = true;
      if (frame.t === "data" && one.bytes !== undefined) {
        this.receivedFrame = frame;
        this.receivedBytes = one.bytes;
      }
      try {
        this.handle({ type: "frame", link: conn.link, frame });
      } finally {
        this.receivedFrame = null;
        this.receivedBytes = null;
      }
    }
  }

  private onHandshakeFrame(conn: PeerConn, frame: WireFrame): void {
    const step = conn.handshake instanceof DialerHandshake ? conn.handshake.onFrame(frame) : conn.handshake.onFrame(frame);
    if (!step.ok) {
      this.deps.metrics.peerRefusals.set(step.code, (this.deps.metrics.peerRefusals.get(step.code) ?? 0) + 1);
      if (step.byPeer) this.deps.log.warn(`mesh: ${conn.label} refused us: ${step.code}: ${step.message}`);
      else {
        this.deps.log.warn(`mesh: refused ${conn.label}: ${step.code}: ${step.message}`);
        conn.send(encodePeerFrame(refuseFrame(step)));
      }
      return this.closeConn(conn, 1008, step.code);
    }
    // The acceptor's first step answers HELLO with WELCOME; the dialer's step carries AUTH to send.
    const ok = step as { welcome?: WireFrame; auth?: WireFrame; peer?: PeerInfo };
    if (ok.welcome) return conn.send(encodePeerFrame(ok.welcome));
    if (ok.auth) conn.send(encodePeerFrame(ok.auth));
    const peer = ok.peer;
    if (!peer) return;
    if (conn.timer) clearTimeout(conn.timer);
    conn.timer = null;
    conn.link = this.nextLink++;
    conn.label = peer.name;
    this.conns.set(conn.link, conn);
    this.handle(conn.dialed ? { type: "linkUp", link: conn.link, peer, dialed: true, address: conn.address! } : { type: "linkUp", link: conn.link, peer, dialed: false });
  }

  private badFrame(conn: PeerConn, reason: string): void {
    // Garbage from a peer is logged and dropped, never fatal (memberlist's rule); before the
    // handshake it ends the socket, since nothing proven is lost.
    this.deps.metrics.peerBadFrames++;
    this.deps.log.debug(`mesh: bad frame from ${conn.label}: ${reason}`);
    if (conn.link === null) this.closeConn(conn, 1008, "bad_handshake");
  }

  private onClosed(conn: PeerConn): void {
    if (conn.timer) clearTimeout(conn.timer);
    conn.timer = null;
    if (conn.link !== null) {
      const link = conn.link;
      conn.link = null;
      this.conns.delete(link);
      this.handle({ type: "linkDown", link });
    } else if (conn.dialed && !conn.closed) {
      conn.closed = true;
      this.handle({ type: "dialFailed", address: conn.address! });
    } else if (conn.dialed && conn.closed && conn.address !== undefined) {
      // Closed by us during the handshake (refused or timed out): the dial failed.
      const address = conn.address;
      conn.address = undefined;
      this.handle({ type: "dialFailed", address });
    }
  }

  private closeConn(conn: PeerConn, code: number, reason: string): void {
    if (conn.closed) return;
    this.batches.flush(conn); // a LEAVE queued just before must still go out
    conn.closed = true;
    try {
      conn.close(code, reason);
    } catch {
      // Already closed underneath: the close handler reports it.
    }
  }

  private armHandshakeTimer(conn: PeerConn): void {
    conn.timer = setTimeout(() => {
      conn.timer = null;
      if (conn.link !== null) return;
      this.deps.log.warn(`mesh: handshake with ${conn.label} timed out`);
      this.closeConn(conn, 1008, "handshake timeout");
    }, HANDSHAKE_TIMEOUT_MS);
  }

  private count(frame: WireFrame, bytes: number, direction: "in" | "out"): void {
    const m = this.deps.metrics;
    if (frame.t === "data") m.peerDataBytes[direction] += bytes;
    else m.peerGossipBytes[direction] += bytes;
  }
}

/** Bun's WebSocket client also takes TLS options (a CA to trust); the DOM typings do not say so. */
const TlsWebSocket = WebSocket as unknown as new (url: string, options: { tls: { ca: Blob } }) => WebSocket;

/** ws(s)://host:port/peer for a seed (host:port; wss:// when `secure`) or a member URL (ws://, wss://, http://, https://). */
export function peerUrl(address: string, secure = false): string {
  const url = new URL(/^[a-z]+:\/\//i.test(address) ? address : `${secure ? "wss" : "ws"}://${address}`);
  if (url.protocol === "http:") url.protocol = "ws:";
  if (url.protocol === "https:") url.protocol = "wss:";
  if (url.protocol !== "ws:" && url.protocol !== "wss:") throw new TypeError(`not a peer address: ${address}`);
  url.pathname = PEER_PATH;
  return url.toString();
}

/** http(s)://host:port of a member URL, for probes. */
function httpBase(address: string): string {
  const url = new URL(peerUrl(address));
  url.protocol = url.protocol === "wss:" ? "https:" : "http:";
  return `${url.protocol}//${url.host}`;
}
