import {
  SUBPROTOCOL_JSON,
  SUBPROTOCOL_MSGPACK,
  SUBPROTOCOL_JSON_V2,
  SUBPROTOCOL_MSGPACK_V2,
  codeOfClose,
  decodeServerMessage,
  encodeClientFrame,
  type ClientFrame,
  type Encoding,
  type Payload,
  type RequestId,
  type ServerFrame,
  type WelcomeLimits,
} from "../protocol/index.ts";
import { backoffDelay, DEFAULT_BACKOFF } from "./backoff.ts";
import { RelayError, errorFromFrame } from "./errors.ts";
import type { ConnectOptions, ConnectionState, Gap, Message, PublishOptions, SubscribeOptions, Subscription } from "./types.ts";
import { toWebSocketUrl } from "./url.ts";
import { chooseNode, type Candidate } from "./closest.ts";

/** A move to a much closer node must save at least this much RTT, and halve it (README: re-ranking). */
const RERANK_MIN_GAIN_MS = 20;
/**
 * After a move, the old socket keeps delivering at least this long: the new node's subscription
 * is confirmed at once, but other nodes learn of it only after a gossip batch and a crossing
 * (docs/guarantees.md: about 100 ms plus one crossing per hop), and until then their messages
 * still come only through the old node.
 */
const MOVE_OVERLAP_MS = 1000;
/** ... and at most this long, waiting for answers to requests sent on it. */
const OLD_SOCKET_LINGER_MS = 3000;
/** Late copies through the new socket are dropped for this long after the old one closes. */
const TAIL_MS = 5000;

type Msg = Extract<ServerFrame, { op: "msg" }>;

/**
 * While two sockets deliver the same channels (a move), messages are merged per publisher stream
 * (channel, from): the primary (the socket in use when the move began) hands messages over as
 * they come; the secondary's are held back while they run ahead of what the primary delivered,
 * and released in order once the primary catches up or closes. So a move loses nothing either
 * socket got, doubles nothing, and keeps each publisher's order.
 */
interface Merge {
  last: Map<string, number>;
  held: Map<string, Msg[]>;
}

type Handler = (msg: Message) => void;
type Events = { state: (state: ConnectionState) => void; error: (err: RelayError) => void; gap: (gap: Gap) => void };
/** Publishers whose last `n` is remembered per channel, for gap detection; the least recent is forgotten past this. */
const GAP_PUBLISHERS_PER_CHANNEL = 1024;
type Settings = Required<Omit<ConnectOptions, "url" | "bootstrap" | "signal" | "maxCandidates" | "rerankIntervalMs" | "token">>;

/** A request waiting for the node's ack or error. */
interface Pending {
  /** The frame, with the id the answer will carry. */
  frame: ClientFrame & { id: RequestId };
  resolve: () => void;
  reject: (err: RelayError) => void;
  /** Rejects the request with `timeout` after requestTimeoutMs. */
  timer: ReturnType<typeof setTimeout>;
}

/** One channel this client subscribes to, shared by every handler on it. */
interface ChannelSubs {
  handlers: Set<Handler>;
  /** The options the node holds for this channel (re-sent on every reconnect). */
  options: SubscribeOptions;
  /** Settles when the node has answered the latest subscribe for this channel; later callers await it. */
  ready: Promise<void>;
}

/**
 * A connection to a Relay node that survives drops: it reconnects with jittered backoff,
 * resubscribes every channel (with its password), and re-sends requests that were still queued.
 * Create one with {@link connect}.
 */
export class Client {
  private _state: ConnectionState = "connecting";
  private _clientId: string | null = null;
  private _node: string | null = null;
  private _limits: WelcomeLimits | null = null;

