/**
 * Checks the MQTT codec against mqtt.js, the official MQTT.js client, on a real mosquitto:
 *   - bytes: mqtt.js's CONNECT (same client id and keep-alive), SUBSCRIBE (same packet id) and QoS 0
 *     PUBLISH are byte-identical to what our encoders build;
 *   - both directions: mqtt.js receives exactly the payload we publish, and our reader reports
 *     exactly the payloads mqtt.js publishes, also 300 of mixed sizes (paced: under a burst the
 *     broker may drop QoS 0 messages, to any subscriber).
 */
import mqtt from "mqtt";
import { mosquittoCommand } from "../anchors/mosquitto.ts";
import { encodeConnect, encodePublish, encodeSubscribe, KEEPALIVE_S, mqttCodec } from "../codecs/mqtt.ts";
import { stringPayload } from "../codecs/payload.ts";
import { startServer } from "../servers.ts";
import { CheckFailure, OurSide, bytesOf, hexOf, sameBytes, waitFor, type CheckReport } from "./harness.ts";
import { startRecordingProxy } from "./proxy.ts";

const encoder = new TextEncoder();

/**
 * What the client sent, cut into MQTT packets by their remaining length: mqtt.js writes a packet in
 * several pieces (each a WebSocket message), so messages are not packets.
 */
function packets(bytes: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  let pos = 0;
  while (pos < bytes.length) {
    let len = 0;
    let scale = 1;
    let at = pos + 1;
    for (;;) {
      const b = bytes[at++]!;
      len += (b & 0x7f) * scale;
      scale *= 128;
      if ((b & 0x80) === 0) break;
    }
    out.push(bytes.slice(pos, at + len));
    pos = at + len;
  }
  return out;
}

export async function checkMqtt(binary: string): Promise<CheckReport> {
  const verified: string[] = [];
  const server = await startServer({ label: "mosquitto", command: (port) => mosquittoCommand(binary, port) });
  const proxy = startRecordingProxy(server.port);
  const ours = new OurSide("mqtt", server.port);
  const clientId = "codec-check-mqttjs";
  const official = await mqtt.connectAsync(`ws://127.0.0.1:${proxy.port}/mqtt`, { protocolVersion: 4, clientId, keepalive: KEEPALIVE_S, clean: true, reconnectPeriod: 0 });
  try {
    const payload = stringPayload(64);
    const bytes = encoder.encode(payload);

    const connect = packets(proxy.sentBytes())[0]!;
    if (!sameBytes(connect, encodeConnect(clientId))) throw new CheckFailure(`CONNECT differs: mqtt.js ${hexOf(connect)}, ours ${hexOf(encodeConnect(clientId))}`);
    verified.push("CONNECT byte-identical to mqtt.js's (same client id and keep-alive)");

    const theirs: Uint8Array[] = [];
    official.on("message", (_topic, message) => void theirs.push(new Uint8Array(message)));
    await official.subscribeAsync("check-b", { qos: 0 });
    const subscribe = packets(proxy.sentBytes()).find((m) => m[0] === 0x82);
    if (!subscribe) throw new CheckFailure("mqtt.js sent no SUBSCRIBE");
    const packetId = (subscribe[2]! << 8) | subscribe[3]!;
    if (!sameBytes(subscribe, encodeSubscribe(packetId, "check-b"))) throw new CheckFailure(`SUBSCRIBE differs: mqtt.js ${hexOf(subscribe)}, ours ${hexOf(encodeSubscribe(packetId, "check-b"))}`);
    verified.push("SUBSCRIBE (QoS 0) byte-identical to mqtt.js's for the same packet id");

    await official.publishAsync("check-a", Buffer.from(bytes), { qos: 0 });
    const published = (): Uint8Array | undefined => packets(proxy.sentBytes()).find((m) => m[0] === 0x30);
    await waitFor("mqtt.js's PUBLISH to pass the proxy", () => published() !== undefined);
    const ourPub = bytesOf(mqttCodec.publisher("check-a", payload)(1));
    if (!sameBytes(ourPub, encodePublish("check-a", bytes)) || !sameBytes(published()!, ourPub)) {
      throw new CheckFailure(`mqtt.js's PUBLISH is not ours (${hexOf(ourPub)}): it sent ${hexOf(published()!)}`);
    }
    verified.push("PUBLISH (QoS 0) byte-identical to mqtt.js's");

    const pub = await ours.publisher();
    pub.client.send(ourPub.slice());
    const toB = bytesOf(mqttCodec.publisher("check-b", payload)(1));
    pub.client.send(toB);
    await waitFor("mqtt.js to receive our publish", () => theirs.length === 1);
    if (!sameBytes(theirs[0]!, bytes)) throw new CheckFailure(`mqtt.js received ${hexOf(theirs[0]!)}, we sent ${payload}`);
    verified.push("mqtt.js receives our PUBLISH's payload byte for byte");

    const got: Uint8Array[] = [];
    await ours.subscriber("check-c", got);
    const sizes = Array.from({ length: 300 }, (_, i) => [0, 1, 64, 200, 20000][i % 5]!);
    const sent = sizes.map((n, i) => encoder.encode(`${i}:`.padEnd(Math.max(n, String(i).length + 1), "z")));
    // Paced: under a burst mosquitto drops QoS 0 messages (at most once allows it; an mqtt.js
    // subscriber loses them too), and a dropped message would fail the check for the broker's sake.
    for (const [i, b] of sent.entries()) {
      await official.publishAsync("check-c", Buffer.from(b), { qos: 0 });
      if (i % 10 === 9) await waitFor("the broker to deliver what was published", () => got.length > i - 10, 10_000);
    }
    await waitFor("our reader to report 300 messages", () => got.length === sent.length).catch((err: Error) => {
      const lost = sent.findIndex((b, i) => !got[i] || !sameBytes(b, got[i]!));
      throw new CheckFailure(`${err.message}: got ${got.length}; the first not received intact is message ${lost} (${sent[lost]?.length} bytes)`);
    });
    const bad = sent.findIndex((b, i) => !sameBytes(b, got[i]!));
    if (bad >= 0) throw new CheckFailure(`message ${bad}: mqtt.js sent ${sent[bad]!.length} bytes, our reader reported ${got[bad]!.length}`);
    verified.push("our reader reports exactly the payloads mqtt.js publishes (300, 0 to 20,000 bytes; remaining lengths of 1 to 3 bytes)");

    ours.assertClean();
    return { system: "mosquitto", client: "mqtt (MQTT.js)", verified };
  } finally {
    await official.endAsync(true);
    ours.close();
    proxy.stop();
    await server.stop();
  }
}
