/**
 * Clients for the chaos tests (issue 8): a subscriber that timestamps every message as it arrives
 * (Tap), and a publisher that sends a numbered stream at a steady pace without waiting for each
 * acknowledgement (StreamPublisher), keeping what it needs for the checker in stream-check.ts.
 *
 * Both speak the raw JSON protocol through RawClient, so nothing between the node and the test
 * (no SDK reconnect, no SDK dedup) hides what the node delivered.
 */
import { RawClient, type Frame } from "./node.ts";
import type { Received, Sent } from "./stream-check.ts";
import { waitFor } from "./wait.ts";

/** One message a Tap received. */
export interface TapMessage extends Received {
  channel: string;
  data: unknown;
}

/** A raw client subscribed to one channel that records every message and error with its arrival time. */
export class Tap {
  readonly messages: TapMessage[] = [];
  /** Error frames that answered no request of ours (channel_conflict, slow_consumer, ...) and those that did. */
  readonly errors: Frame[] = [];

  private constructor(
    readonly label: string,
    readonly client: RawClient,
    readonly channel: string,
  ) {
    // A second listener beside RawClient's own, for the arrival time; it parses the frame again,
    // which costs nothing next to the socket at these rates.
    client.ws.addEventListener("message", (ev) => {
      const at = performance.now();
      const f = JSON.parse(String(ev.data)) as Frame;
      if (f.op === "msg" && f.channel === channel) {
        this.messages.push({ from: String(f.from), n: Number(f.n), at, channel, data: f.data });
      } else if (f.op === "error") this.errors.push(f);
    });
  }

  /** Connects to `url` and subscribes to `channel` (with `password`); resolves with the tap and the node's answer. */
  static async open(label: string, url: string, channel: string, password?: string): Promise<{ tap: Tap; answer: Frame }> {
    const client = await RawClient.open(url);
    const tap = new Tap(label, client, channel);
    const answer = await client.request(password === undefined ? { op: "sub", channel } : { op: "sub", channel, password });
    return { tap, answer };
  }

  /** Messages from one publisher. */
  from(publisher: string): TapMessage[] {
    return this.messages.filter((m) => m.from === publisher);
  }

  /** True once an error frame with `code` (and, if given, naming `channel`) arrived. */
  hasError(code: string, channel?: string): boolean {
    return this.errors.some((e) => e.code === code && (channel === undefined || e.channel === channel));
  }

  close(): Promise<void> {
    return this.client.close().catch(() => undefined);
  }
}

/** One publish as the publisher sent it. */
interface Send {
  seq: number;
  id: number;
  at: number;
}

/** Request ids far above RawClient.request's (1001, 1002, ...), so the two never collide. */
const FIRST_ID = 1_000_000;

/**
 * Publishes `data(seq)` on a channel every `everyMs`, seq = 0, 1, 2, ..., each with an id and
 * without awaiting its answer (a steady rate whatever the ack latency). The node stamps accepted
 * publishes n = 1, 2, ... in the order it accepts them, and acknowledges each; a refused publish
 * gets an error and no n. So once every answer is in, the k-th acknowledged publish is n = k.
 */
export class StreamPublisher {
  private readonly sends: Send[] = [];
  private timer: ReturnType<typeof setInterval> | null = null;
  private seq = 0;
  /** This connection's client id: the `from` of every message it publishes. */
  readonly id: string;

  private constructor(
    readonly client: RawClient,
    readonly channel: string,
    private readonly data: (seq: number) => unknown,
    private readonly password: string | undefined,
  ) {
    const welcome = client.frames.find((f) => f.op === "welcome");
    this.id = String(welcome?.client);
  }

  static async open(url: string, channel: string, data: (seq: number) => unknown, password?: string): Promise<StreamPublisher> {
    return new StreamPublisher(await RawClient.open(url), channel, data, password);
  }

  /** Starts publishing every `everyMs`. */
  start(everyMs: number): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.publishOne(), everyMs);
  }

  /** Publishes one message now; returns its seq. */
  publishOne(): number {
    const seq = this.seq++;
    const id = FIRST_ID + seq;
    const frame: Record<string, unknown> = { op: "pub", channel: this.channel, data: this.data(seq), id };
    if (this.password !== undefined) frame.password = this.password;
    this.sends.push({ seq, id, at: performance.now() });
    this.client.send(frame);
    return seq;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** How many publishes were sent. */
  get count(): number {
    return this.sends.length;
  }

  /** When publish `seq` was sent (performance.now()). */
  sentAt(seq: number): number {
    return this.sends[seq]!.at;
  }

  /** The answer to each publish so far: "ack", an error code, or null while none came. */
  answers(): (string | null)[] {
    const byId = new Map<number, string>();
    for (const f of this.client.frames) {
      if (typeof f.id !== "number" || f.id < FIRST_ID) continue;
      if (f.op === "ack") byId.set(f.id, "ack");
      else if (f.op === "error") byId.set(f.id, String(f.code));
    }
    return this.sends.map((s) => byId.get(s.id) ?? null);
  }

  /** Waits until every publish sent has its answer (or the deadline passes), then returns them. */
  async settle(timeoutMs: number): Promise<(string | null)[]> {
    await waitFor(() => this.answers().every((a) => a !== null), `answers to all ${this.count} publishes on ${this.channel}`, timeoutMs).catch(() => undefined);
    return this.answers();
  }

  /**
   * The checker's view of the stream, once answers are in: every acknowledged publish with its n
   * (its rank among the acknowledged ones) and send time. Also the seq each n stands for, so a
   * received payload can be matched against its n.
   */
  sent(): { sent: Sent[]; seqOfN: Map<number, number>; refused: Map<string, number> } {
    const answers = this.answers();
    const sent: Sent[] = [];
    const seqOfN = new Map<number, number>();
    const refused = new Map<string, number>();
    let n = 0;
    answers.forEach((a, seq) => {
      if (a === "ack") {
        n++;
        sent.push({ n, at: this.sends[seq]!.at, acked: true });
        seqOfN.set(n, seq);
      } else {
        const key = a ?? "no answer";
        refused.set(key, (refused.get(key) ?? 0) + 1);
      }
    });
    return { sent, seqOfN, refused };
  }

  close(): Promise<void> {
    this.stop();
    return this.client.close().catch(() => undefined);
  }
}
