/**
 * What every codec check shares: starting the system, opening connections with our codec, waiting
 * for a condition, and recording what was verified. A check throws CheckFailure with the evidence
 * when our codec and the official client disagree.
 */
import { codecFor, type CodecName, type Frame } from "../codecs/index.ts";
import { CloseCounter, openClient, openSubscriber, type Conn } from "../connections.ts";
import { ErrorLog } from "../error-log.ts";

export class CheckFailure extends Error {}

/** One codec's check: what was verified, line by line. */
export interface CheckReport {
  system: string;
  client: string;
  verified: string[];
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export const bytesOf = (f: Frame): Uint8Array => (typeof f === "string" ? encoder.encode(f) : f);
export const textOf = (b: Uint8Array): string => decoder.decode(b);
export const hexOf = (b: Uint8Array): string => Buffer.from(b).toString("hex");

/** Index of `needle` inside `hay`, or -1. */
export function indexOfBytes(hay: Uint8Array, needle: Uint8Array): number {
  outer: for (let i = 0; i + needle.length <= hay.length; i++) {
    for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** Polls `test` until it holds, or fails the check with `what` after `timeoutMs`. */
export async function waitFor(what: string, test: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!test()) {
    if (performance.now() > deadline) throw new CheckFailure(`timed out waiting for ${what}`);
    await Bun.sleep(10);
  }
}

/** Our codec's connections to one server, with every delivery's bytes kept. */
export class OurSide {
  readonly errors = new ErrorLog();
  readonly closes = new CloseCounter();
  private readonly conns: Conn[] = [];

  constructor(
    readonly codecName: CodecName,
    private readonly port: number,
  ) {}

  get codec() {
    return codecFor(this.codecName);
  }

  async publisher(): Promise<Conn> {
    const c = await openClient(this.port, this.codec, this.errors, this.closes);
    this.conns.push(c);
    return c;
  }

  /** A subscriber whose deliveries (the bytes the reader reports) land in `got`. */
  async subscriber(channel: string, got: Uint8Array[]): Promise<Conn> {
    const c = await openSubscriber(this.port, this.codec, channel, this.errors, this.closes);
    c.sink.msg = (buf, start, end) => void got.push(buf.slice(start, end));
    this.conns.push(c);
    return c;
  }

  /** Fails the check if the server reported an error or closed one of our connections. */
  assertClean(): void {
    if (this.errors.count) throw new CheckFailure(`the server reported ${this.errors.count} error(s) to our codec, first: ${this.errors.first}`);
    if (this.closes.count) throw new CheckFailure(`the server closed ${this.closes.count} of our connections: ${this.closes.first}`);
  }

  close(): void {
    for (const c of this.conns) c.client.close();
  }
}
