/**
 * A minimal WebSocket client over raw TCP (Bun.connect), for the load generator only.
 *
 * Why not the WebSocket global: in a fan-out run the generator reads a hundred times more frames
 * than the server parses, so a generic client (a MessageEvent and a decoded string per frame)
 * would make the generator, not the server, the limit. This client does only what the bench
 * needs: the HTTP upgrade by hand (any path, an optional subprotocol), masked frames out (RFC 6455
 * requires clients to mask, and servers must refuse unmasked frames; a string goes out as a text
 * frame, bytes as a binary frame), and a tight parse loop that hands each inbound message, text or
 * binary, to a callback as a byte range, with no decoding and no allocation per frame. What the
 * bytes mean is the protocol codec's business (codecs/), not this file's.
 *
 * A fragmented message is reassembled before it is handed on (rare: no server under test fragments
 * small messages, but nothing in RFC 6455 stops it). Extensions are not supported: no
 * permessage-deflate is offered, so none is negotiated.
 */
import type { Socket } from "bun";
import { createHash } from "node:crypto";

/** Receives one complete message (text or binary) as bytes [start, end) of buf; the bytes are valid only during the call. */
export type FrameHandler = (buf: Uint8Array, start: number, end: number) => void;

/** What the upgrade asks for: the request path and, for protocols that need one (MQTT: "mqtt"), a subprotocol. */
export interface UpgradeOptions {
  path: string;
  subprotocol: string | null;
}

const ROOT_PATH: UpgradeOptions = { path: "/", subprotocol: null };

const GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
const OP_CONTINUATION = 0x0;
const OP_TEXT = 0x1;
const OP_BINARY = 0x2;
const OP_CLOSE = 0x8;
const OP_PING = 0x9;
const OP_PONG = 0xa;
const HEADER_END = [13, 10, 13, 10];

const utf8 = new TextEncoder();
const latin1 = new TextDecoder("latin1");

/**
 * Masking keys come from a pool of random bytes refilled 64 KiB at a time: real, unpredictable
 * keys as the RFC asks, at the cost of one getRandomValues call per 16,384 frames.
 */
const keyPool = new Uint8Array(65536);
let keyPos = keyPool.length;

function writeMaskedFrame(out: Uint8Array, at: number, opcode: number, payload: Uint8Array | string, length: number): number {
  out[at++] = 0x80 | opcode; // FIN: every message is one frame
  if (length < 126) {
    out[at++] = 0x80 | length;
  } else if (length < 65536) {
    out[at++] = 0x80 | 126;
    out[at++] = length >>> 8;
    out[at++] = length & 0xff;
  } else {
    out[at++] = 0x80 | 127;
    // 64-bit length; frames here are far below 4 GiB, so the high half is zero.
    out[at++] = 0;
    out[at++] = 0;
    out[at++] = 0;
    out[at++] = 0;
    out[at++] = length >>> 24;
    out[at++] = (length >>> 16) & 0xff;
    out[at++] = (length >>> 8) & 0xff;
    out[at++] = length & 0xff;
  }
  if (keyPos + 4 > keyPool.length) {
    crypto.getRandomValues(keyPool);
    keyPos = 0;
  }
  const k0 = keyPool[keyPos]!;
  const k1 = keyPool[keyPos + 1]!;
  const k2 = keyPool[keyPos + 2]!;
  const k3 = keyPool[keyPos + 3]!;
  keyPos += 4;
  out[at++] = k0;
  out[at++] = k1;
  out[at++] = k2;
  out[at++] = k3;
  const body = out.subarray(at, at + length);
  if (typeof payload === "string") utf8.encodeInto(payload, body);
  else body.set(payload);
  let i = 0;
  for (; i + 4 <= length; i += 4) {
    body[i] = body[i]! ^ k0;
    body[i + 1] = body[i + 1]! ^ k1;
    body[i + 2] = body[i + 2]! ^ k2;
    body[i + 3] = body[i + 3]! ^ k3;
  }
  for (; i < length; i++) body[i] = body[i]! ^ keyPool[keyPos - 4 + (i & 3)]!;
  return at + length;
}

