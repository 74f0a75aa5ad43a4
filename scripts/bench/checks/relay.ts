/**
 * Checks the Relay codec (codecs/relay.ts) against Relay's official client, its SDK (src/sdk), on a
 * real server: Relay itself, or the raw Bun server, which speaks the same frames.
 *   - subscribe: our codec's sub is answered by the server's ack (for its id) before anything is
 *     published, and a publish sent right after the ack is delivered;
 *   - SDK to us: a burst of SDK publishes, which the server batches (relay.v2.json: several frames
 *     per WebSocket message, one per line), is reported by our reader as one msg per publish, in
 *     order, each frame carrying the channel and the payload's JSON bytes;
 *   - us to the SDK: the frames our publisher builds (fire-and-forget and acked) reach an SDK
 *     subscriber with the right channel and data, and the acked ones are each acked.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { connect, type Message, type Payload } from "../../../src/sdk/index.ts";
import { stringPayload } from "../codecs/payload.ts";
import { RELAY_BIN, ROOT, startServer, type Startable } from "../servers.ts";
import { RELAY } from "../systems.ts";
import { CheckFailure, OurSide, indexOfBytes, textOf, waitFor, type CheckReport } from "./harness.ts";

const encoder = new TextEncoder();

/**
 * Relay as the bench runs it (RELAY.command's flags): the compiled dist/relay when it exists, else
 * the sources through Bun, so the check runs before a build too.
 */
export const RELAY_UNDER_CHECK: Startable = {
  label: RELAY.label,
  command(port) {
    const cmd = RELAY.command(port);
    if (existsSync(RELAY_BIN)) return cmd;
    return [process.execPath, join(ROOT, "src", "cli", "main.ts"), ...cmd.slice(1)];
  },
};

/** JSON values of mixed shapes and sizes; strings with newlines test that a frame never holds a raw one. */
function burstValues(count: number): Payload[] {
  const sizes = [0, 1, 64, 1000, 5000];
  return Array.from({ length: count }, (_, i) => {
    const n = sizes[i % sizes.length]!;
    switch (i % 4) {
      case 0:
        return `${i}:`.padEnd(Math.max(n, String(i).length + 1), "z");
      case 1:
        return { i, text: `line one\nline two é✓ "${"q".repeat(n)}"` };
      case 2:
        return [i, null, true, 1.5, { nested: ["\n", "\\n"] }];
      default:
        return i;
    }
  });
}

function sameJson(a: unknown, b: unknown): boolean {
  return Bun.deepEquals(a, b, true);
}

