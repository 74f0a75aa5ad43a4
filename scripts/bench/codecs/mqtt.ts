/**
 * MQTT 3.1.1 over WebSocket (subprotocol "mqtt", binary messages), QoS 0: CONNECT/CONNACK,
 * SUBSCRIBE/SUBACK, PUBLISH, PINGREQ/PINGRESP. The WebSocket is a byte stream here too (MQTT over
 * WebSocket lets one message carry several packets or part of one), so the reader keeps a tail.
 *
 * The encoders are pure and exported: scripts/bench/checks/mqtt.ts compares their bytes with
 * mqtt-packet's, the encoder of the official mqtt.js client.
 */
import type { Codec, Frame, Sink } from "./codec.ts";

/** Packet types (the high nibble of the first byte), MQTT 3.1.1 section 2.2.1. */
const CONNACK = 2;
const PUBLISH = 3;
const SUBACK = 9;
const PINGRESP = 13;

/**
 * Keep-alive declared in CONNECT, seconds. Longer than any run, so an idle connection of the memory
 * scenario is never dropped for silence; the broker's per-client check costs the same at any value.
 */
export const KEEPALIVE_S = 600;

const encoder = new TextEncoder();

/** The variable-length "remaining length" (section 2.2.3). */
function remainingLength(n: number): number[] {
  const out: number[] = [];
  do {
    let byte = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) byte |= 0x80;
    out.push(byte);
  } while (n > 0);
  return out;
}

/** A UTF-8 string with its 2-byte length prefix (section 1.5.3). */
function str(s: string): number[] {
  const b = encoder.encode(s);
  return [b.length >> 8, b.length & 0xff, ...b];
}

function packet(first: number, body: number[] | Uint8Array): Uint8Array {
  const len = remainingLength(body.length);
  const out = new Uint8Array(1 + len.length + body.length);
  out[0] = first;
  out.set(len, 1);
  out.set(body, 1 + len.length);
  return out;
}

/** CONNECT, protocol level 4 (3.1.1), clean session, no will, no credentials. */
export function encodeConnect(clientId: string, keepAliveS = KEEPALIVE_S): Uint8Array {
  return packet(0x10, [...str("MQTT"), 4, 0x02, keepAliveS >> 8, keepAliveS & 0xff, ...str(clientId)]);
}

/** SUBSCRIBE one topic at QoS 0 (the fixed header's flags must be 0010). */
export function encodeSubscribe(packetId: number, topic: string): Uint8Array {
  return packet(0x82, [packetId >> 8, packetId & 0xff, ...str(topic), 0]);
}

/** PUBLISH at QoS 0: no packet id, no retain, no dup. */
export function encodePublish(topic: string, payload: Uint8Array): Uint8Array {
  const t = str(topic);
  const body = new Uint8Array(t.length + payload.length);
  body.set(t, 0);
  body.set(payload, t.length);
  return packet(0x30, body);
}

export const PINGREQ = new Uint8Array([0xc0, 0x00]);

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

let clientSeq = 0;
const clientTag = crypto.getRandomValues(new Uint32Array(1))[0]!.toString(36);

export const mqttCodec: Codec = {
  id: "mqtt",
  upgrade: { path: "/mqtt", subprotocol: "mqtt" },
  acks: false,
  reader(sink: Sink) {
    /** Bytes of an incomplete packet, carried to the next message. */
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
      while (end - pos >= 2) {
        const first = buf[pos]!;
        let len = 0;
        let scale = 1;
        let at = pos + 1;
        let complete = false;
        for (let i = 0; i < 4 && at < end; i++) {
          const b = buf[at++]!;
          len += (b & 0x7f) * scale;
          scale *= 128;
          if ((b & 0x80) === 0) {
            complete = true;
            break;
          }
        }
        if (!complete || at + len > end) break;
        const bodyEnd = at + len;
        const type = first >> 4;
        if (type === PUBLISH) {
          // Topic (2-byte length + bytes), a packet id only at QoS > 0, then the payload.
          const topicLen = (buf[at]! << 8) | buf[at + 1]!;
          const qos = (first >> 1) & 3;
          sink.msg(buf, at + 2 + topicLen + (qos > 0 ? 2 : 0), bodyEnd);
        } else if (type === CONNACK) {
          const code = buf[at + 1];
          if (code === 0) sink.event("ready");
          else sink.error(`CONNACK refused the connection with return code ${code}`);
        } else if (type === SUBACK) {
          const granted = buf[bodyEnd - 1];
          if (granted === 0x80) sink.error("SUBACK refused the subscription (0x80)");
          else sink.event("subscribed");
        } else if (type === PINGRESP) {
          sink.event("pong");
        } else {
          sink.error(`unexpected MQTT packet type ${type}`);
        }
        pos = bodyEnd;
      }
      if (pos < end) rest = buf.slice(pos, end);
    };
  },
  async open(conn) {
    conn.send(encodeConnect(`bench-${clientTag}-${++clientSeq}`));
    await conn.expect("ready", "CONNACK");
  },
  async subscribe(conn, channel) {
    conn.send(encodeSubscribe(1, channel));
    await conn.expect("subscribed", `SUBACK for ${channel}`);
  },
  publisher(channel, payload) {
    const frame = encodePublish(channel, encoder.encode(payload));
    return () => frame;
  },
};

