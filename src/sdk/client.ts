import {
  SUBPROTOCOL_JSON,
  SUBPROTOCOL_MSGPACK,
  codeOfClose,
  decodeServerFrame,
  encodeClientFrame,
  type ClientFrame,
  type Encoding,
  type Payload,
  type RequestId,
  type ServerFrame,
} from "../protocol/index.ts";
import { backoffDelay, DEFAULT_BACKOFF, type BackoffOptions } from "./backoff.ts";
import { RelayError, errorFromFrame } from "./errors.ts";
import { toWebSocketUrl } from "./url.ts";

/** Options for {@link connect}. */
export interface ConnectOptions {
  /** One node's address (ws://, wss://, http:// or https://). */
  url?: string;
  /** Several nodes' addresses; the client uses them in order and fails over to the next. */
  bootstrap?: string[];
  /** Frame encoding: "json" (default) or "msgpack" (smaller, and carries bytes without base64). */
  encoding?: Encoding;
  /** Reconnect after a drop (default true). */
  reconnect?: boolean;
  /** Reconnect delays (default 100 ms doubling to 5 s, jittered). */
  backoff?: BackoffOptions;
  /** How long a subscribe or publish waits for the node's answer, in ms (default 10,000). */
  requestTimeoutMs?: number;
  /** Requests held while disconnected before new ones are refused with `buffer_full` (default 1,000). */
  maxQueued?: number;
}

/** Connection states, reported through `client.on("state", ...)`. */
export type ConnectionState = "connecting" | "connected" | "reconnecting" | "closed";

/** A delivered message. */
export interface Message {
  /** The channel it was published on. */
  channel: string;
  /** The payload: a JSON value, or a Uint8Array for bytes. */
  data: Payload;
  /** Id of the publishing client, where the node knows it. */
  from?: string;
}

/** Options for {@link Client.subscribe}. */
export interface SubscribeOptions {
  /** The channel's password, for protected channels. */
  password?: string;
  /** Also receive this client's own publishes on the channel (default false). */
  echo?: boolean;
}

/** Options for {@link Client.publish}. */
export interface PublishOptions {
  /** The channel's password, for protected channels. */
  password?: string;
}

/** A live subscription; call unsubscribe() to stop receiving. */
export interface Subscription {
  readonly channel: string;
  /** Stops this handler; the node is told when the last handler of the channel goes. */
  unsubscribe(): Promise<void>;
}

type Handler = (msg: Message) => void;
type Events = { state: (state: ConnectionState) => void; error: (err: RelayError) => void };

interface Pending {
  frame: ClientFrame & { id: RequestId };
  resolve: () => void;
  reject: (err: RelayError) => void;
  timer: ReturnType<typeof setTimeout>;
  /** True once written to a socket; a drop then leaves the outcome unknown. */
  sent: boolean;
}

interface ChannelSubs {
  handlers: Set<Handler>;
  options: SubscribeOptions;
}

/**
 * A connection to a Relay node that survives drops: it reconnects with jittered backoff,
 * resubscribes every channel (with its password), and re-sends requests that were still queued.
 * Create one with {@link connect}.
 */
export class Client {
  /** The current connection state. */
  state: ConnectionState = "connecting";
  /** This client's id on its current node (from the node's welcome), or null while disconnected. */
  clientId: string | null = null;
  /** The name of the node this client is connected to, or null while disconnected. */
  node: string | null = null;

  private ws: WebSocket | null = null;
  private readonly urls: string[];
  private urlIndex = 0;
  private attempt = 0;
  private nextId = 1;
  private readonly pending = new Map<RequestId, Pending>();
  private readonly channels = new Map<string, ChannelSubs>();
  private readonly listeners: { [K in keyof Events]: Set<Events[K]> } = { state: new Set(), error: new Set() };
  private reconnectTimer: ReturnType<typeof setTimeout> | null = null;
  private readonly opts: Required<Omit<ConnectOptions, "url" | "bootstrap">>;
  private firstConnect: { resolve: (c: Client) => void; reject: (e: RelayError) => void } | null = null;
  private firstFailures = 0;

