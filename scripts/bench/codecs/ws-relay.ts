/**
 * The plain `ws` relay's own protocol (scripts/bench/anchors/ws-relay.mjs): JSON arrays, the
 * smallest protocol that does the job.
 *   client: ["sub", channel]          server: ["ok", channel]
 *   client: ["pub", channel, data]    server, to every subscriber: ["msg", channel, data]
 * A connection is ready as soon as the upgrade completes.
 */
import type { Codec } from "./codec.ts";

const OP_AT = 2; // the op's first letter: ["m..., ["o...
const OP_MSG = 0x6d; // m
const OP_OK = 0x6f; // o
const OP_ERR = 0x65; // e

const decoder = new TextDecoder();

export const wsRelayCodec: Codec = {
  id: "ws-relay",
  upgrade: { path: "/", subprotocol: null },
  acks: false,
  reader(sink) {
    return (buf, start, end) => {
      const op = buf[start + OP_AT];
      if (op === OP_MSG) sink.msg(buf, start, end);
      else if (op === OP_OK) sink.ack();
      else if (op === OP_ERR) sink.error(decoder.decode(buf.subarray(start, Math.min(end, start + 300))));
    };
  },
  async open() {
    // Nothing to wait for: the relay needs no handshake beyond the upgrade.
  },
  async subscribe(conn, channel) {
    conn.send(JSON.stringify(["sub", channel]));
    await conn.expect("ack", `the ok of sub ${channel}`);
  },
  publisher(channel, payload) {
    const frame = `["pub",${JSON.stringify(channel)},${payload}]`;
    return () => frame;
  },
};
