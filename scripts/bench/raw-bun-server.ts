/**
 * The ceiling: the least a Bun.serve pub/sub server can do while speaking Relay's JSON frames.
 * `bun scripts/bench/raw-bun-server.ts --port P`. No validation, limits, metrics or sessions;
 * Relay's cost is measured against this.
 */
const port = Number(process.argv[process.argv.indexOf("--port") + 1]);
// Client ids shaped like Relay's (random tag + counter), so `msg` frames are the same size.
const tag = crypto.getRandomValues(new Uint32Array(1))[0]!.toString(36);
let next = 0;

const server = Bun.serve<{ id: string }>({
  hostname: "127.0.0.1",
  port,
  fetch(req, srv) {
    return srv.upgrade(req, { data: { id: `${tag}.${(next++).toString(36)}` } }) ? undefined : new Response("WebSocket only", { status: 426 });
  },
  websocket: {
    open(ws) {
      ws.send(JSON.stringify({ op: "welcome", v: 1, client: ws.data.id }));
    },
    message(ws, raw) {
      const f = JSON.parse(String(raw)) as { op: string; channel: string; data?: unknown; id?: number | string };
      if (f.op === "sub") ws.subscribe(f.channel);
      // The msg frame is built once and handed to Bun's native fan-out, as Relay does.
      else if (f.op === "pub") server.publish(f.channel, `{"op":"msg","channel":"${f.channel}","from":"${ws.data.id}","data":${JSON.stringify(f.data)}}`);
      if (f.id !== undefined) ws.send(JSON.stringify({ op: "ack", id: f.id }));
    },
  },
});