/** Checks the relay codec against the SDK on `server` (Relay by default; RAW_BUN for the raw Bun server). */
export async function checkRelay(server: Startable = RELAY_UNDER_CHECK): Promise<CheckReport> {
  const verified: string[] = [];
  const running = await startServer(server);
  const url = `ws://127.0.0.1:${running.port}`;
  const ours = new OurSide("relay", running.port);
  const oursAcked = new OurSide("relay-acked", running.port);
  const sdks: { close(): void }[] = [];
  try {
    // 1. Subscribe through our codec, recording every raw WebSocket message from the first byte
    //    after the welcome, so the ack can be seen, and batching counted.
    const sub = await ours.publisher(); // open, welcome read, nothing subscribed yet
    const raw: string[] = [];
    const reader = sub.client.onFrame;
    sub.client.onFrame = (buf, start, end) => {
      raw.push(textOf(buf.subarray(start, end)));
      reader(buf, start, end);
    };
    let acks = 0;
    const errors: string[] = [];
    sub.sink.ack = () => void acks++;
    sub.sink.error = (text) => void errors.push(text);
    const got: Uint8Array[] = [];
    sub.sink.msg = (buf, start, end) => void got.push(buf.slice(start, end));
    const subscribed = ours.codec.subscribe(
      {
        send: (frame) => sub.client.send(frame),
        async expect(name, what) {
          if (name !== "ack") throw new CheckFailure(`the codec waited for "${name}" (${what}), not for an ack`);
          await waitFor(what, () => acks > 0 || errors.length > 0);
          if (errors.length) throw new CheckFailure(`the server answered our sub with an error: ${errors[0]}`);
        },
      },
      "check-burst",
    );
    await subscribed;
    const ackFrame = raw.flatMap((m) => m.split("\n")).find((f) => f.startsWith('{"op":"ack"'));
    if (!ackFrame) throw new CheckFailure(`the reader reported an ack, but no ack frame came: ${JSON.stringify(raw)}`);
    const ack = JSON.parse(ackFrame) as { op: string; id?: unknown };
    if (ack.id !== 1) throw new CheckFailure(`the ack our reader reported is not for our sub (id 1): ${ackFrame}`);
    if (got.length) throw new CheckFailure(`a message arrived before anything was published: ${textOf(got[0]!)}`);
    verified.push(`our codec's sub is answered by the server's ack for its id (${ackFrame}) before anything is published`);

    // 2. A burst of SDK publishes, batched by the server into multi-frame WebSocket messages.
    const publisher = await connect({ url, reconnect: false });
    sdks.push(publisher);
    const values = burstValues(60);
    const messagesBefore = raw.length;
    await Promise.all(values.map((v) => publisher.publish("check-burst", v)));
    await waitFor(`our reader to report ${values.length} messages`, () => got.length >= values.length);
    await Bun.sleep(100); // anything extra would show now
    if (got.length !== values.length) throw new CheckFailure(`the SDK published ${values.length} messages, our reader reported ${got.length}`);
    for (let i = 0; i < values.length; i++) {
      const text = textOf(got[i]!);
      let frame: { op?: string; channel?: string; data?: unknown };
      try {
        frame = JSON.parse(text) as typeof frame;
      } catch {
        throw new CheckFailure(`message ${i}: our reader reported bytes that are not one frame: ${JSON.stringify(text.slice(0, 200))}`);
      }
      if (frame.op !== "msg" || frame.channel !== "check-burst") throw new CheckFailure(`message ${i}: our reader reported ${text.slice(0, 200)}`);
      if (!sameJson(frame.data, values[i])) throw new CheckFailure(`message ${i}: the SDK published ${JSON.stringify(values[i])}, the frame carries ${JSON.stringify(frame.data)}`);
      const dataBytes = encoder.encode(`"data":${JSON.stringify(values[i])}`);
      if (indexOfBytes(got[i]!, dataBytes) < 0) throw new CheckFailure(`message ${i}: the frame does not hold the payload's JSON bytes ${textOf(dataBytes).slice(0, 120)}: ${text.slice(0, 200)}`);
    }
    const burst = raw.slice(messagesBefore);
    const multi = burst.filter((m) => m.includes("\n")).length;
    if (burst.length >= values.length || multi === 0) {
      throw new CheckFailure(`the server did not batch: ${values.length} frames came in ${burst.length} WebSocket messages, none with several frames`);
    }
    verified.push(
      `our reader reports each of ${values.length} SDK publishes (JSON values of 1 to ~5,000 bytes, strings with newlines) as one msg frame, in order, ` +
        `with channel and payload bytes intact, though the server batched them into ${burst.length} WebSocket messages (${multi} with several frames)`,
    );

    // 3. Our publisher's frames, fire-and-forget and acked, received by an SDK subscriber.
    const subscriber = await connect({ url, reconnect: false });
    sdks.push(subscriber);
    const theirs: Message[] = [];
    await subscriber.subscribe("check-ours", (m) => void theirs.push(m));
    const payloads = [stringPayload(64), stringPayload(2), `{"t":12.5,"pad":"xx"}`, `[1,"a\\nb",{"k":null}]`, "42", stringPayload(4000)];
    const pub = await ours.publisher();
    for (const p of payloads) pub.client.send(ours.codec.publisher("check-ours", p)(0));
    await waitFor(`the SDK subscriber to receive our ${payloads.length} publishes`, () => theirs.length >= payloads.length);
    const acked = await oursAcked.publisher();
    let ackedCount = 0;
    acked.sink.ack = () => void ackedCount++;
    const ackedPub = oursAcked.codec.publisher("check-ours", stringPayload(64));
    for (let id = 1; id <= 5; id++) acked.client.send(ackedPub(id));
    await waitFor("the SDK subscriber to receive our acked publishes", () => theirs.length >= payloads.length + 5);
    await waitFor("the server to ack our 5 acked publishes", () => ackedCount >= 5);
    await Bun.sleep(100);
    const expected = [...payloads, ...Array.from({ length: 5 }, () => stringPayload(64))].map((p) => JSON.parse(p) as unknown);
    if (theirs.length !== expected.length) throw new CheckFailure(`we published ${expected.length} messages, the SDK received ${theirs.length}`);
    if (ackedCount !== 5) throw new CheckFailure(`we sent 5 acked publishes, our reader reported ${ackedCount} acks`);
    for (let i = 0; i < expected.length; i++) {
      const m = theirs[i]!;
      if (m.channel !== "check-ours" || !sameJson(m.data, expected[i])) {
        throw new CheckFailure(`message ${i}: we published ${JSON.stringify(expected[i])} on check-ours, the SDK received ${JSON.stringify(m.data)} on ${m.channel}`);
      }
    }
    verified.push(`the SDK receives our publishes (${payloads.length} fire-and-forget, 5 acked) with the right channel and data, and our reader reports each ack`);

    ours.assertClean();
    oursAcked.assertClean();
    if (errors.length) throw new CheckFailure(`the server reported an error to our subscriber: ${errors[0]}`);
    return { system: server.label, client: "Relay SDK (src/sdk)", verified };
  } finally {
    for (const c of sdks) c.close();
    ours.close();
    oursAcked.close();
    await running.stop();
  }
}
