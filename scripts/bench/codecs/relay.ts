/**
 * Relay's JSON protocol (docs/protocol.md), spoken also by the raw Bun server: `welcome` on open,
 * `sub` answered by `ack`, `pub` answered by `ack` only when it carries an id.
 *
 * Why one byte tells a frame's op: both servers write `op` as the first key with no whitespace, so
 * every frame starts `{"op":"` and the op's first letter sits at offset 7 (msg, ack, error, welcome,
 * pong are all distinct there).
 */
import type { Codec, Frame, Sink } from "./codec.ts";

/** Offset of the op's first letter in a frame. */
const OP_AT = 7;
const OP_MSG = 0x6d; // m
const OP_ACK = 0x61; // a
const OP_ERROR = 0x65; // e
const OP_WELCOME = 0x77; // w
const OP_PONG = 0x70; // p

const NEWLINE = 0x0a;

const decoder = new TextDecoder();

/**
 * The codec. With `acks`, every publish carries an id and the server answers it (the mesh bench
 * counts acks to know its probes drained); without, publishes are fire-and-forget like every other
 * system's, so the comparison asks the same work of every server.
 */
export function relayCodec(options: { acks: boolean }): Codec {
  return {
    id: "relay",
    // Version 2, as the SDK speaks it: several frames per WebSocket message (the reader below splits them).
    upgrade: { path: "/", subprotocol: "relay.v2.json" },
    acks: options.acks,
    reader(sink: Sink) {
      const one = (buf: Uint8Array, start: number, end: number): void => {
        const op = end - start > OP_AT ? buf[start + OP_AT] : 0;
        if (op === OP_MSG) sink.msg(buf, start, end);
        else if (op === OP_ACK) sink.ack();
        else if (op === OP_ERROR) sink.error(decoder.decode(buf.subarray(start, Math.min(end, start + 300))));
        else if (op === OP_WELCOME) sink.event("ready");
        else if (op === OP_PONG) sink.event("pong");
      };
      // relay.v2.json: one WebSocket message may hold several frames, one per line (JSON text
      // never holds a raw newline). A v1 message has none, so this reads both.
      return (buf, start, end) => {
        for (;;) {
          const nl = buf.indexOf(NEWLINE, start);
          if (nl === -1 || nl >= end) return one(buf, start, end);
          one(buf, start, nl);
          start = nl + 1;
        }
      };
    },
    async open(conn) {
      await conn.expect("ready", "the welcome frame");
    },
    async subscribe(conn, channel) {
      conn.send(JSON.stringify({ op: "sub", channel, id: 1 }));
      await conn.expect("ack", `the ack of sub ${channel}`);
    },
    publisher(channel, payload): (id: number) => Frame {
      if (!options.acks) {
        const frame = `{"op":"pub","channel":"${channel}","data":${payload}}`;
        return () => frame;
      }
      // Built once per channel, so the hot loop only appends the id and the closing brace.
      const prefix = `{"op":"pub","channel":"${channel}","data":${payload},"id":`;
      return (id) => prefix + id + "}";
    },
  };
}
