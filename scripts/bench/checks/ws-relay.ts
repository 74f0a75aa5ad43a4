/**
 * Checks the ws relay codec against the official `ws` client speaking the same JSON-array
 * protocol to the bench's ws relay anchor:
 *   - bytes: the "pub" frame the `ws` client sends is the one our codec builds;
 *   - both directions: the `ws` client receives ["msg", channel, data] for our publish, and our
 *     reader reports exactly the frame the relay sends for the `ws` client's publish.
 */
import WebSocket from "ws";
import { stringPayload } from "../codecs/payload.ts";
import { wsRelayCodec } from "../codecs/ws-relay.ts";
import { startServer } from "../servers.ts";
import { WS_RELAY } from "../systems.ts";
import { CheckFailure, OurSide, bytesOf, textOf, waitFor, type CheckReport } from "./harness.ts";
import { startRecordingProxy } from "./proxy.ts";

export async function checkWsRelay(): Promise<CheckReport> {
  const verified: string[] = [];
  const server = await startServer(WS_RELAY);
  const proxy = startRecordingProxy(server.port);
  const ours = new OurSide("ws-relay", server.port);
  const official = new WebSocket(`ws://127.0.0.1:${proxy.port}/`);
  const theirs: string[] = [];
  official.on("message", (m: Buffer) => void theirs.push(m.toString()));
  try {
    await new Promise<void>((resolve, reject) => {
      official.once("open", () => resolve());
      official.once("error", reject);
    });
    const payload = stringPayload(64);
    const data = JSON.parse(payload) as string;

    official.send(JSON.stringify(["pub", "check-a", data]));
    await waitFor("the ws client's pub to pass the proxy", () => proxy.sent.length === 1);
    const ourPub = textOf(bytesOf(wsRelayCodec.publisher("check-a", payload)(1)));
    if (textOf(proxy.sent[0]!) !== ourPub) throw new CheckFailure(`pub differs: ws ${textOf(proxy.sent[0]!)}, ours ${ourPub}`);
    verified.push("pub frame identical to the one the ws client sends");

    official.send(JSON.stringify(["sub", "check-b"]));
    await waitFor("the relay's ok to the ws client", () => theirs.length === 1);
    if (theirs[0] !== JSON.stringify(["ok", "check-b"])) throw new CheckFailure(`the ws client got ${theirs[0]} for its sub`);
    const pub = await ours.publisher();
    pub.client.send(wsRelayCodec.publisher("check-b", payload)(1));
    await waitFor("the ws client to receive our publish", () => theirs.length === 2);
    if (theirs[1] !== JSON.stringify(["msg", "check-b", data])) throw new CheckFailure(`the ws client received ${theirs[1]}`);
    verified.push('the ws client receives ["msg", channel, data] for our publish');

    const got: Uint8Array[] = [];
    await ours.subscriber("check-c", got);
    official.send(JSON.stringify(["pub", "check-c", data]));
    await waitFor("our reader to report the message", () => got.length === 1);
    if (textOf(got[0]!) !== JSON.stringify(["msg", "check-c", data])) throw new CheckFailure(`our reader reported ${textOf(got[0]!)}`);
    verified.push("our reader reports the relay's frame for the ws client's publish, byte for byte");

    ours.assertClean();
    return { system: "ws relay", client: "ws", verified };
  } finally {
    official.close();
    ours.close();
    proxy.stop();
    await server.stop();
  }
}
