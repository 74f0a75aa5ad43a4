/**
 * Payloads the generator publishes, the same bytes for every system: a JSON text that protocols with
 * JSON envelopes (Relay, Socket.IO, the ws relay) embed as a value and byte protocols (NATS, MQTT)
 * carry as the raw payload. So "64-byte payload" means the same 64 bytes on every wire.
 */

/** A JSON string whose text (quotes included) is exactly `bytes` long. */
export function stringPayload(bytes: number): string {
  const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789";
  let s = "";
  for (let i = 0; i < bytes - 2; i++) s += alphabet[i % alphabet.length];
  return JSON.stringify(s);
}

/** `{"t":<send time>,"pad":"..."}` padded to about `bytes` bytes: a latency probe carrying performance.now(). */
export function timedPayload(sentAt: number, bytes: number): string {
  const head = `{"t":${sentAt.toFixed(4)},"pad":"`;
  return head + "x".repeat(Math.max(0, bytes - head.length - 2)) + `"}`;
}

const T_KEY = [0x22, 0x74, 0x22, 0x3a]; // "t":

/**
 * The send time inside a delivered message, whatever envelope wraps the payload: the number after
 * the first `"t":` in bytes [start, end). No envelope of the systems under test has a key "t" of its
 * own, so the first one is the payload's. NaN when there is none.
 */
export function sentTimeOf(buf: Uint8Array, start: number, end: number): number {
  outer: for (let i = start; i + 4 < end; i++) {
    for (let j = 0; j < 4; j++) if (buf[i + j] !== T_KEY[j]) continue outer;
    let k = i + 4;
    let s = "";
    for (; k < end; k++) {
      const c = buf[k]!;
      if ((c >= 0x30 && c <= 0x39) || c === 0x2e || c === 0x2d || c === 0x65 || c === 0x2b) s += String.fromCharCode(c);
      else break;
    }
    return s ? Number(s) : NaN;
  }
  return NaN;
}
