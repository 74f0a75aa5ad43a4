import type { Socket } from "bun";

/**
 * A WebSocket client on a raw TCP socket, for what a well-behaved client cannot do: stop reading
 * (a slow consumer), or send hand-made frames. It performs the upgrade by hand and masks frames.
 */
export class RawSocket {
  private received = Buffer.alloc(0);
  closed = false;
  private constructor(private readonly socket: Socket<undefined>) {}

  /**
   * Opens a TCP connection and sends the upgrade request. Resolves once the response head came,
   * whatever its status (see `upgradeStatus`): a refused upgrade (429, 401, ...) is a result too.
   * `options.path` (default "/") and `options.hostname` (default 127.0.0.1) pick where to go.
   */
  static async connect(port: number, protocol?: string, options: { path?: string; hostname?: string } = {}): Promise<RawSocket> {
    let self: RawSocket | undefined;
    const hostname = options.hostname ?? "127.0.0.1";
    const socket = await Bun.connect({
      hostname,
      port,
      socket: {
        data(_s, chunk) {
          if (self) self.received = Buffer.concat([self.received, chunk]);
        },
        close() {
          if (self) self.closed = true;
        },
      },
    });
    self = new RawSocket(socket);
    const key = Buffer.from(crypto.getRandomValues(new Uint8Array(16))).toString("base64");
    socket.write(
      `GET ${options.path ?? "/"} HTTP/1.1\r\nHost: ${hostname.includes(":") ? `[${hostname}]` : hostname}:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n${protocol ? `Sec-WebSocket-Protocol: ${protocol}\r\n` : ""}\r\n`,
    );
    const deadline = Date.now() + 5000;
    while (!self.received.includes("\r\n\r\n")) {
      if (Date.now() > deadline || self.closed) throw new Error("no upgrade response");
      await new Promise((r) => setTimeout(r, 2));
    }
    return self;
  }

  /** The upgrade response and every byte since. */
  get bytes(): Buffer {
    return this.received;
  }

  /** Sends one masked frame (opcode 1 text, 2 binary, 8 close, 9 ping). */
  sendFrame(payload: string | Uint8Array, opcode = 1, fin = true): void {
    const body = typeof payload === "string" ? Buffer.from(payload) : Buffer.from(payload);
    const mask = crypto.getRandomValues(new Uint8Array(4));
    const len = body.length;
    const head = len < 126 ? Buffer.from([(fin ? 0x80 : 0) | opcode, 0x80 | len]) : len < 65536 ? Buffer.from([(fin ? 0x80 : 0) | opcode, 0x80 | 126, len >> 8, len & 255]) : (() => {
      const h = Buffer.alloc(10);
      h[0] = (fin ? 0x80 : 0) | opcode;
      h[1] = 0x80 | 127;
      h.writeBigUInt64BE(BigInt(len), 2);
      return h;
    })();
    const masked = Buffer.alloc(len);
    for (let i = 0; i < len; i++) masked[i] = body[i]! ^ mask[i & 3]!;
    this.socket.write(Buffer.concat([head, Buffer.from(mask), masked]));
  }

  /** The HTTP status of the upgrade response (101 when the WebSocket is open). */
  get upgradeStatus(): number {
    const head = this.received.subarray(0, this.received.indexOf("\r\n\r\n"));
    return Number(/^HTTP\/1\.1 (\d{3})/.exec(head.toString("latin1"))?.[1] ?? 0);
  }

  /** The body of a refused upgrade (everything after the response head), as text. */
  get upgradeBody(): string {
    return this.received.subarray(this.received.indexOf("\r\n\r\n") + 4).toString("utf8");
  }

  /** Writes bytes as they are: for frames no well-behaved client sends (unmasked, reserved bits, bad lengths). */
  sendRaw(bytes: Uint8Array): void {
    this.socket.write(bytes);
  }

  /**
   * Builds one frame by hand. `rsv` is the three reserved bits (0-7); `masked: false` leaves the
   * mask bit clear, which RFC 6455 section 5.1 forbids a client to do.
   */
  static frame(payload: string | Uint8Array, opts: { opcode?: number; fin?: boolean; rsv?: number; masked?: boolean } = {}): Uint8Array {
    const body = Buffer.from(typeof payload === "string" ? Buffer.from(payload) : payload);
    const masked = opts.masked ?? true;
    const b0 = ((opts.fin ?? true) ? 0x80 : 0) | (((opts.rsv ?? 0) & 7) << 4) | ((opts.opcode ?? 1) & 0x0f);
    const maskBit = masked ? 0x80 : 0;
    const len = body.length;
    let head: Buffer;
    if (len < 126) head = Buffer.from([b0, maskBit | len]);
    else if (len < 65536) head = Buffer.from([b0, maskBit | 126, len >> 8, len & 255]);
    else {
      head = Buffer.alloc(10);
      head[0] = b0;
      head[1] = maskBit | 127;
      head.writeBigUInt64BE(BigInt(len), 2);
    }
    if (!masked) return Buffer.concat([head, body]);
    const mask = crypto.getRandomValues(new Uint8Array(4));
    for (let i = 0; i < len; i++) body[i]! ^= mask[i & 3]!;
    return Buffer.concat([head, Buffer.from(mask), body]);
  }

  /**
   * The frames the server sent so far, parsed from the bytes after the upgrade response (server
   * frames are unmasked). A trailing partial frame is left out until the rest of it arrives.
   */
  frames(): { fin: boolean; rsv: number; opcode: number; payload: Buffer }[] {
    const out: { fin: boolean; rsv: number; opcode: number; payload: Buffer }[] = [];
    const start = this.received.indexOf("\r\n\r\n");
    if (start < 0) return out;
    let at = start + 4;
    const buf = this.received;
    while (at + 2 <= buf.length) {
      const b0 = buf[at]!;
      const b1 = buf[at + 1]!;
      let len = b1 & 0x7f;
      let p = at + 2;
      if (len === 126) {
        if (p + 2 > buf.length) break;
        len = buf.readUInt16BE(p);
        p += 2;
      } else if (len === 127) {
        if (p + 8 > buf.length) break;
        len = Number(buf.readBigUInt64BE(p));
        p += 8;
      }
      if (b1 & 0x80) p += 4; // a masked server frame would be a server bug; skip the key rather than misparse
      if (p + len > buf.length) break;
      out.push({ fin: (b0 & 0x80) !== 0, rsv: (b0 >> 4) & 7, opcode: b0 & 0x0f, payload: buf.subarray(p, p + len) });
      at = p + len;
    }
    return out;
  }

  /** The server's close frame, once it came: its code (null for an empty body) and reason. */
  closeFrame(): { code: number | null; reason: string } | null {
    const close = this.frames().find((f) => f.opcode === 8);
    if (!close) return null;
    return close.payload.length >= 2 ? { code: close.payload.readUInt16BE(0), reason: close.payload.subarray(2).toString("utf8") } : { code: null, reason: "" };
  }

  /** Stops reading: the kernel buffers fill, and the node's send buffer for this client grows. */
  pause(): void {
    (this.socket as unknown as { pause(): void }).pause();
  }

  end(): void {
    this.socket.end();
  }
}