  /** The open socket, or null between connections. */
  private ws: WebSocket | null = null;
  /** Node addresses as WebSocket URLs, tried in order. */
  private urls: string[];
  /** Which of `urls` the next connection attempt uses (modulo its length). */
  private urlIndex = 0;
  /** Reconnect attempts since the last welcome, for the backoff. */
  private attempt = 0;
  private nextId = 1;
  /** Requests waiting for an answer, sent or not. */
  private readonly pending = new Map<RequestId, Pending>();
  /** Requests not yet written to a socket, in order; flushed after each welcome. */
  private readonly unsent = new Set<Pending>();
  private readonly channels = new Map<string, ChannelSubs>();
  private readonly listeners: { [K in keyof Events]: Set<Events[K]> } = { state: new Set(), error: new Set(), gap: new Set() };
  /** The last `n` seen per channel and publisher, to report gaps. */
  private readonly lastN = new Map<string, Map<string, number>>();
  /** Set by a drop, so the next welcome reports a gap on every channel it resubscribes. */
  private dropped = false;
  private reconnectTimer: ReturnType<typeof setTimeout> | null = null;
  private readonly opts: Settings;
  /** connect()'s promise, until the first welcome. */
  private firstConnect: { resolve: (c: Client) => void; reject: (e: RelayError) => void; timer: ReturnType<typeof setTimeout> | null } | null = null;
  /** Failed attempts before the first welcome; with reconnect off, one round of the addresses. */
  private firstFailures = 0;
  private readonly signal: AbortSignal | undefined;
  /** Bootstrap addresses when the client chooses its node from the directory; null with a fixed `url`. */
  private readonly bootstrap: string[] | null;
  private readonly maxCandidates: number;
  /** Where tokens come from (ConnectOptions.token), and the one the latest attempt used. */
  private readonly tokenSource: ConnectOptions["token"];
  private token: string | null = null;
  private readonly rerankIntervalMs: number;
  private rerankTimer: ReturnType<typeof setTimeout> | null = null;
  /** The latest ranking of candidate nodes, best first (empty with a fixed `url`). */
  private ranked: Candidate[] = [];
  /** A move in progress: the new socket, subscribing before the old one is let go. */
  private moving: { ws: WebSocket; url: string; waiting: Set<RequestId>; welcome: Extract<ServerFrame, { op: "welcome" }> | null; timer: ReturnType<typeof setTimeout> } | null = null;
  /** While moving: the merge of the two sockets' messages (see Merge). */
  private merge: Merge | null = null;
  /**
   * After a merge: the last `n` handed over per stream, so copies still on their way through the
   * new socket (a slower path) are dropped until it catches up; forgotten after TAIL_MS.
   */
  private tail: Map<string, number> | null = null;
  /** Set when the old socket dropped while a move was under way: the move then completes without it. */
  private primaryLost = false;

  /** @internal use {@link connect}. */
  constructor(options: ConnectOptions) {
    const list = [...(options.url ? [options.url] : []), ...(options.bootstrap ?? [])];
    if (list.length === 0) throw new TypeError("connect: give a url or a bootstrap list");
    this.urls = list.map(toWebSocketUrl);
    this.bootstrap = options.url === undefined && options.bootstrap?.length ? [...options.bootstrap] : null;
    this.maxCandidates = options.maxCandidates ?? 8;
    this.tokenSource = options.token;
    this.rerankIntervalMs = options.rerankIntervalMs ?? 300_000;
    this.signal = options.signal;
    this.opts = {
      encoding: options.encoding ?? "json",
      reconnect: options.reconnect ?? true,
      backoff: options.backoff ?? DEFAULT_BACKOFF,
      connectTimeoutMs: options.connectTimeoutMs ?? 10_000,
      requestTimeoutMs: options.requestTimeoutMs ?? 10_000,
      maxQueued: options.maxQueued ?? 1000,
    };
  }

  /** The current connection state. */
  get state(): ConnectionState {
    return this._state;
  }
  /** This client's id on its current node (from the node's welcome), or null while disconnected. */
  get clientId(): string | null {
    return this._clientId;
  }
  /** The name of the node this client is connected to, or null while disconnected. */
  get node(): string | null {
    return this._node;
  }
  /** The WebSocket URL of the node this client uses (or is trying). */
  get url(): string {
    return this.urls[this.urlIndex % this.urls.length]!;
  }
  /** With `bootstrap`: the candidate nodes as last measured, best first, with their RTTs. */
  get candidates(): readonly Candidate[] {
    return this.ranked;
  }
  /** The limits the current node holds this client to, or null while disconnected. */
  get limits(): WelcomeLimits | null {
    return this._limits;
  }

