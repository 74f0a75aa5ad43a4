/**
 * Setting up connections before a measurement, for any codec: connect, run the protocol's
 * handshake, subscribe and wait for the server's confirmation. Setup checks every answer, because a
 * wrong setup (a refused subscription, an error instead of a welcome) must fail loudly rather than
 * skew a figure.
 *
 * Each connection gets one Sink (codecs/codec.ts) that its reader reports to. During setup the sink
 * feeds an inbox of named events; afterwards it is quiet (errors are logged, the rest ignored) until
 * a loop installs its own handlers.
 */
import type { Codec, Frame, SetupConn, Sink } from "./codecs/index.ts";
import type { ErrorLog } from "./error-log.ts";
import { WsClient } from "./ws-client.ts";

/** How long any one setup step may take before the run is abandoned. */
const STEP_TIMEOUT_MS = 15_000;

/** A connection of the generator: its socket and the sink its reader reports to. */
export interface Conn {
  client: WsClient;
  sink: Sink;
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

type SetupEvent = { name: string } | { error: string };

/** Named events received during setup, with a way to wait for the next one. */
class Inbox {
  private events: SetupEvent[] = [];
  private waiter: ((e: SetupEvent) => void) | null = null;

  push(e: SetupEvent): void {
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = null;
      w(e);
    } else {
      this.events.push(e);
    }
  }

  next(what: string): Promise<SetupEvent> {
    const queued = this.events.shift();
    if (queued) return Promise.resolve(queued);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiter = null;
        reject(new Error(`timed out after ${STEP_TIMEOUT_MS} ms waiting for ${what}`));
      }, STEP_TIMEOUT_MS);
      this.waiter = (e) => {
        clearTimeout(timer);
        resolve(e);
      };
    });
  }
}

/** After setup: errors are logged, everything else is ignored until a loop installs its handlers. */
export function quiet(sink: Sink, errors: ErrorLog): void {
  sink.msg = () => {};
  sink.ack = () => {};
  sink.event = () => {};
  sink.error = (text) => errors.note(text);
}

/** Connects and runs the codec's handshake; with `channel`, also subscribes. */
async function open(port: number, codec: Codec, channel: string | null, errors: ErrorLog, closes: CloseCounter): Promise<Conn> {
  const inbox = new Inbox();
  const sink: Sink = {
    msg: () => {},
    ack: () => inbox.push({ name: "ack" }),
    event: (name) => inbox.push({ name }),
    error: (text) => inbox.push({ error: text }),
  };
  let client: WsClient | null = null;
  const reply = (frame: Frame): void => client?.send(frame);
  client = await WsClient.connect(port, codec.reader(sink, reply), codec.upgrade);
  client.onClose = (why) => {
    inbox.push({ error: `connection closed: ${why}` });
    closes.handler(why);
  };
  const c = client;
  const conn: SetupConn = {
    send: (frame) => c.send(frame),
    async expect(name, what) {
      const e = await inbox.next(what);
      if ("error" in e) throw new Error(`${codec.id}: waiting for ${what}, got an error: ${e.error}`);
      if (e.name !== name) throw new Error(`${codec.id}: waiting for ${what}, got "${e.name}"`);
    },
  };
  try {
    await codec.open(conn);
    if (channel !== null) await codec.subscribe(conn, channel);
  } catch (err) {
    c.close();
    throw err;
  }
  quiet(sink, errors);
  return { client: c, sink };
}

/** Opens a connection ready to publish. */
export function openClient(port: number, codec: Codec, errors: ErrorLog, closes: CloseCounter): Promise<Conn> {
  return open(port, codec, null, errors, closes);
}

/** Opens a connection subscribed to `channel` (the server has confirmed the subscription). */
export function openSubscriber(port: number, codec: Codec, channel: string, errors: ErrorLog, closes: CloseCounter): Promise<Conn> {
  return open(port, codec, channel, errors, closes);
}

/**
 * Opens one subscriber per entry of `channels`, `batch` at a time: opening thousands at once would
 * overrun the server's accept queue and measure SYN retries instead of the server.
 */
export async function openSubscribers(
  port: number,
  codec: Codec,
  channels: readonly string[],
  batch: number,
  errors: ErrorLog,
  closes: CloseCounter,
): Promise<Conn[]> {
  const conns: Conn[] = [];
  for (let i = 0; i < channels.length; i += batch) {
    const opened = await Promise.all(channels.slice(i, i + batch).map((channel) => openSubscriber(port, codec, channel, errors, closes)));
    conns.push(...opened);
  }
  return conns;
}
