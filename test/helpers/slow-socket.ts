/**
 * A WebSocket client on a raw TCP socket that can stop reading and start again, for the slow
 * consumer chaos test (issue 8). Like RawSocket (test/helpers/raw-socket.ts), whose upgrade and
 * framing it follows, but it keeps what it reads as a list of chunks: a slow consumer that
 * resumes reads back megabytes at once, and joining them on every chunk (RawSocket's way, fine
 * for a few frames) would stall this process for long enough to show up in the latency the test
 * measures in the same process.
 */
import type { Socket } from "bun";

export class SlowSocket {
  private readonly chunks: Buffer[] = [];
  private joined: Buffer = Buffer.alloc(0);
  private joinedChunks = 0;
  /** Bytes read so far, the upgrade response included. */
  length = 0;
  closed = false;

  private constructor(private readonly socket: Socket<undefined>) {}

  static async connect(port: number): Promise<SlowSocket> {
    let self: SlowSocket | undefined;
    const socket = await Bun.connect({
      hostname: "127.0.0.1",
      port,
      socket: {
        data(_s, chunk) {
          if (!self) return;
          // Bun may reuse the buffer it passes: keep a copy, no join.
          self.chunks.push(Buffer.from(chunk));
          self.length += chunk.byteLength;
        },
        close() {
          if (self) self.closed = true;
        },
      },
    });
    self = new SlowSocket(socket);
    const key = Buffer.from(crypto.getRandomValues(new Uint8Array(16))).toString("base64");
    socket.write(`GET / HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
    const deadline = Date.now() + 5000;
    while (!self.bytes.includes("\r\n\r\n")) {
      if (Date.now() > deadline || self.closed) throw new Error("no upgrade response");
      await new Promise((r) => setTimeout(r, 2));
    }
    return self;
  }

  /** Everything read so far, joined (once per new chunk, only when asked). */
  get bytes(): Buffer {
    if (this.joinedChunks !== this.chunks.length) {
      this.joined = Buffer.concat(this.chunks);
      this.joinedChunks = this.chunks.length;
    }
    return this.joined;
  }

  /** Sends one masked text frame (small: a 7-bit or 16-bit length). */
  sendText(text: string): void {
    const body = Buffer.from(text);
    const mask = crypto.getRandomValues(new Uint8Array(4));
    const len = body.length;
    if (len >= 65536) throw new Error("SlowSocket.sendText sends frames under 64 KiB");
    const head = len < 126 ? Buffer.from([0x81, 0x80 | len]) : Buffer.from([0x81, 0x80 | 126, len >> 8, len & 255]);
    const masked = Buffer.alloc(len);
    for (let i = 0; i < len; i++) masked[i] = body[i]! ^ mask[i & 3]!;
    this.socket.write(Buffer.concat([head, Buffer.from(mask), masked]));
  }

  /** Stops reading: the kernel buffers fill, and the node's send buffer for this client grows. */
  pause(): void {
    (this.socket as unknown as { pause(): void }).pause();
  }

  /** Reads again: what the kernel held arrives, then whatever the node sends next. */
  resume(): void {
    (this.socket as unknown as { resume(): void }).resume();
  }

  end(): void {
    this.socket.end();
  }
}