/** Bytes a masked client frame of this payload length takes on the wire. */
function frameSize(length: number): number {
  return (length < 126 ? 2 : length < 65536 ? 4 : 10) + 4 + length;
}

function indexOfHeaderEnd(buf: Uint8Array): number {
  outer: for (let i = 0; i + 4 <= buf.length; i++) {
    for (let j = 0; j < 4; j++) if (buf[i + j] !== HEADER_END[j]) continue outer;
    return i;
  }
  return -1;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

/** Socket handlers shared by every connection; per-connection state lives in socket.data. */
const HANDLERS = {
  binaryType: "uint8array" as const,
  open(socket: Socket<WsClient>) {
    socket.data.attach(socket);
  },
  data(socket: Socket<WsClient>, chunk: Uint8Array) {
    socket.data.receive(chunk);
  },
  drain(socket: Socket<WsClient>) {
    socket.data.drain();
  },
  close(socket: Socket<WsClient>, error?: Error) {
    socket.data.closedBy(error ? `socket error: ${error.message}` : "connection closed");
  },
  error(socket: Socket<WsClient>, error: Error) {
    socket.data.closedBy(`socket error: ${error.message}`);
  },
};

export class WsClient {
  /** Handler for inbound messages; swap it freely (setup code and hot loops use different ones). */
  onFrame: FrameHandler;
  /** Called after every frame of one TCP read was handled, so callers can batch work per read. */
  onRead: () => void = () => {};
  /** Called once when the connection ends, with why. */
  onClose: (why: string) => void = () => {};
  /** Set once the connection has ended. */
  closed: string | null = null;

  private socket: Socket<WsClient> | null = null;
  private upgraded = false;
  /** Bytes of an incomplete frame (or upgrade response) carried over to the next read. */
  private rest: Uint8Array | null = null;
  /** Frames waiting for the end of this tick, so many sends become one write (strings as text, bytes as binary). */
  private queue: (string | Uint8Array)[] = [];
  /** Payload so far of a fragmented message, and its opcode; null between messages. */
  private fragments: { opcode: number; parts: Uint8Array[] } | null = null;
  private flushQueued = false;
  /** Bytes the kernel did not take yet; sent on drain, before anything newer. */
  private backlog: Uint8Array | null = null;
  private readonly key = Buffer.from(crypto.getRandomValues(new Uint8Array(16))).toString("base64");
  private readonly upgrade: { resolve: () => void; reject: (err: Error) => void };
  private readonly upgradeDone: Promise<void>;

  private constructor(
    private readonly host: string,
    private readonly port: number,
    private readonly options: UpgradeOptions,
    onFrame: FrameHandler,
  ) {
    this.onFrame = onFrame;
    let settle!: { resolve: () => void; reject: (err: Error) => void };
    this.upgradeDone = new Promise<void>((resolve, reject) => (settle = { resolve, reject }));
    this.upgrade = settle;
  }

  /**
   * Connects and completes the WebSocket upgrade. `onFrame` is installed before the first byte
   * arrives, because the server's first message (a welcome, NATS's INFO, Engine.IO's open) often
   * comes in the same read as the 101 response.
   */
  static async connect(port: number, onFrame: FrameHandler, options: UpgradeOptions = ROOT_PATH, host = "127.0.0.1"): Promise<WsClient> {
    const client = new WsClient(host, port, options, onFrame);
    await Bun.connect<WsClient>({ hostname: host, port, data: client, socket: HANDLERS });
    await client.upgradeDone;
    return client;
  }

  /**
   * Queues a frame (a string as text, bytes as binary); frames queued in one event-loop turn go out
   * in one write. Why setImmediate and not a microtask: the closed loop tops its window up from
   * every subscriber's read, and microtasks run after each read's callback, so a microtask flush
   * made one write(2) per read. On loopback the sender's write also runs the receiver's TCP input,
   * so those writes were 32% of the generator's CPU under fan-out; one write per turn took the
   * generator from 6.8M to 10.5M deliveries/s against the same server.
   */
  send(frame: string | Uint8Array): void {
    if (this.closed) return;
    this.queue.push(frame);
    if (!this.flushQueued) {
      this.flushQueued = true;
      setImmediate(this.flush);
    }
  }

  /** Closes the TCP connection (no close handshake: the bench is done with it). */
  close(): void {
    this.socket?.end();
  }

  /** @internal Socket opened: send the upgrade request. */
  attach(socket: Socket<WsClient>): void {
    this.socket = socket;
    // Small frames must leave at once; Nagle would hold a publish behind an unacknowledged one.
    socket.setNoDelay(true);
    const protocol = this.options.subprotocol ? `Sec-WebSocket-Protocol: ${this.options.subprotocol}\r\n` : "";
    socket.write(
      `GET ${this.options.path} HTTP/1.1\r\nHost: ${this.host}:${this.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: ${this.key}\r\nSec-WebSocket-Version: 13\r\n${protocol}\r\n`,
    );
  }

  /** @internal One TCP read: parse every complete frame in it, keep the tail for the next read. */
  receive(chunk: Uint8Array): void {
    let buf = chunk;
    if (this.rest) {
      buf = concat(this.rest, chunk);
      this.rest = null;
    }
    let pos = 0;
    if (!this.upgraded) {
      pos = this.readUpgrade(buf);
      if (pos < 0) return;
    }
    const len = buf.length;
    while (len - pos >= 2) {
      const b0 = buf[pos]!;
      const b1 = buf[pos + 1]!;
      let n = b1 & 0x7f;
      let head = 2;
      if (n === 126) {
        if (len - pos < 4) break;
        n = (buf[pos + 2]! << 8) | buf[pos + 3]!;
        head = 4;
      } else if (n === 127) {
        if (len - pos < 10) break;
        // Rare (frames over 64 KiB), so the DataView allocation does not matter.
        n = Number(new DataView(buf.buffer, buf.byteOffset + pos + 2, 8).getBigUint64(0));
        head = 10;
      }
      if (b1 & 0x80) return this.fail("the server sent a masked frame");
      if (len - pos < head + n) break;
      const start = pos + head;
      const end = start + n;
      pos = end;
      const opcode = b0 & 0x0f;
      if ((opcode === OP_TEXT || opcode === OP_BINARY) && b0 & 0x80 && !this.fragments) {
        this.onFrame(buf, start, end);
      } else if (opcode === OP_TEXT || opcode === OP_BINARY || opcode === OP_CONTINUATION) {
        if (!this.fragment(opcode, (b0 & 0x80) !== 0, buf.slice(start, end))) return;
      } else if (opcode === OP_PING) {
        this.control(OP_PONG, buf.slice(start, end));
      } else if (opcode === OP_CLOSE) {
        // Echo the status code, as the close handshake asks, then let the TCP close follow.
        this.control(OP_CLOSE, buf.slice(start, Math.min(end, start + 2)));
        const code = n >= 2 ? (buf[start]! << 8) | buf[start + 1]! : 1005;
        const reason = latin1.decode(buf.subarray(start + 2, end));
        return this.fail(`closed by the server with ${code}${reason ? ` ${reason}` : ""}`);
      } else if (opcode === OP_PONG) {
        // Nothing to do: the bench never pings.
      } else {
        return this.fail(`the server sent unknown opcode ${opcode}`);
      }
    }
    if (pos < len) this.rest = buf.slice(pos);
    this.onRead();
  }

  /**
   * One frame of a fragmented message: kept until the final one, then the whole message is handed
   * on. Returns false (after failing the connection) on a continuation with no message to continue.
   */
  private fragment(opcode: number, fin: boolean, payload: Uint8Array): boolean {
    if (opcode === OP_CONTINUATION) {
      if (!this.fragments) {
        this.fail("the server sent a continuation frame outside a fragmented message");
        return false;
      }
      this.fragments.parts.push(payload);
    } else {
      this.fragments = { opcode, parts: [payload] };
    }
    if (!fin) return true;
    const whole = this.fragments.parts.reduce(concat);
    this.fragments = null;
    this.onFrame(whole, 0, whole.length);
    return true;
  }

  /** @internal The kernel has room again: send what it refused before. */
  drain(): void {
    const pending = this.backlog;
    if (!pending) return;
    this.backlog = null;
    this.write(pending);
  }

  /** @internal The connection ended, for whatever reason. */
  closedBy(why: string): void {
    if (this.closed) return;
    this.closed = why;
    this.queue = [];
    this.backlog = null;
    if (!this.upgraded) this.upgrade.reject(new Error(`upgrade to ws://${this.host}:${this.port}${this.options.path} failed: ${why}`));
    this.onClose(why);
  }

  /** Reads the 101 response; returns where frames start, or -1 if it is not all here yet (or failed). */
  private readUpgrade(buf: Uint8Array): number {
    const at = indexOfHeaderEnd(buf);
    if (at < 0) {
      if (buf.length > 16384) this.fail("the upgrade response has no end");
      else this.rest = buf.slice();
      return -1;
    }
    const head = latin1.decode(buf.subarray(0, at));
    const status = head.slice(0, head.indexOf("\r\n"));
    const accept = /^sec-websocket-accept:\s*(\S+)\s*$/im.exec(head)?.[1];
    const expected = createHash("sha1").update(this.key + GUID).digest("base64");
    if (!/^HTTP\/1\.1 101\b/.test(status)) {
      this.fail(`upgrade refused: ${status} ${latin1.decode(buf.subarray(at + 4, at + 304))}`);
      return -1;
    }
    if (accept !== expected) {
      this.fail("upgrade response has a wrong Sec-WebSocket-Accept");
      return -1;
    }
    // RFC 6455 4.1: a subprotocol asked for must come back, or the server does not speak it.
    const protocol = /^sec-websocket-protocol:\s*(\S+)\s*$/im.exec(head)?.[1] ?? null;
    if (this.options.subprotocol !== null && protocol !== this.options.subprotocol) {
      this.fail(`the server did not accept subprotocol ${this.options.subprotocol} (it answered ${protocol ?? "none"})`);
      return -1;
    }
    this.upgraded = true;
    this.upgrade.resolve();
    return at + 4;
  }

  /** Sends every queued frame in one write. A bound method, so setImmediate needs no closure per send. */
  private readonly flush = (): void => {
    this.flushQueued = false;
    const frames = this.queue;
    if (frames.length === 0 || this.closed) return;
    this.queue = [];
    const lengths = new Array<number>(frames.length);
    let total = 0;
    for (let i = 0; i < frames.length; i++) {
      const f = frames[i]!;
      const n = typeof f === "string" ? Buffer.byteLength(f) : f.length;
      lengths[i] = n;
      total += frameSize(n);
    }
    const out = new Uint8Array(total);
    let at = 0;
    for (let i = 0; i < frames.length; i++) {
      const f = frames[i]!;
      at = writeMaskedFrame(out, at, typeof f === "string" ? OP_TEXT : OP_BINARY, f, lengths[i]!);
    }
    this.write(out);
  };

  /** Sends a control frame at once, after any queued text (kept in order by flushing first). */
  private control(opcode: number, payload: Uint8Array): void {
    if (this.closed) return;
    this.flush();
    const out = new Uint8Array(frameSize(payload.length));
    writeMaskedFrame(out, 0, opcode, payload, payload.length);
    this.write(out);
  }

  private write(bytes: Uint8Array): void {
    if (!this.socket || this.closed) return;
    if (this.backlog) {
      this.backlog = concat(this.backlog, bytes);
      return;
    }
    const written = this.socket.write(bytes);
    if (written < bytes.length) this.backlog = bytes.slice(Math.max(written, 0));
  }

  private fail(why: string): void {
    this.closedBy(why);
    this.socket?.end();
  }
}
