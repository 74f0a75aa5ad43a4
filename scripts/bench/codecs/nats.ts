/**
 * The NATS client protocol (text: INFO, CONNECT, SUB, PUB, MSG, PING, PONG, +OK, -ERR) over
 * nats-server's WebSocket listener, where the WebSocket is only a byte stream: one message may
 * carry many protocol lines, and a line or a payload may continue in the next message. The reader
 * is therefore a small state machine over a carried-over tail, as the official client's parser is.
 *
 * Connection setup follows the official client: wait for INFO, send CONNECT (verbose off, so no
 * +OK per command) and PING, and treat the PONG as "the server has processed everything before it";
 * a SUB is confirmed the same way (SUB + PING, wait for PONG). Publishes are core NATS PUBs: no
 * answer, like MQTT QoS 0.
 */
import type { Codec, Frame, Sink } from "./codec.ts";

const CR = 0x0d;
const M = 0x4d;
const P = 0x50;
const I = 0x49;
const MINUS = 0x2d;

const decoder = new TextDecoder();
const encoder = new TextEncoder();

/** What CONNECT declares: no verbose acks, no headers, nothing the bench does not use. */
export const NATS_CONNECT = {
  verbose: false,
  pedantic: false,
  tls_required: false,
  name: "relay-bench",
  lang: "relay-bench",
  version: "1.0.0",
  protocol: 1,
  echo: true,
  headers: false,
  no_responders: false,
};

/** The subscription id every bench connection uses (each subscribes to one subject). */
const SID = "1";

function indexOfCr(buf: Uint8Array, from: number, end: number): number {
  for (let i = from; i < end; i++) if (buf[i] === CR) return i;
  return -1;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

export const natsCodec: Codec = {
  id: "nats",
  upgrade: { path: "/", subprotocol: null },
  acks: false,
  reader(sink: Sink, reply: (frame: Frame) => void) {
    /** Bytes of an incomplete line or payload, carried to the next message. */
    let rest: Uint8Array | null = null;
    return (chunk, start, end) => {
      let buf = chunk;
      let pos = start;
      if (rest) {
        buf = concat(rest, chunk.subarray(start, end));
        rest = null;
        pos = 0;
        end = buf.length;
      }
      while (pos < end) {
        const eol = indexOfCr(buf, pos, end);
        if (eol < 0 || eol + 1 >= end) break;
        const first = buf[pos];
        if (first === M) {
          // MSG <subject> <sid> [reply-to] <#bytes>\r\n<payload>\r\n: the byte count ends the line.
          let n = 0;
          let scale = 1;
          for (let k = eol - 1; k > pos; k--) {
            const d = buf[k]! - 0x30;
            if (d < 0 || d > 9) break;
            n += d * scale;
            scale *= 10;
          }
          const payloadStart = eol + 2;
          const payloadEnd = payloadStart + n;
          if (payloadEnd + 2 > end) break;
          sink.msg(buf, payloadStart, payloadEnd);
          pos = payloadEnd + 2;
          continue;
        }
        if (first === P) {
          // PING must be answered, or the server closes the connection after max_pings_out.
          if (buf[pos + 1] === I) reply("PONG\r\n");
          else sink.event("pong");
        } else if (first === I) {
          sink.event("info");
        } else if (first === MINUS) {
          sink.error(decoder.decode(buf.subarray(pos, eol)));
        }
        // +OK (only with verbose, which is off) and anything else: nothing to do.
        pos = eol + 2;
      }
      if (pos < end) rest = buf.slice(pos, end);
    };
  },
  async open(conn) {
    await conn.expect("info", "the INFO line");
    conn.send(`CONNECT ${JSON.stringify(NATS_CONNECT)}\r\nPING\r\n`);
    await conn.expect("pong", "the PONG after CONNECT");
  },
  async subscribe(conn, channel) {
    conn.send(`SUB ${channel} ${SID}\r\nPING\r\n`);
    await conn.expect("pong", `the PONG after SUB ${channel}`);
  },
  publisher(channel, payload) {
    const frame = `PUB ${channel} ${encoder.encode(payload).length}\r\n${payload}\r\n`;
    return () => frame;
  },
};
