/**
 * Socket.IO 4 (Engine.IO v4) over the websocket transport only, no polling first:
 * `/socket.io/?EIO=4&transport=websocket`. One WebSocket text message is one Engine.IO packet:
 *   "0{...}"  open (sid, pingInterval)      "2" / "3"  ping from the server / our pong
 *   "40"      connect to the main namespace, answered "40{"sid":...}"
 *   "42[...]" an event: ["sub", channel] (with ack id 1: "421[...]", answered "431[]"),
 *             ["pub", channel, data], and from the server ["msg", channel, data]
 * The event names are the anchor's (scripts/bench/anchors/socketio-server.mjs).
 *
 * scripts/bench/checks/socketio.ts compares these frames with what socket.io-client and
 * socket.io-parser produce.
 */
import type { Codec, Frame, Sink } from "./codec.ts";

const C0 = 0x30; // '0' Engine.IO open; after '4': Socket.IO CONNECT
const C1 = 0x31; // '1' Engine.IO close
const C2 = 0x32; // '2' Engine.IO ping; after '4': Socket.IO EVENT
const C3 = 0x33; // '3' after '4': Socket.IO ACK
const C4 = 0x34; // '4' Engine.IO message; after '4': Socket.IO CONNECT_ERROR

export const SOCKETIO_PATH = "/socket.io/?EIO=4&transport=websocket";

const decoder = new TextDecoder();

export const socketioCodec: Codec = {
  id: "socketio",
  upgrade: { path: SOCKETIO_PATH, subprotocol: null },
  acks: false,
  reader(sink: Sink, reply: (frame: Frame) => void) {
    return (buf, start, end) => {
      const engine = buf[start];
      if (engine === C4) {
        const packet = buf[start + 1];
        // The anchor emits only "msg" events, so any EVENT is a delivery.
        if (packet === C2) sink.msg(buf, start, end);
        else if (packet === C3) sink.ack();
        else if (packet === C0) sink.event("ready");
        else if (packet === C4) sink.error(decoder.decode(buf.subarray(start, end)));
      } else if (engine === C2) {
        // Unanswered pings make the server close the connection after pingTimeout.
        reply("3");
      } else if (engine === C0) {
        sink.event("open");
      } else if (engine === C1) {
        sink.error("the server closed the Engine.IO session");
      }
    };
  },
  async open(conn) {
    await conn.expect("open", "the Engine.IO open packet");
    conn.send("40");
    await conn.expect("ready", "the Socket.IO CONNECT answer");
  },
  async subscribe(conn, channel) {
    conn.send(`421${JSON.stringify(["sub", channel])}`);
    await conn.expect("ack", `the ack of sub ${channel}`);
  },
  publisher(channel, payload) {
    const frame = `42["pub",${JSON.stringify(channel)},${payload}]`;
    return () => frame;
  },
};
