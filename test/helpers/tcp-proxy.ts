/**
 * A userland TCP proxy for the cluster tests (ARCHITECTURE.md section 7: `tc netem` is not
 * available, so faults between nodes are made in the test process). It listens on 127.0.0.1 port 0,
 * forwards each accepted connection to a target port, and records every byte each way.
 *
 * Faults, per direction ("up" = from whoever connected to the proxy toward the target, "down" =
 * back), for the mesh fault tests:
 * - delay: each chunk is held `ms` after it arrived, order kept (setDelay);
 * - jitter: each chunk is held a further uniform [0, jitter) ms drawn from the proxy's seeded PRNG
 *   (setJitter); order is still kept, so a chunk never leaves before the one ahead of it, and a
 *   chunk drawn shorter than its predecessor leaves right after it;
 * - blackhole: bytes are read and dropped, no FIN, so the link goes silent (setBlackhole);
 * - stop reading: the proxy stops reading from the sender, whose kernel buffers then fill, as a
 *   stalled peer would look (setReading);
 * - cut: every open connection is closed now, with a FIN or a RST (cut), and new connections can be
 *   refused (setRefusing).
 * Each chunk goes through one Pipe per direction (Pipe.push); a new fault (loss, reordering,
 * bandwidth) belongs there.
 *
 * Per connection: ProxyConnection.setBlackhole() and setReading() change one connection's faults
 * (a partition between some nodes, one stalled link), and setInspector() shows a test every chunk
 * as it arrives, before any fault, so it can tell whose connection it is (a peer's HELLO) and set
 * that connection's faults before the chunk is forwarded. A proxy-wide setter later overrides
 * what was set per connection.
 *
 * Invariants: bytes are recorded as they arrive, before any fault, so a recording holds everything
 * the sender sent, blackholed bytes included; bytes a direction forwards keep their order; a
 * connection that arrives before the target is known waits for setTarget() instead of failing
 * (a node may be dialled through its proxy before the test has read the node's port); stop()
 * closes every socket and timer the proxy made.
 */
import type { Socket, TCPSocketListener } from "bun";
import { mulberry32 } from "../sim/random.ts";

/** "up": from the side that connected to the proxy toward the target; "down": back. */
export type Direction = "up" | "down";
export const DIRECTIONS: readonly Direction[] = ["up", "down"];

/** Which directions a fault applies to. */
export type Directions = Direction | "both";

const dirsOf = (d: Directions): readonly Direction[] => (d === "both" ? DIRECTIONS : [d]);

/**
 * Unsent bytes a direction may hold before the proxy stops reading its sender (and resumes below
 * half of it): without this, a slow receiver would make the proxy buffer without bound.
 */
const HIGH_WATER = 1024 * 1024;

/** What each socket of a proxied connection carries. */
interface SocketData {
  conn: ProxyConnection | null;
  side: "client" | "upstream";
}

type Sock = Socket<SocketData>;

/** Fault settings of one direction; a new connection copies the proxy's current ones. */
interface DirectionFaults {
  delayMs: number;
  /** Each chunk is held a further uniform [0, jitterMs) ms; 0 draws nothing from the PRNG. */
  jitterMs: number;
  blackhole: boolean;
  /** False: the proxy does not read from this direction's sender. */
  reading: boolean;
}

/** One direction of a connection: a FIFO of chunks (or the end) waiting to be written. */
class Pipe {
  /** Chunks in arrival order with the time each may leave; null marks the sender's end. */
  private readonly queue: { due: number; bytes: Uint8Array | null }[] = [];
  /** The unwritten rest of a chunk the receiver did not take whole; sent on drain. */
  private partial: Uint8Array | null = null;
  private queuedBytes = 0;
  private timer: ReturnType<typeof setTimeout> | null = null;
  /** True once the end was passed on, or the receiver is gone: nothing more is written. */
  done = false;
  /** True while this pipe has stopped reading its sender for backpressure. */
  private throttled = false;

