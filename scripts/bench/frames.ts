/**
 * The few pieces of the client protocol the load generator needs (docs/protocol.md is the spec):
 * telling a frame's op from one byte, building publish frames, and recording error frames.
 *
 * Why one byte is enough: both servers write `op` as the first key with no whitespace, so every
 * frame starts `{"op":"` and the op's first letter sits at offset 7 (msg, ack, error, welcome,
 * pong are all distinct there). Parsing JSON per delivered message would make the generator the
 * bottleneck; the setup path (welcome, sub acks) still parses properly.
 */
import type { ErrorTally } from "./types.ts";

/** Offset of the op's first letter in a frame. */
const OP_AT = 7;
export const OP_MSG = 0x6d; // m
export const OP_ACK = 0x61; // a
export const OP_ERROR = 0x65; // e
export const OP_WELCOME = 0x77; // w

/** The op letter of a frame held in bytes [start, end) of buf; 0 if the frame is too short. */
export function opOf(buf: Uint8Array, start: number, end: number): number {
  return end - start > OP_AT ? buf[start + OP_AT]! : 0;
}

const decoder = new TextDecoder();

/** Parses a frame as JSON (setup and latency paths only, never per delivery in throughput runs). */
export function parseFrame(buf: Uint8Array, start: number, end: number): Record<string, unknown> {
  return JSON.parse(decoder.decode(buf.subarray(start, end))) as Record<string, unknown>;
}

/** A string payload whose JSON text (quotes included) is exactly `bytes` long. */
export function stringPayload(bytes: number): string {
  const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789";
  let s = "";
  for (let i = 0; i < bytes - 2; i++) s += alphabet[i % alphabet.length];
  return JSON.stringify(s);
}

/**
 * Everything of a publish frame except the id and the closing brace, built once per channel so
 * the hot loop only appends `${id}}`.
 */
export function publishPrefix(channel: string, payloadJson: string): string {
  return `{"op":"pub","channel":"${channel}","data":${payloadJson},"id":`;
}

/** Collects error frames: the count and the first one's text. */
export class ErrorLog implements ErrorTally {
  count = 0;
  first: string | null = null;

  add(buf: Uint8Array, start: number, end: number): void {
    this.count++;
    this.first ??= decoder.decode(buf.subarray(start, Math.min(end, start + 300)));
  }

  note(text: string): void {
    this.count++;
    this.first ??= text;
  }

  toJSON(): ErrorTally {
    return { count: this.count, first: this.first };
  }
}