  /** @internal opens the first connection; resolves on the node's welcome. */
  start(): Promise<Client> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => this.failFirst(new RelayError("timeout", `could not connect to ${this.urls.join(", ")} within ${this.opts.connectTimeoutMs} ms`)), this.opts.connectTimeoutMs);
      this.firstConnect = { resolve, reject, timer };
      if (this.signal?.aborted) return this.failFirst(new RelayError("closed", "connect was aborted"));
      this.signal?.addEventListener("abort", () => this.failFirst(new RelayError("closed", "connect was aborted")), { once: true });
      if (!this.bootstrap) return this.open();
      void this.rank().then(() => {
        if (this._state !== "closed") this.open();
      });
    });
  }

  /**
   * With `bootstrap`: measures the candidates and puts them, best first, ahead of the bootstrap
   * addresses in the failover order. Without an answer, the bootstrap addresses stay as they are.
   */
  private async rank(): Promise<void> {
    if (!this.bootstrap) return;
    try {
      const choice = await chooseNode(this.bootstrap, { maxCandidates: this.maxCandidates, signal: this.signal });
      this.ranked = choice.candidates;
      const reachable = choice.candidates.filter((c) => c.rtt !== null).map((c) => c.url);
      const current = this._state === "connected" ? this.url : null;
      this.urls = [...new Set([...reachable, ...this.bootstrap.map(toWebSocketUrl)])];
      // Keep pointing at the node in use; only a move changes it.
      this.urlIndex = current === null ? 0 : Math.max(0, this.urls.indexOf(current));
      if (current !== null && !this.urls.includes(current)) {
        this.urls.unshift(current);
        this.urlIndex = 0;
      }
    } catch {
      // No directory: connect through the bootstrap addresses themselves.
    }
  }

  /** Every rerankIntervalMs: measure again, and move if a node is much closer and nothing is in flight. */
  private scheduleRerank(): void {
    if (!this.bootstrap || this.rerankIntervalMs <= 0 || this.rerankTimer) return;
    this.rerankTimer = setTimeout(() => {
      this.rerankTimer = null;
      void this.rank().then(() => {
        if (this._state !== "connected") return;
        const here = this.ranked.find((c) => c.url === this.url);
        const best = this.ranked[0];
        if (best && here && best.url !== here.url && best.rtt !== null && here.rtt !== null && best.rtt < here.rtt / 2 && here.rtt - best.rtt >= RERANK_MIN_GAIN_MS && this.pending.size === 0) {
          this.moveTo([best.url]);
        }
        this.scheduleRerank();
      });
    }, this.rerankIntervalMs);
    (this.rerankTimer as { unref?: () => void }).unref?.();
  }

  /**
   * Subscribes `handler` to `channel`. Resolves once the node confirmed the subscription;
   * rejects with a {@link RelayError} (for example `bad_channel`) if it refused.
   * @example
   * const sub = await client.subscribe("chat", (msg) => console.log(msg.data));
   * await sub.unsubscribe();
   */
  async subscribe(channel: string, handler: Handler, options: SubscribeOptions = {}): Promise<Subscription> {
    this.assertOpen();
    let entry = this.channels.get(channel);
    if (!entry) {
      entry = { handlers: new Set(), options, ready: this.request(subFrame(channel, options)) };
      this.channels.set(channel, entry);
    } else if (options.password !== entry.options.password || options.echo !== entry.options.echo) {
      const current = entry;
      const previous = current.options;
      current.options = options;
      // Wait for the subscribe in flight, so answers apply in order; on refusal, keep what the node holds.
      current.ready = current.ready
        .catch(() => undefined)
        .then(() => this.request(subFrame(channel, options)))
        .catch((err: RelayError) => {
          current.options = previous;
          throw err;
        });
    }
    entry.handlers.add(handler);
    try {
      await entry.ready;
    } catch (err) {
      entry.handlers.delete(handler);
      if (entry.handlers.size === 0 && this.channels.get(channel) === entry) this.channels.delete(channel);
      throw err;
    }
    let active = true;
    return {
      channel,
      unsubscribe: async () => {
        if (!active) return;
        active = false;
        const current = this.channels.get(channel);
        if (!current?.handlers.delete(handler) || current.handlers.size > 0) return;
        this.channels.delete(channel);
        if (this._state === "connected") await this.request({ op: "unsub", channel });
      },
    };
  }

  /**
   * Publishes `data` (any JSON value, or a Uint8Array for bytes) to `channel`.
   * Resolves when the node acknowledged it; rejects with a {@link RelayError} carrying the code.
   * @example
   * await client.publish("chat", { text: "hi" });
   */
  async publish(channel: string, data: Payload, options: PublishOptions = {}): Promise<void> {
    this.assertOpen();
    // Bytes are checked here, where it is cheap; the node checks every payload.
    if (this._limits && data instanceof Uint8Array && data.length > this._limits.maxPayload) {
      throw new RelayError("payload_too_large", `the payload is ${data.length} bytes; the node allows ${this._limits.maxPayload}`);
    }
    const frame: ClientFrame = { op: "pub", channel, data };
    if (options.password !== undefined) frame.password = options.password;
    return this.request(frame);
  }

  /** Listens for state changes or for errors the node sends outside any request; returns an unsubscribe function. */
  on<K extends keyof Events>(event: K, listener: Events[K]): () => void {
    this.listeners[event].add(listener);
    return () => this.listeners[event].delete(listener);
  }

  /** Closes the connection for good; waiting requests reject with `closed`. */
  close(): void {
    if (this._state === "closed") return;
    this.setState("closed");
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    if (this.rerankTimer) clearTimeout(this.rerankTimer);
    if (this.moving) {
      clearTimeout(this.moving.timer);
      this.moving.ws.close(1000, "client closed");
      this.moving = null;
    }
    this.ws?.close(1000, "client closed");
    this.ws = null;
    for (const p of [...this.pending.values()]) this.settle(p, new RelayError("closed", "the client was closed"));
    this.failFirst(new RelayError("closed", "the client was closed"));
  }

  private assertOpen(): void {
    if (this._state === "closed") throw new RelayError("closed", "the client is closed");
  }

  private failFirst(err: RelayError): void {
    const first = this.firstConnect;
    if (!first) return;
    this.firstConnect = null;
    if (first.timer) clearTimeout(first.timer);
    first.reject(err);
    this.close();
  }

  private request(frame: ClientFrame): Promise<void> {
    if (this._state !== "connected" && this.unsent.size >= this.opts.maxQueued) {
      return Promise.reject(new RelayError("buffer_full", `${this.unsent.size} requests already wait for the connection`));
    }
    return new Promise<void>((resolve, reject) => {
      const id = this.nextId++;
      const timer = setTimeout(() => {
        const p = this.pending.get(id);
        if (p) this.settle(p, new RelayError("timeout", `no answer to ${frame.op} within ${this.opts.requestTimeoutMs} ms`));
      }, this.opts.requestTimeoutMs);
      const p: Pending = { frame: { ...frame, id } as ClientFrame & { id: RequestId }, resolve, reject, timer };
      this.pending.set(id, p);
      this.unsent.add(p);
      if (this._state === "connected") this.write(p);
    });
  }

  private write(p: Pending): void {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return;
    this.ws.send(encodeClientFrame(p.frame, this.opts.encoding));
    this.unsent.delete(p);
  }

  private settle(p: Pending, err?: RelayError): void {
    clearTimeout(p.timer);
    this.pending.delete(p.frame.id);
    this.unsent.delete(p);
    if (err) p.reject(err);
    else p.resolve();
  }

  /** Opens the next connection, asking the token function first when there is one. */
  private open(): void {
    const source = this.tokenSource;
    if (typeof source !== "function") {
      this.token = source ?? null;
      return this.openSocket();
    }
    Promise.resolve()
      .then(() => source())
      .then(
        (token) => {
          this.token = token;
          if (this._state !== "closed") this.openSocket();
        },
        (err: unknown) => {
          if (this._state === "closed") return;
          this.emit("error", new RelayError("unauthorized", `the token function failed: ${err instanceof Error ? err.message : String(err)}`));
          this.onDrop(1006, "no token");
        },
      );
  }

  /** A node URL with the token, when there is one, as `?token=` (browsers cannot set headers on a WebSocket). */
  private withToken(url: string): string {
    if (this.token === null) return url;
    const u = new URL(url);
    u.searchParams.set("token", this.token);
    return u.toString();
  }

  private openSocket(): void {
    const url = this.urls[this.urlIndex % this.urls.length]!;
    const ws = new WebSocket(this.withToken(url), subprotocols(this.opts.encoding));
    ws.binaryType = "arraybuffer";
    this.ws = ws;
    ws.onmessage = (ev) => {
      for (const frame of framesOf(ev)) {
        if (this.ws !== ws) return;
        this.onFrame(frame);
      }
    };
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      this.ws = null;
      // Mid-move, the new socket carries on: the move completes without the old one.
      if (this.moving) {
        this.primaryLost = true;
        return;
      }
      this.onDrop(ev.code, ev.reason);
    };
  }

  /**
   * The node dropped this subscription: the channel instance it joined lost to another instance of
   * the name (a partition healed) or was closed. Join again by name with the password held; the
   * node checks it against whatever holds the name now. If it refuses (another password), the
   * subscription ends and the refusal is emitted as an `error` event naming the channel.
   */
  private rejoin(channel: string): void {
    const entry = this.channels.get(channel);
    if (!entry) return;
    entry.ready = entry.ready
      .catch(() => undefined)
      .then(() => this.request(subFrame(channel, entry.options)))
      .catch((err: RelayError) => {
        if (this.channels.get(channel) === entry) this.channels.delete(channel);
        this.emit("error", new RelayError(err.code, err.message, channel));
      });
  }

  /** Routes a message through the merge while moving (`via` says which socket it came on), else hands it over. */
  private onMsg(frame: Msg, via: "primary" | "secondary"): void {
    const m = this.merge;
    if (frame.from === undefined || frame.n === undefined) return this.handOver(frame);
    const key = `${frame.channel}\u0000${frame.from}`;
    if (!m) {
      const tail = this.tail?.get(key);
      if (tail !== undefined) {
        if (frame.n <= tail) return; // a late copy of what the old socket handed over
        this.tail!.delete(key); // caught up
      }
      return this.handOver(frame);
    }
    const last = m.last.get(key);
    if (last !== undefined && frame.n <= last) return; // the other socket already handed it over
    if (via === "secondary" && (last === undefined || frame.n > last + 1)) {
      let held = m.held.get(key);
      if (!held) m.held.set(key, (held = []));
      held.push(frame);
      return;
    }
    this.handOver(frame);
    m.last.set(key, frame.n);
    this.release(m, key, false);
  }

  /** Hands over held messages of a stream that now follow on (or all of them, in order, when the merge ends). */
  private release(m: Merge, key: string, all: boolean): void {
    const held = m.held.get(key);
    if (!held) return;
    held.sort((a, b) => a.n! - b.n!);
    while (held.length > 0) {
      const next = held[0]!;
      const last = m.last.get(key);
      if (last !== undefined && next.n! <= last) {
        held.shift();
        continue;
      }
      if (!all && last !== undefined && next.n! > last + 1) break;
      if (!all && last === undefined) break;
      held.shift();
      this.handOver(next);
      m.last.set(key, next.n!);
    }
    if (held.length === 0) m.held.delete(key);
  }

  /** The old socket is gone: release whatever was held, in order, and stop merging. */
  private endMerge(): void {
    const m = this.merge;
    this.merge = null;
    if (!m) return;
    for (const key of [...m.held.keys()]) this.release(m, key, true);
    this.tail = m.last;
    const tail = this.tail;
    setTimeout(() => {
      if (this.tail === tail) this.tail = null;
    }, TAIL_MS);
  }

  /** Gives a message to the channel's handlers. */
  private handOver(frame: Msg): void {
    const entry = this.channels.get(frame.channel);
    if (!entry) return;
    if (frame.from !== undefined && frame.n !== undefined) this.checkSequence(frame.channel, frame.from, frame.n);
    const msg: Message = frame.from === undefined ? { channel: frame.channel, data: frame.data } : { channel: frame.channel, data: frame.data, from: frame.from };
    if (frame.n !== undefined) msg.n = frame.n;
    for (const h of entry.handlers) {
      try {
        h(msg);
      } catch (err) {
        // A throwing handler must not stop delivery to the others, nor kill the connection.
        queueMicrotask(() => {
          throw err;
        });
      }
    }
  }

  private onFrame(frame: ServerFrame, via: "primary" | "secondary" = "primary"): void {
    switch (frame.op) {
      case "welcome":
        return this.onWelcome(frame);
      case "msg":
        return this.onMsg(frame, via);
      case "ack": {
        const p = this.pending.get(frame.id);
        if (p) this.settle(p);
        return;
      }
      case "error": {
        const err = errorFromFrame(frame.code, frame.message, frame.channel);
        const p = frame.id === undefined ? undefined : this.pending.get(frame.id);
        if (p) this.settle(p, err);
        else this.emit("error", err);
        if (!p && err.code === "channel_conflict" && err.channel !== undefined) this.rejoin(err.channel);
        return;
      }
      case "pong":
        return;
      case "goaway":
        return this.onGoaway(frame.nodes);
    }
  }

  /** Reports a `sequence` gap when a publisher's n skips ahead. */
  private checkSequence(channel: string, from: string, n: number): void {
    let seen = this.lastN.get(channel);
    if (!seen) this.lastN.set(channel, (seen = new Map()));
    const last = seen.get(from);
    seen.delete(from); // re-inserted last: the map's order is recency, for the bound below
    seen.set(from, n);
    if (seen.size > GAP_PUBLISHERS_PER_CHANNEL) seen.delete(seen.keys().next().value!);
    if (last !== undefined && n > last + 1) this.emit("gap", { channel, reason: "sequence", from, missed: n - last - 1 });
  }

  /**
   * The node is draining: move now, to the nodes it suggests (nearest first), ahead of the other
   * known addresses, without losing messages (see moveTo).
   */
  private onGoaway(nodes: { name: string; url: string }[]): void {
    const current = this.url;
    const next: string[] = [];
    for (const n of nodes) {
      try {
        const url = toWebSocketUrl(n.url);
        if (url !== current) next.push(url);
      } catch {
        // A suggestion that is not a node address is skipped, not fatal.
      }
    }
    // Our own ranking, when we have one, knows our RTTs; the node's suggestions know its own.
    const ours = this.ranked.filter((c) => c.rtt !== null && c.url !== current && next.includes(c.url)).map((c) => c.url);
    const order = [...new Set([...ours, ...next])];
    if (order.length === 0) return; // nowhere suggested: the node's close will start a normal reconnect
    this.moveTo(order);
  }

  /**
   * Make before break: open a socket to the new node and subscribe every channel there while the
   * old socket still delivers; once every subscription is confirmed, send new requests on the
   * new socket and let the old one go when its requests are answered. Messages both deliver in
   * the overlap are handed over once (duplicate). If the new node fails, the client stays where
   * it is, and falls back to an ordinary reconnect when the old node closes.
   */
  private moveTo(urls: string[]): void {
    if (this.moving || this._state !== "connected" || urls.length === 0) return;
    const url = urls[0]!;
    this.urls = [...new Set([...urls, ...this.urls])];
    const current = this.ws;
    this.urlIndex = current ? this.urls.indexOf(this.url) : 0;
    const ws = new WebSocket(this.withToken(url), subprotocols(this.opts.encoding));
    ws.binaryType = "arraybuffer";
    this.merge ??= { last: new Map(), held: new Map() };
    const abandon = (): void => {
      if (this.moving?.ws !== ws) return;
      clearTimeout(this.moving.timer);
      this.moving = null;
      ws.close(1000, "move abandoned");
      // The old socket delivers everything on its own again; what the new one held is its copies.
      this.merge = null;
      if (this.primaryLost) {
        this.primaryLost = false;
        this.onDrop(1006, "the old node and the new one both failed");
      }
    };
    this.moving = { ws, url, waiting: new Set(), welcome: null, timer: setTimeout(abandon, this.opts.connectTimeoutMs) };
    ws.onmessage = (ev) => {
      for (const frame of framesOf(ev)) {
        // A frame can end the move (switchTo hands the socket's later frames to the client's own handler).
        if (this.moving?.ws !== ws) {
          if (this.ws === ws) this.onFrame(frame, this.merge ? "secondary" : "primary");
          continue;
        }
        this.onMoveFrame(ws, frame);
      }
    };
    ws.onclose = () => abandon();
  }

  /** One frame on the socket a move is opening: subscribe everything there, then switch to it. */
  private onMoveFrame(ws: WebSocket, frame: ServerFrame): void {
    const move = this.moving!;
    if (frame.op === "welcome") {
      move.welcome = frame;
      for (const [channel, entry] of this.channels) {
        const id = this.nextId++;
        move.waiting.add(id);
        ws.send(encodeClientFrame({ ...subFrame(channel, entry.options), id }, this.opts.encoding));
      }
    } else if ((frame.op === "ack" || frame.op === "error") && frame.id !== undefined && move.waiting.delete(frame.id)) {
      if (frame.op === "error") this.emit("error", errorFromFrame(frame.code, frame.message, frame.channel));
    } else if (frame.op === "msg") {
      this.onMsg(frame, "secondary");
    }
    if (move.welcome && move.waiting.size === 0) this.switchTo(move.ws, move.url, move.welcome);
  }

  /** Makes a moved-to socket the client's own, and retires the old one (see moveTo). */
  private switchTo(ws: WebSocket, url: string, welcome: Extract<ServerFrame, { op: "welcome" }>): void {
    clearTimeout(this.moving!.timer);
    this.moving = null;
    this.primaryLost = false;
    const old = this.ws;
    const inflight = [...this.pending.values()].filter((p) => !this.unsent.has(p));
    this.ws = ws;
    this.urlIndex = Math.max(0, this.urls.indexOf(url));
    this.attempt = 0;
    this._clientId = welcome.client;
    this._node = welcome.node;
    this._limits = welcome.limits;
    ws.onmessage = (ev) => {
      for (const frame of framesOf(ev)) {
        if (this.ws !== ws) return;
        this.onFrame(frame, this.merge ? "secondary" : "primary");
      }
    };
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.endMerge();
      this.onDrop(ev.code, ev.reason);
    };
    for (const p of [...this.unsent]) this.write(p);
    if (old) {
      // The old socket still delivers, and answers what was sent on it, until it goes.
      old.onmessage = (ev) => {
        for (const frame of framesOf(ev)) {
          if (frame.op === "msg" || frame.op === "ack" || (frame.op === "error" && frame.id !== undefined)) this.onFrame(frame, "primary");
        }
      };
      const started = Date.now();
      let retired = false;
      const retire = (): void => {
        if (retired) return;
        retired = true;
        clearInterval(check);
        this.endMerge();
        old.close(1000, "moved to another node");
      };
      // The old node may close first (a drain's grace ends): then the merge ends there.
      old.onclose = retire;
      const check = setInterval(() => {
        const elapsed = Date.now() - started;
        if (elapsed < MOVE_OVERLAP_MS) return;
        if (inflight.some((p) => this.pending.has(p.frame.id)) && elapsed < OLD_SOCKET_LINGER_MS) return;
        retire();
      }, 50);
    } else {
      this.endMerge();
    }
    this.emit("state", "connected");
  }

  private onWelcome(frame: Extract<ServerFrame, { op: "welcome" }>): void {
    this._clientId = frame.client;
    this._node = frame.node;
    this._limits = frame.limits;
    this.attempt = 0;
    this.firstFailures = 0;
    this.setState("connected");
    // Resubscribe before flushing queued publishes, so a queued publish is not missed by our own
    // subscription. Channels whose subscribe is still queued are sent by the flush instead.
    const queuedSubs = new Set<string>();
    for (const p of this.unsent) if (p.frame.op === "sub") queuedSubs.add(p.frame.channel);
    for (const [channel, entry] of this.channels) {
      if (!queuedSubs.has(channel)) this.request(subFrame(channel, entry.options)).catch((err: RelayError) => this.emit("error", err));
    }
    if (this.dropped) {
      this.dropped = false;
      for (const channel of this.channels.keys()) this.emit("gap", { channel, reason: "reconnect" });
    }
    for (const p of [...this.unsent]) this.write(p);
    const first = this.firstConnect;
    if (first) {
      this.firstConnect = null;
      if (first.timer) clearTimeout(first.timer);
      first.resolve(this);
    }
  }

  private onDrop(code: number, reason: string): void {
    if (this._clientId !== null) this.dropped = true;
    this._clientId = null;
    this._node = null;
    this._limits = null;
    // Requests already written may or may not have reached the node: refuse to guess, reject them.
    for (const p of [...this.pending.values()]) {
      if (!this.unsent.has(p)) this.settle(p, new RelayError("closed", `the connection dropped (${code}) before the node answered`));
    }
    if (this._state === "closed") return;
    const cause = codeOfClose(code);
    if (cause && cause !== "shutting_down") this.emit("error", new RelayError(cause, reason || undefined));
    // An operator cut this client on purpose: coming straight back would undo it.
    if (cause === "kicked") return this.close();
    if (this.firstConnect) {
      this.firstFailures++;
      this.urlIndex++;
      if (!this.opts.reconnect && this.firstFailures >= this.urls.length) {
        return this.failFirst(new RelayError("closed", `could not connect to ${this.urls.join(", ")}`));
      }
    } else if (!this.opts.reconnect) {
      return this.close();
    } else if (this.attempt > 0 || this.bootstrap) {
      // With a ranking, the next-best node is the one to try: the dropped one may be gone.
      // The first retry goes back to the same node (it may just be restarting); later ones move on.
      this.urlIndex++;
    }
    this.setState(this.firstConnect ? "connecting" : "reconnecting");
    const delay = backoffDelay(this.attempt++, this.opts.backoff);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      if (this._state !== "closed") this.open();
    }, delay);
  }

  private setState(state: ConnectionState): void {
    if (this._state === state) return;
    this._state = state;
    this.emit("state", state);
  }

  private emit<K extends keyof Events>(event: K, arg: Parameters<Events[K]>[0]): void {
    for (const l of this.listeners[event]) (l as (a: typeof arg) => void)(arg);
  }
}

function subFrame(channel: string, options: SubscribeOptions): ClientFrame {
  const frame: ClientFrame = { op: "sub", channel };
  if (options.echo) frame.echo = true;
  if (options.password !== undefined) frame.password = options.password;
  return frame;
}

/** The subprotocols the SDK offers, newest first: a node that predates version 2 answers with version 1. */
function subprotocols(encoding: "json" | "msgpack" | undefined): string[] {
  return encoding === "msgpack" ? [SUBPROTOCOL_MSGPACK_V2, SUBPROTOCOL_MSGPACK] : [SUBPROTOCOL_JSON_V2, SUBPROTOCOL_JSON];
}

/** The frames of one WebSocket message from the node (several in version 2); undecodable ones are skipped. */
function framesOf(ev: MessageEvent): ServerFrame[] {
  const raw = typeof ev.data === "string" ? ev.data : new Uint8Array(ev.data as ArrayBuffer);
  const frames: ServerFrame[] = [];
  for (const decoded of decodeServerMessage(raw)) if (decoded.ok) frames.push(decoded.frame);
  return frames;
}