  constructor(
    private readonly conn: ProxyConnection,
    readonly dir: Direction,
    readonly faults: DirectionFaults,
    /** The proxy's seeded source in [0, 1), drawn once per chunk while jitter is on. */
    private readonly random: () => number = Math.random,
  ) {}

  /** How long a chunk arriving now is held: the delay, plus the jitter's draw when it is on. */
  private holdMs(): number {
    const { delayMs, jitterMs } = this.faults;
    return jitterMs > 0 ? delayMs + this.random() * jitterMs : delayMs;
  }

  /** The socket this direction reads from. */
  private get source(): Sock | null {
    return this.dir === "up" ? this.conn.client : this.conn.upstream;
  }

  /** The socket this direction writes to (null until the upstream connection is made). */
  private get sink(): Sock | null {
    return this.dir === "up" ? this.conn.upstream : this.conn.client;
  }

  /** Bytes from the sender: recorded by the caller already; dropped, delayed or forwarded here. */
  push(bytes: Uint8Array): void {
    if (this.done || this.faults.blackhole) return;
    // Bun reuses the buffer passed to data(): keep a copy.
    const copy = new Uint8Array(bytes);
    // The queue is FIFO and only its head is ever written (pump), so a chunk whose jitter drew a
    // shorter hold than the one ahead of it waits for it: bytes keep their order.
    this.queue.push({ due: performance.now() + this.holdMs(), bytes: copy });
    this.queuedBytes += copy.byteLength;
    this.updateReading();
    this.pump();
  }

  /** The sender finished (FIN or close): pass the end on after what is queued. */
  end(): void {
    if (this.done || this.queue.some((c) => c.bytes === null)) return;
    // A blackholed direction swallows the end as well: the receiver sees silence, not a FIN.
    if (this.faults.blackhole) return;
    this.queue.push({ due: performance.now() + this.faults.delayMs, bytes: null });
    this.pump();
  }