  /** @internal use {@link connect}. */
  constructor(options: ConnectOptions) {
    const list = [...(options.url ? [options.url] : []), ...(options.bootstrap ?? [])];
    if (list.length === 0) throw new TypeError("connect: give a url or a bootstrap list");
    this.urls = list.map(toWebSocketUrl);
    this.opts = {
      encoding: options.encoding ?? "json",
      reconnect: options.reconnect ?? true,
      backoff: options.backoff ?? DEFAULT_BACKOFF,
      requestTimeoutMs: options.requestTimeoutMs ?? 10_000,
      maxQueued: options.maxQueued ?? 1000,
    };
  }

  /** @internal opens the first connection; resolves on the node's welcome. */
  start(): Promise<Client> {
    return new Promise((resolve, reject) => {
      this.firstConnect = { resolve, reject };
      this.open();
    });
  }

  /**
   * Subscribes `handler` to `channel`. Resolves once the node confirmed the subscription.
   * @example
   * const sub = await client.subscribe("chat", (msg) => console.log(msg.data));
   * await sub.unsubscribe();
   */
  async subscribe(channel: string, handler: Handler, options: SubscribeOptions = {}): Promise<Subscription> {
    this.assertOpen();
    let entry = this.channels.get(channel);
    const isNew = !entry;
    if (!entry) {
      entry = { handlers: new Set(), options };
      this.channels.set(channel, entry);
    }
    entry.handlers.add(handler);
    if (isNew || options.password !== entry.options.password || options.echo !== entry.options.echo) {
      entry.options = options;
      try {
        await this.request(subFrame(channel, options));
      } catch (err) {
        entry.handlers.delete(handler);
        if (entry.handlers.size === 0 && this.channels.get(channel) === entry) this.channels.delete(channel);
        throw err;
      }
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
        if (this.state === "connected") await this.request({ op: "unsub", channel });
      },
    };
  }

  /**
   * Publishes `data` (any JSON value, or a Uint8Array for bytes) to `channel`.
   * Resolves when the node acknowledged it; rejects with a {@link RelayError} carrying the code.
   * @example
   * await client.publish("chat", { text: "hi" });
   */
  publish(channel: string, data: Payload, options: PublishOptions = {}): Promise<void> {
    this.assertOpen();
    const frame: ClientFrame = { op: "pub", channel, data };
    if (options.password !== undefined) frame.password = options.password;
    return this.request(frame);
  }

  /** Listens for state changes or for errors the node sends outside any request. */
  on<K extends keyof Events>(event: K, listener: Events[K]): () => void {
    this.listeners[event].add(listener);
    return () => this.listeners[event].delete(listener);
  }

  /** Closes the connection for good; waiting requests reject with `closed`. */
  close(): void {
    if (this.state === "closed") return;
    this.setState("closed");
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.ws?.close(1000, "client closed");
    this.ws = null;
    for (const p of this.pending.values()) this.settle(p, new RelayError("closed", "the client was closed"));
    this.firstConnect?.reject(new RelayError("closed", "the client was closed"));
    this.firstConnect = null;
  }

  private assertOpen(): void {
    if (this.state === "closed") throw new RelayError("closed", "the client is closed");
  }

  private request(frame: ClientFrame): Promise<void> {
    const queued = [...this.pending.values()].filter((p) => !p.sent).length;
    if (this.state !== "connected" && queued >= this.opts.maxQueued) {
      return Promise.reject(new RelayError("buffer_full", `${queued} requests already wait for the connection`));
    }
    return new Promise<void>((resolve, reject) => {
      const id = this.nextId++;
      const withId = { ...frame, id } as ClientFrame & { id: RequestId };
      const timer = setTimeout(() => {
        const p = this.pending.get(id);
        if (p) this.settle(p, new RelayError("timeout", `no answer to ${frame.op} within ${this.opts.requestTimeoutMs} ms`));
      }, this.opts.requestTimeoutMs);
      const p: Pending = { frame: withId, resolve, reject, timer, sent: false };
      this.pending.set(id, p);
      if (this.state === "connected") this.write(p);
    });
  }

  private write(p: Pending): void {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return;
    this.ws.send(encodeClientFrame(p.frame, this.opts.encoding));
    p.sent = true;
  }

  private settle(p: Pending, err?: RelayError): void {
    clearTimeout(p.timer);
    this.pending.delete(p.frame.id);
    if (err) p.reject(err);
    else p.resolve();
  }

  private open(): void {
    const url = this.urls[this.urlIndex % this.urls.length]!;
    const ws = new WebSocket(url, this.opts.encoding === "msgpack" ? SUBPROTOCOL_MSGPACK : SUBPROTOCOL_JSON);
    ws.binaryType = "arraybuffer";
    this.ws = ws;
    ws.onmessage = (ev) => {
      if (this.ws !== ws) return;
      const raw = typeof ev.data === "string" ? ev.data : new Uint8Array(ev.data as ArrayBuffer);
      const decoded = decodeServerFrame(raw);
      if (decoded.ok) this.onFrame(decoded.frame);
    };
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.onDrop(ev.code, ev.reason);
    };
  }

  private onFrame(frame: ServerFrame): void {
    switch (frame.op) {
      case "welcome":
        return this.onWelcome(frame);
      case "msg": {
        const entry = this.channels.get(frame.channel);
        if (!entry) return;
        const msg: Message = frame.from === undefined ? { channel: frame.channel, data: frame.data } : { channel: frame.channel, data: frame.data, from: frame.from };
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
        return;
      }
      case "ack": {
        const p = this.pending.get(frame.id);
        if (p) this.settle(p);
        return;
      }
      case "error": {
        const err = errorFromFrame(frame.code, frame.message);
        const p = frame.id === undefined ? undefined : this.pending.get(frame.id);
        if (p) this.settle(p, err);
        else this.emit("error", err);
        return;
      }
      case "pong":
        return;
    }
  }

  private onWelcome(frame: Extract<ServerFrame, { op: "welcome" }>): void {
    this.clientId = frame.client;
    this.node = frame.node;
    this.attempt = 0;
    this.firstFailures = 0;
    this.setState("connected");
    // Resubscribe first, so messages published after a reconnect are not missed by queued work.
    for (const [channel, entry] of this.channels) {
      const inFlight = [...this.pending.values()].some((p) => !p.sent && p.frame.op === "sub" && p.frame.channel === channel);
      if (!inFlight) this.request(subFrame(channel, entry.options)).catch((err: RelayError) => this.emit("error", err));
    }
    for (const p of this.pending.values()) if (!p.sent) this.write(p);
    this.firstConnect?.resolve(this);
    this.firstConnect = null;
  }

  private onDrop(code: number, reason: string): void {
    this.clientId = null;
    this.node = null;
    // Requests already written may or may not have reached the node: refuse to guess, reject them.
    for (const p of [...this.pending.values()]) {
      if (p.sent) this.settle(p, new RelayError("closed", `the connection dropped (${code}) before the node answered`));
    }
    if (this.state === "closed") return;
    const cause = codeOfClose(code);
    if (cause && cause !== "shutting_down") this.emit("error", new RelayError(cause, reason || undefined));
    if (this.firstConnect) {
      this.firstFailures++;
      this.urlIndex++;
      if (this.firstFailures >= this.urls.length && !this.opts.reconnect) {
        this.firstConnect.reject(new RelayError("closed", `could not connect to ${this.urls.join(", ")}`));
        this.firstConnect = null;
        this.setState("closed");
        return;
      }
    } else if (!this.opts.reconnect) {
      this.close();
      return;
    } else if (this.attempt > 0) {
      this.urlIndex++;
    }
    this.setState(this.firstConnect ? "connecting" : "reconnecting");
    const delay = backoffDelay(this.attempt++, this.opts.backoff);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      if (this.state !== "closed") this.open();
    }, delay);
  }

  private setState(state: ConnectionState): void {
    if (this.state === state) return;
    this.state = state;
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
