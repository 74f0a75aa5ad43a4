/**
 * Checks the Socket.IO codec against socket.io-client, the official client, on the bench's own
 * Socket.IO anchor with pings every 250 ms:
 *   - bytes: socket.io-client's namespace connect ("40"), its "pub" event and its "sub" event (bar
 *     the ack id, which it numbers from 0) are the frames our codec sends;
 *   - both directions: socket.io-client receives our publish as ("msg", channel, data) with the data
 *     we sent, and our reader reports exactly the frame the server emits for its publish;
 *   - keepalive: our connections answer the Engine.IO pings and stay open.
 */
import { io } from "socket.io-client";
import { stringPayload } from "../codecs/payload.ts";
import { socketioCodec } from "../codecs/socketio.ts";
import { startServer } from "../servers.ts";
import { SOCKETIO } from "../systems.ts";
import { CheckFailure, OurSide, bytesOf, textOf, waitFor, type CheckReport } from "./harness.ts";
import { startRecordingProxy } from "./proxy.ts";

export async function checkSocketio(): Promise<CheckReport> {
  const verified: string[] = [];
  const server = await startServer({ label: "Socket.IO", command: (port) => [...SOCKETIO.command(port), "--ping-interval", "250"] });
  const proxy = startRecordingProxy(server.port);
  const ours = new OurSide("socketio", server.port);
  const official = io(`http://127.0.0.1:${proxy.port}`, { transports: ["websocket"], reconnection: false });
  try {
    await new Promise<void>((resolve, reject) => {
      official.on("connect", resolve);
      official.on("connect_error", reject);
    });
    const sentText = (): string[] => proxy.sent.map(textOf);
    if (sentText()[0] !== "40") throw new CheckFailure(`socket.io-client's first frame was ${JSON.stringify(sentText()[0])}, ours is "40"`);
    verified.push('namespace connect "40" identical to socket.io-client\'s');

    const payload = stringPayload(64);
    const data = JSON.parse(payload) as string;
    const theirs: unknown[][] = [];
    official.on("msg", (...args: unknown[]) => void theirs.push(args));
    await official.emitWithAck("sub", "check-b");
    const sub = sentText().find((t) => t.includes('"sub"'))!;
    const ourSub = "421" + JSON.stringify(["sub", "check-b"]);
    if (sub.replace(/^42\d*/, "42") !== ourSub.replace(/^42\d*/, "42")) throw new CheckFailure(`sub differs: socket.io-client ${sub}, ours ${ourSub}`);
    verified.push(`"sub" event with ack identical to socket.io-client's bar the ack id (${sub} vs ${ourSub})`);

    official.emit("pub", "check-a", data);
    await waitFor("socket.io-client's pub to pass the proxy", () => sentText().some((t) => t.includes('"pub"')));
    const ourPub = textOf(bytesOf(socketioCodec.publisher("check-a", payload)(1)));
    const theirPub = sentText().find((t) => t.includes('"pub"'))!;
    if (theirPub !== ourPub) throw new CheckFailure(`pub differs: socket.io-client ${theirPub}, ours ${ourPub}`);
    verified.push('"pub" event frame identical to socket.io-client\'s');

    const pub = await ours.publisher();
    pub.client.send(socketioCodec.publisher("check-b", payload)(1));
    await waitFor("socket.io-client to receive our publish", () => theirs.length === 1);
    if (JSON.stringify(theirs[0]) !== JSON.stringify(["check-b", data])) throw new CheckFailure(`socket.io-client received ${JSON.stringify(theirs[0])}`);
    verified.push('socket.io-client receives our publish as ("msg", channel, data) with our data');

    const got: Uint8Array[] = [];
    await ours.subscriber("check-c", got);
    official.emit("pub", "check-c", data);
    await waitFor("our reader to report the message", () => got.length === 1);
    const expected = `42${JSON.stringify(["msg", "check-c", data])}`;
    if (textOf(got[0]!) !== expected) throw new CheckFailure(`our reader reported ${textOf(got[0]!)}, expected ${expected}`);
    verified.push("our reader reports the server's emit for socket.io-client's publish, frame for frame");

    await Bun.sleep(1_000);
    ours.assertClean();
    verified.push("our connections answer Engine.IO pings (250 ms interval) and stay open");
    return { system: "Socket.IO", client: "socket.io-client", verified };
  } finally {
    official.close();
    ours.close();
    proxy.stop();
    await server.stop();
  }
}
