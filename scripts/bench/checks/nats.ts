/**
 * Checks the NATS codec against nats.ws, the official NATS WebSocket client, on a real nats-server:
 *   - bytes: the PUB our codec builds appears verbatim in what nats.ws sends for the same publish;
 *   - both directions: nats.ws receives exactly the payload we publish, and our reader reports
 *     exactly the payloads nats.ws publishes, also 500 of mixed sizes sent at once (so MSGs share
 *     WebSocket messages and cross their boundaries);
 *   - keepalive: with the server pinging every 250 ms, our connections stay open (PONG answered).
 */
import { connect } from "nats.ws";
import { natsCommand } from "../anchors/nats.ts";
import { natsCodec } from "../codecs/nats.ts";
import { stringPayload } from "../codecs/payload.ts";
import { startServer } from "../servers.ts";
import { CheckFailure, OurSide, bytesOf, indexOfBytes, sameBytes, textOf, waitFor, type CheckReport } from "./harness.ts";
import { startRecordingProxy } from "./proxy.ts";

const encoder = new TextEncoder();

export async function checkNats(binary: string): Promise<CheckReport> {
  const verified: string[] = [];
  const server = await startServer({
    label: "nats-server",
    command: (port) => natsCommand(binary, "codec-check", { ws: port }, [], ['ping_interval: "250ms"', "ping_max: 2"]),
  });
  const proxy = startRecordingProxy(server.port);
  const ours = new OurSide("nats", server.port);
  const official = await connect({ servers: `ws://127.0.0.1:${proxy.port}` });
  try {
    const payload = stringPayload(64);
    const bytes = encoder.encode(payload);

    official.publish("check-a", bytes);
    await official.flush();
    const ourPub = bytesOf(natsCodec.publisher("check-a", payload)(1));
    if (indexOfBytes(proxy.sentBytes(), ourPub) < 0) {
      throw new CheckFailure(`nats.ws did not send our PUB bytes ${JSON.stringify(textOf(ourPub))}; it sent ${JSON.stringify(textOf(proxy.sentBytes()))}`);
    }
    verified.push("PUB frame byte-identical to the one nats.ws sends");

    const theirs: Uint8Array[] = [];
    const sub = official.subscribe("check-b");
    void (async () => {
      for await (const m of sub) theirs.push(m.data);
    })();
    await official.flush();
    const pub = await ours.publisher();
    pub.client.send(natsCodec.publisher("check-b", payload)(1));
    await waitFor("nats.ws to receive our publish", () => theirs.length === 1);
    if (!sameBytes(theirs[0]!, bytes)) throw new CheckFailure(`nats.ws received ${JSON.stringify(textOf(theirs[0]!))}, we sent ${payload}`);
    verified.push("nats.ws receives our PUB's payload byte for byte");

    const got: Uint8Array[] = [];
    await ours.subscriber("check-c", got);
    const sizes = Array.from({ length: 500 }, (_, i) => [0, 1, 64, 1000, 5000][i % 5]!);
    const sent = sizes.map((n, i) => encoder.encode(`${i}:`.padEnd(Math.max(n, String(i).length + 1), "z")));
    for (const b of sent) official.publish("check-c", b);
    await official.flush();
    await waitFor("our reader to report 500 messages", () => got.length === sent.length);
    const bad = sent.findIndex((b, i) => !sameBytes(b, got[i]!));
    if (bad >= 0) throw new CheckFailure(`message ${bad}: nats.ws sent ${sent[bad]!.length} bytes, our reader reported ${got[bad]!.length}: ${JSON.stringify(textOf(got[bad]!).slice(0, 80))}`);
    verified.push("our reader reports exactly the payloads nats.ws publishes (500, 0 to 5,000 bytes, sharing and crossing WebSocket messages)");

    await Bun.sleep(1_200);
    ours.assertClean();
    verified.push("our connections answer the server's PINGs (250 ms interval, ping_max 2) and stay open");
    return { system: "nats-server", client: "nats.ws", verified };
  } finally {
    await official.close();
    ours.close();
    proxy.stop();
    await server.stop();
  }
}
