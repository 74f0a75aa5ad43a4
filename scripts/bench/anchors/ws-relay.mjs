// The plain `ws` relay anchor: `node ws-relay.mjs --port P`, on 127.0.0.1.
//
// What a developer writes in an afternoon with the `ws` package at its defaults: channels as a map
// of sets, JSON arrays on the wire (scripts/bench/codecs/ws-relay.ts):
//   ["sub", channel]        -> ["ok", channel]
//   ["pub", channel, data]  -> ["msg", channel, data] to every subscriber of the channel
// The outgoing message is serialised once per publish and the same buffer handed to every
// subscriber, as any relay would: serialising per subscriber would measure JSON, not ws.
import { WebSocketServer } from "ws";

const port = Number(process.argv[process.argv.indexOf("--port") + 1]);
/** channel -> the sockets subscribed to it */
const channels = new Map();

const wss = new WebSocketServer({ host: "127.0.0.1", port });
wss.on("connection", (ws) => {
  /** This socket's channels, to leave them on close. */
  const mine = new Set();
  ws.on("message", (raw) => {
    let frame;
    try {
      frame = JSON.parse(raw);
    } catch {
      ws.send(JSON.stringify(["error", "not JSON"]));
      return;
    }
    const [op, channel, data] = Array.isArray(frame) ? frame : [];
    if (typeof channel !== "string") {
      ws.send(JSON.stringify(["error", "bad frame"]));
    } else if (op === "sub") {
      let subs = channels.get(channel);
      if (!subs) channels.set(channel, (subs = new Set()));
      subs.add(ws);
      mine.add(channel);
      ws.send(JSON.stringify(["ok", channel]));
    } else if (op === "pub") {
      const subs = channels.get(channel);
      if (!subs) return;
      const out = Buffer.from(JSON.stringify(["msg", channel, data]));
      for (const peer of subs) peer.send(out, { binary: false });
    } else {
      ws.send(JSON.stringify(["error", "unknown op"]));
    }
  });
  ws.on("close", () => {
    for (const channel of mine) {
      const subs = channels.get(channel);
      subs?.delete(ws);
      if (subs?.size === 0) channels.delete(channel);
    }
  });
});
for (const signal of ["SIGTERM", "SIGINT"]) process.on(signal, () => process.exit(0));
