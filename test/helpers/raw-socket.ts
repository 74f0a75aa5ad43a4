import type { Socket } from "bun";

/**
 * A WebSocket client on a raw TCP socket, for what a well-behaved client cannot do: stop reading
 * (a slow consumer), or send hand-made frames. It performs the upgrade by hand and masks frames.
 */
export class RawSocket {
  private received = Buffer.alloc(0);
  closed = false;
  private constructor(private readonly socket: Socket<undefined>) {}

  static async connect(port: number, protocol?: string): Promise<RawSocket> {
    let self: RawSocket | undefined;
    const socket = await Bun.connect({
      hostname: "127.0.0.1",
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
      `GET / HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
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

  /** Stops reading: the kernel buffers fill, and the node's send buffer for this client grows. */
  pause(): void {
    (this.socket as unknown as { pause(): void }).pause();
  }

  end(): void {
    this.socket.end();
  }
}
