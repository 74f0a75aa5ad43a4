/**
 * The ceiling: the least a Bun.serve pub/sub server can do while speaking Relay's JSON frames.
 * `bun scripts/bench/raw-bun-server.ts --port P`. No validation, limits, metrics or sessions;
 * Relay's cost is measured against this.
 *
 * It speaks both versions as Relay does: a client that asks for relay.v2.json (the bench's codec,
 * like the SDK) gets the messages of one event-loop turn joined by newlines into one WebSocket
 * message per channel, the same batching Relay does, so the ratio measures Relay's own overhead.
 */
const port = Number(process.argv[process.argv.indexOf("--port") + 1]);
// Client ids shaped like Relay's (random tag + counter), so `msg` frames are the same size.
const tag = crypto.getRandomValues(new Uint32Array(1))[0]!.toString(36);
let next = 0;
let seq = 0;

/** Frames of this turn per v2 topic; flushed at the end of the turn. */
const pending = new Map<string, string[]>();
let flushScheduled = false;
function flush(): void {
  flushScheduled = false;
  for (const [topic, frames] of pending) server.publish(topic, frames.join("\n"));
  pending.clear();
}

const server = Bun.serve<{ id: string; v2: boolean }>({
  hostname: "127.0.0.1",
  port,
  fetch(req, srv) {
    const v2 = (req.headers.get("sec-websocket-protocol") ?? "").includes("relay.v2.json");
    const headers = v2 ? { "sec-websocket-protocol": "relay.v2.json" } : undefined;
    return srv.upgrade(req, { data: { id: `${tag}.${(next++).toString(36)}`, v2 }, headers }) ? undefined : new Response("WebSocket only", { status: 426 });
  },
  websocket: {
    open(ws) {
      ws.send(JSON.stringify({ op: "welcome", v: ws.data.v2 ? 2 : 1, client: ws.data.id }));
    },
    message(ws, raw) {
      const f = JSON.parse(String(raw)) as { op: string; channel: string; data?: unknown; id?: number | string };
      if (f.op === "sub") ws.subscribe((ws.data.v2 ? "J" : "j") + f.channel);
      else if (f.op === "pub") {
        // The msg frame is built once, with the publisher's sequence number as Relay sends it.
        const frame = `{"op":"msg","channel":"${f.channel}","from":"${ws.data.id}","n":${++seq},"data":${JSON.stringify(f.data)}}`;
        server.publish("j" + f.channel, frame);
        const topic = "J" + f.channel;
        const batch = pending.get(topic);
        if (batch) batch.push(frame);
        else pending.set(topic, [frame]);
        if (!flushScheduled) {
          flushScheduled = true;
          setImmediate(flush);
        }
      }
      if (f.id !== undefined) ws.send(JSON.stringify({ op: "ack", id: f.id }));
    },
  },
});