  /** The receiver is gone: drop what is queued. */
  abandon(): void {
    this.done = true;
    this.queue.length = 0;
    this.partial = null;
    this.queuedBytes = 0;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  /** Writes whatever is due, in order, as far as the receiver takes it. */
  pump(): void {
    const sink = this.sink;
    if (this.done || sink === null) return;
    if (this.partial) {
      const n = sink.write(this.partial);
      if (n < 0) return this.abandon();
      if (n < this.partial.byteLength) {
        this.partial = this.partial.subarray(n);
        return; // the rest goes on drain
      }
      this.partial = null;
    }
    const now = performance.now();
    while (this.queue.length > 0) {
      const head = this.queue[0]!;
      if (head.due > now) {
        // Not due yet: come back when it is (one timer per pipe is enough, the queue is FIFO).
        if (!this.timer) {
          this.timer = setTimeout(() => {
            this.timer = null;
            this.pump();
          }, Math.max(1, head.due - now));
        }
        break;
      }
      this.queue.shift();
      if (head.bytes === null) {
        this.done = true;
        sink.end();
        break;
      }
      this.queuedBytes -= head.bytes.byteLength;
      const n = sink.write(head.bytes);
      if (n < 0) return this.abandon();
      if (n < head.bytes.byteLength) {
        this.partial = head.bytes.subarray(n);
        break;
      }
    }
    sink.flush();
    this.updateReading();
  }

  /** Reads from the sender unless the test stopped reading or too much is waiting to be written. */
  updateReading(): void {
    const source = this.source;
    if (!source) return;
    const waiting = this.queuedBytes + (this.partial?.byteLength ?? 0);
    if (!this.throttled && waiting > HIGH_WATER) this.throttled = true;
    else if (this.throttled && waiting < HIGH_WATER / 2) this.throttled = false;
    const read = this.faults.reading && !this.throttled;
    if (read) source.resume();
    else source.pause();
  }

  dispose(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}

/** One connection through the proxy, with everything recorded on it. */
export class ProxyConnection {
  client: Sock;
  upstream: Sock | null = null;
  /** performance.now() when it was accepted, and when both sides were closed (null while open). */
  readonly openedAt = performance.now();
  closedAt: number | null = null;
  private readonly chunks: Record<Direction, Uint8Array[]> = { up: [], down: [] };
  private readonly byteCount: Record<Direction, number> = { up: 0, down: 0 };
  readonly pipes: Record<Direction, Pipe>;
  private clientClosed = false;
  private upstreamClosed = false;
  /** @internal True while the upstream connection is being made. */
  connecting = false;
  /** @internal True once cut(): a connection made after it is dropped. */
  wasCut = false;

  constructor(
    readonly id: number,
    client: Sock,
    faults: Record<Direction, DirectionFaults>,
    private readonly record: boolean,
    random: () => number = Math.random,
    /** Sees every chunk as it arrives, before any fault (TcpProxy.setInspector). */
    private readonly inspect: ((conn: ProxyConnection, dir: Direction, bytes: Uint8Array) => void) | null = null,
  ) {
    this.client = client;
    this.pipes = { up: new Pipe(this, "up", { ...faults.up }, random), down: new Pipe(this, "down", { ...faults.down }, random) };
  }

  /** Drops every byte (and the FIN) of this connection in `dirs` while on, keeping its sockets open. */
  setBlackhole(on: boolean, dirs: Directions = "both"): void {
    for (const dir of dirsOf(dirs)) this.pipes[dir].faults.blackhole = on;
  }

  /** Stops (false) or resumes (true) reading from this connection's sender of `dirs`. */
  setReading(on: boolean, dirs: Directions = "both"): void {
    for (const dir of dirsOf(dirs)) {
      this.pipes[dir].faults.reading = on;
      this.pipes[dir].updateReading();
    }
  }

  /** Every byte recorded in `dir`, in order. */
  bytes(dir: Direction): Buffer {
    return Buffer.concat(this.chunks[dir]);
  }

  /** Number of bytes that arrived in `dir` (counted even when recording is off). */
  count(dir: Direction): number {
    return this.byteCount[dir];
  }

  get closed(): boolean {
    return this.closedAt !== null;
  }

  /** @internal Bytes arrived from the sender of `dir`. */
  received(dir: Direction, bytes: Uint8Array): void {
    this.byteCount[dir] += bytes.byteLength;
    if (this.record) this.chunks[dir].push(new Uint8Array(bytes));
    // The inspector may set this connection's faults: they apply to this very chunk.
    this.inspect?.(this, dir, bytes);
    this.pipes[dir].push(bytes);
  }

  /** @internal One side closed or sent its FIN. */
  sideClosed(side: "client" | "upstream"): void {
    if (side === "client") {
      if (this.clientClosed) return;
      this.clientClosed = true;
      this.pipes.up.end();
      this.pipes.down.abandon();
    } else {
      if (this.upstreamClosed) return;
      this.upstreamClosed = true;
      this.pipes.down.end();
      this.pipes.up.abandon();
    }
    // Without an upstream socket (none made yet, or the target refused) the client's close ends it,
    // unless one is being made: then what the client sent is still delivered, and its end after it.
    if (this.clientClosed && (this.upstreamClosed || (this.upstream === null && !this.connecting))) this.finish();
  }

  /** @internal Closes both sides now: with a FIN after nothing more (`fin`) or a RST (`rst`). */
  cut(how: "fin" | "rst"): void {
    this.wasCut = true;
    this.pipes.up.abandon();
    this.pipes.down.abandon();
    for (const sock of [this.client, this.upstream]) {
      if (!sock) continue;
      try {
        if (how === "rst") sock.terminate();
        else sock.end();
      } catch {
        // Already closed underneath.
      }
    }
    this.clientClosed = true;
    this.upstreamClosed = true;
    this.finish();
  }

  private finish(): void {
    if (this.closedAt !== null) return;
    this.closedAt = performance.now();
    this.pipes.up.dispose();
    this.pipes.down.dispose();
  }
}

/** Options for TcpProxy.start(). */
export interface TcpProxyOptions {
  /** The port on 127.0.0.1 to forward to; may be set later with setTarget(). */
  targetPort?: number;
  targetHost?: string;
  /** Record the bytes (default true); a long fault test may turn it off. */
  record?: boolean;
  /** A name for failure messages. */
  label?: string;
  /** Seed of the PRNG jitter draws from (default 1), so a run's draws are the same every time. */
  seed?: number;
}

/**
 * The proxy. `TcpProxy.start()` listens at once (port 0), so its port can be handed out (as a
 * node's --seed or --advertise) before the target exists.
 */
export class TcpProxy {
  readonly port: number;
  readonly label: string;
  /** Every connection accepted so far, open or closed, in order. */
  readonly connections: ProxyConnection[] = [];
  private readonly listener: TCPSocketListener<SocketData>;
  private target: { host: string; port: number } | null;
  /** Connections accepted before the target was known. */
  private readonly waiting: ProxyConnection[] = [];
  private readonly record: boolean;
  /** Faults new connections start with; the setters change these and every open connection's. */
  private readonly faults: Record<Direction, DirectionFaults> = {
    up: { delayMs: 0, jitterMs: 0, blackhole: false, reading: true },
    down: { delayMs: 0, jitterMs: 0, blackhole: false, reading: true },
  };
  /**
   * The jitter's source. Seeded, so the sequence of draws is fixed; which chunk gets which draw
   * still depends on how the kernel splits the byte stream into chunks.
   */
  private readonly random: () => number;
  private inspector: ((conn: ProxyConnection, dir: Direction, bytes: Uint8Array) => void) | null = null;
  private refusing = false;
  private stopped = false;
  private nextId = 1;

  private constructor(opts: TcpProxyOptions) {
    this.record = opts.record ?? true;
    this.random = mulberry32(opts.seed ?? 1);
    this.target = opts.targetPort !== undefined ? { host: opts.targetHost ?? "127.0.0.1", port: opts.targetPort } : null;
    const self = this;
    this.listener = Bun.listen<SocketData>({
      hostname: "127.0.0.1",
      port: 0,
      socket: {
        open(sock) {
          sock.data = { conn: null, side: "client" };
          self.accept(sock);
        },
        data(sock, chunk) {
          sock.data.conn?.received("up", chunk);
        },
        drain(sock) {
          sock.data.conn?.pipes.down.pump();
        },
        end(sock) {
          sock.data.conn?.sideClosed("client");
        },
        close(sock) {
          sock.data.conn?.sideClosed("client");
        },
        error(sock) {
          sock.data.conn?.sideClosed("client");
        },
      },
    });
    this.port = this.listener.port;
    this.label = opts.label ?? `proxy :${this.port}`;
  }

  /** Starts a proxy on 127.0.0.1, port 0. */
  static start(opts: TcpProxyOptions = {}): TcpProxy {
    return new TcpProxy(opts);
  }

  /** host:port of the proxy, for --seed. */
  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** Sets (or changes) where new connections go; connections waiting for a target go there now. */
  setTarget(port: number, host = "127.0.0.1"): void {
    this.target = { host, port };
    for (const conn of this.waiting.splice(0)) void this.connectUpstream(conn);
  }

  /** Holds each chunk `ms` before forwarding it, in `dirs`; applies to open connections too. */
  setDelay(ms: number, dirs: Directions = "both"): void {
    this.eachFault(dirs, (f) => (f.delayMs = ms));
  }

  /**
   * Holds each chunk a further uniform [0, ms) on top of the delay, in `dirs`, drawn from the
   * proxy's seeded PRNG; order is kept (see Pipe.push). Applies to open connections too; 0 ends it.
   */
  setJitter(ms: number, dirs: Directions = "both"): void {
    this.eachFault(dirs, (f) => (f.jitterMs = ms));
  }

  /**
   * Calls `inspect` with every chunk of every connection as it arrives (after recording, before
   * any fault), or stops calling it (null). It may set the connection's own faults, which apply
   * to that chunk already: a test can blackhole a connection on the chunk that tells who opened it.
   */
  setInspector(inspect: ((conn: ProxyConnection, dir: Direction, bytes: Uint8Array) => void) | null): void {
    this.inspector = inspect;
  }

  /** Drops every byte (and the FIN) in `dirs` while on, keeping the sockets open. */
  setBlackhole(on: boolean, dirs: Directions = "both"): void {
    this.eachFault(dirs, (f) => (f.blackhole = on));
  }

  /** Stops (false) or resumes (true) reading from the sender of `dirs`. */
  setReading(on: boolean, dirs: Directions = "both"): void {
    this.eachFault(dirs, (f) => (f.reading = on));
    for (const conn of this.open()) for (const dir of dirsOf(dirs)) conn.pipes[dir].updateReading();
  }

  /** While on, new connections are closed as soon as they are accepted. */
  setRefusing(on: boolean): void {
    this.refusing = on;
  }

  /** Closes every open connection now, both sides: a FIN (`fin`, default) or a RST (`rst`). */
  cut(how: "fin" | "rst" = "fin"): void {
    for (const conn of this.open()) conn.cut(how);
    this.waiting.length = 0;
  }

  /** Connections not yet closed. */
  open(): ProxyConnection[] {
    return this.connections.filter((c) => !c.closed);
  }

  /** Closes every connection (RST) and the listener. Idempotent. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.cut("rst");
    this.listener.stop(true);
  }

  private eachFault(dirs: Directions, change: (f: DirectionFaults) => void): void {
    for (const dir of dirsOf(dirs)) {
      change(this.faults[dir]);
      for (const conn of this.open()) change(conn.pipes[dir].faults);
    }
  }

  private accept(client: Sock): void {
    if (this.refusing || this.stopped) {
      client.end();
      return;
    }
    const conn = new ProxyConnection(this.nextId++, client, this.faults, this.record, this.random, (c, dir, bytes) => this.inspector?.(c, dir, bytes));
    client.data.conn = conn;
    this.connections.push(conn);
    conn.pipes.up.updateReading();
    if (this.target) void this.connectUpstream(conn);
    else this.waiting.push(conn);
  }

  private async connectUpstream(conn: ProxyConnection): Promise<void> {
    if (conn.closed || !this.target) return;
    const { host, port } = this.target;
    conn.connecting = true;
    try {
      const upstream = await Bun.connect<SocketData>({
        hostname: host,
        port,
        data: { conn, side: "upstream" },
        socket: {
          data(sock, chunk) {
            sock.data.conn?.received("down", chunk);
          },
          drain(sock) {
            sock.data.conn?.pipes.up.pump();
          },
          end(sock) {
            sock.data.conn?.sideClosed("upstream");
          },
          close(sock) {
            sock.data.conn?.sideClosed("upstream");
          },
          error(sock) {
            sock.data.conn?.sideClosed("upstream");
          },
          connectError() {
            // Handled by the rejected promise below.
          },
        },
      });
      conn.connecting = false;
      if (conn.wasCut || conn.closed) {
        // Cut (or the proxy stopped) while connecting.
        upstream.terminate();
        return;
      }
      conn.upstream = upstream;
      conn.pipes.down.updateReading();
      conn.pipes.up.pump();
    } catch {
      conn.connecting = false;
      // The target refused: the client sees its connection closed, as it would without the proxy.
      conn.cut("fin");
    }
  }
}

// ---- reading what a proxy recorded ----

/** One WebSocket message (fragments joined), unmasked. */
export interface WsMessage {
  opcode: number;
  payload: Buffer;
  /** The frames carried a mask (client to server). */
  masked: boolean;
  /** RSV1 was set: permessage-deflate, so `payload` is compressed. */
  compressed: boolean;
}

/** A recorded WebSocket direction: the HTTP head, then the messages. */
export interface WsStream {
  /** The HTTP request or response head, without the blank line. */
  head: string;
  messages: WsMessage[];
  /** Bytes at the end that do not make a whole frame (a connection cut mid-frame). */
  trailing: number;
}

const HEAD_END = Buffer.from("\r\n\r\n");

/**
 * Parses one recorded direction of a WebSocket connection: the upgrade request or response, then
 * frames, unmasked and with fragments joined. Client-to-server frames are masked with a random key
 * per frame, so text in them is not visible in the raw bytes: searches must look at the payloads.
 * Returns null when the bytes do not start with an HTTP head that ends, or when the head is not an
 * upgrade (a GET without `Upgrade: websocket`, a response other than 101): then the rest is plain
 * HTTP, not frames.
 */
export function parseWebSocketStream(bytes: Buffer, direction: "request" | "response"): WsStream | null {
  const end = bytes.indexOf(HEAD_END);
  if (end < 0) return null;
  const head = bytes.subarray(0, end).toString("latin1");
  if (direction === "response" && !/^HTTP\/1\.1 101 /.test(head)) return null;
  if (direction === "request" && !(/^GET \S+ HTTP\/1\.1\r\n/.test(head) && /^upgrade:\s*websocket\s*$/im.test(head))) return null;
  const messages: WsMessage[] = [];
  let at = end + HEAD_END.length;
  let current: { opcode: number; parts: Buffer[]; masked: boolean; compressed: boolean } | null = null;
  while (at < bytes.length) {
    if (bytes.length - at < 2) break;
    const b0 = bytes[at]!;
    const b1 = bytes[at + 1]!;
    const fin = (b0 & 0x80) !== 0;
    const rsv1 = (b0 & 0x40) !== 0;
    const opcode = b0 & 0x0f;
    const masked = (b1 & 0x80) !== 0;
    let len = b1 & 0x7f;
    let p = at + 2;
    if (len === 126) {
      if (bytes.length - p < 2) break;
      len = bytes.readUInt16BE(p);
      p += 2;
    } else if (len === 127) {
      if (bytes.length - p < 8) break;
      len = Number(bytes.readBigUInt64BE(p));
      p += 8;
    }
    let mask: Buffer | null = null;
    if (masked) {
      if (bytes.length - p < 4) break;
      mask = bytes.subarray(p, p + 4);
      p += 4;
    }
    if (bytes.length - p < len) break;
    const payload = Buffer.from(bytes.subarray(p, p + len));
    if (mask) for (let i = 0; i < payload.length; i++) payload[i] = payload[i]! ^ mask[i & 3]!;
    at = p + len;
    if (opcode >= 8) {
      // Control frames stand alone and may come between the fragments of a message.
      messages.push({ opcode, payload, masked, compressed: false });
      continue;
    }
    if (opcode !== 0) current = { opcode, parts: [], masked, compressed: rsv1 };
    if (!current) continue; // a continuation without a start: nothing to join it to
    current.parts.push(payload);
    if (fin) {
      messages.push({ opcode: current.opcode, payload: Buffer.concat(current.parts), masked: current.masked, compressed: current.compressed });
      current = null;
    }
  }
  return { head, messages, trailing: bytes.length - at };
}

/** Where a needle was found in a capture, for a failure message. */
export interface Finding {
  capture: string;
  needle: string;
  offset: number;
  /** Up to 40 bytes either side, printable ASCII kept, the rest as dots. */
  context: string;
}

/** Every occurrence of every needle (as UTF-8 bytes) in every capture. */
export function findAll(captures: readonly { label: string; bytes: Uint8Array }[], needles: readonly string[]): Finding[] {
  const found: Finding[] = [];
  for (const { label, bytes } of captures) {
    const hay = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    for (const needle of needles) {
      const n = Buffer.from(needle, "utf8");
      for (let at = hay.indexOf(n); at >= 0; at = hay.indexOf(n, at + 1)) {
        const context = hay
          .subarray(Math.max(0, at - 40), Math.min(hay.length, at + n.length + 40))
          .toString("latin1")
          .replace(/[^\x20-\x7e]/g, ".");
        found.push({ capture: label, needle, offset: at, context });
      }
    }
  }
  return found;
}
