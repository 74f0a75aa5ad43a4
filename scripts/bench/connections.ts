/**
 * Setting up connections before a measurement: connect, wait for the welcome, subscribe and wait
 * for the ack. This path parses every frame as JSON and checks it, because a wrong setup (a refused
 * subscription, an error instead of a welcome) must fail loudly rather than skew a figure.
 */
import { OP_ERROR, parseFrame, type ErrorLog } from "./frames.ts";
import { WsClient, type TextHandler } from "./ws-client.ts";

/** How long any one setup step may take before the run is abandoned. */
const STEP_TIMEOUT_MS = 15_000;

/** Frames received during setup, with a way to wait for the next one. */
class Inbox {
  private frames: Record<string, unknown>[] = [];
  private waiter: ((frame: Record<string, unknown>) => void) | null = null;

  readonly handler: TextHandler = (buf, start, end) => {
    const frame = parseFrame(buf, start, end);
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = null;
      w(frame);
    } else {
      this.frames.push(frame);
    }
  };

  next(what: string): Promise<Record<string, unknown>> {
    const queued = this.frames.shift();
    if (queued) return Promise.resolve(queued);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out after ${STEP_TIMEOUT_MS} ms waiting for ${what}`)), STEP_TIMEOUT_MS);
      this.waiter = (frame) => {
        clearTimeout(timer);
        resolve(frame);
      };
    });
  }
}

/** Counts connections the server closed, so a run can report them (a slow-consumer cut would show). */
export class CloseCounter {
  count = 0;
  first: string | null = null;
  readonly handler = (why: string): void => {
    this.count++;
    this.first ??= why;
  };
}

/**
 * After setup, a connection that is not measured still reads its frames: it records error frames
 * and ignores the rest (acks, pongs).
 */
export function quietHandler(errors: ErrorLog): TextHandler {
  return (buf, start, end) => {
    if (buf[start + 7] === OP_ERROR) errors.add(buf, start, end);
  };
}

/** Opens a connection and waits for its welcome. */
export async function openClient(port: number, errors: ErrorLog, closes: CloseCounter): Promise<WsClient> {
  const inbox = new Inbox();
  const client = await WsClient.connect(port, inbox.handler);
  client.onClose = closes.handler;
  const welcome = await inbox.next("welcome");
  if (welcome.op !== "welcome") throw new Error(`expected welcome, got ${JSON.stringify(welcome)}`);
  client.onText = quietHandler(errors);
  return client;
}

/** Opens a connection subscribed to `channel` (waits for the sub's ack). */
export async function openSubscriber(port: number, channel: string, errors: ErrorLog, closes: CloseCounter): Promise<WsClient> {
  const inbox = new Inbox();
  const client = await WsClient.connect(port, inbox.handler);
  client.onClose = closes.handler;
  const welcome = await inbox.next("welcome");
  if (welcome.op !== "welcome") throw new Error(`expected welcome, got ${JSON.stringify(welcome)}`);
  client.send(JSON.stringify({ op: "sub", channel, id: 1 }));
  const ack = await inbox.next(`the ack of sub ${channel}`);
  if (ack.op !== "ack" || ack.id !== 1) throw new Error(`sub ${channel} refused: ${JSON.stringify(ack)}`);
  client.onText = quietHandler(errors);
  return client;
}

/**
 * Opens one subscriber per entry of `channels`, `batch` at a time: opening thousands at once would
 * overrun the server's accept queue and measure SYN retries instead of the server.
 */
export async function openSubscribers(
  port: number,
  channels: readonly string[],
  batch: number,
  errors: ErrorLog,
  closes: CloseCounter,
): Promise<WsClient[]> {
  const clients: WsClient[] = [];
  for (let i = 0; i < channels.length; i += batch) {
    const opened = await Promise.all(channels.slice(i, i + batch).map((channel) => openSubscriber(port, channel, errors, closes)));
    clients.push(...opened);
  }
  return clients;
}
