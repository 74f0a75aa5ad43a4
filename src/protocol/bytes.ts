/**
 * Byte helpers that run the same in Bun and in browsers (the SDK shares this code),
 * so nothing here may touch Node's Buffer unconditionally.
 */

type Base64Uint8Array = typeof Uint8Array & { fromBase64?: (s: string) => Uint8Array };
type Base64Bytes = Uint8Array & { toBase64?: () => string };

/** Standard base64 (RFC 4648 section 4, with padding) of `bytes`. */
export function toBase64(bytes: Uint8Array): string {
  const native = (bytes as Base64Bytes).toBase64;
  if (typeof native === "function") return native.call(bytes);
  let bin = "";
  // Chunked so String.fromCharCode never gets more arguments than the engine allows.
  for (let i = 0; i < bytes.length; i += 0x8000) {
    bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(bin);
}

/** Decodes standard base64; null when `text` is not valid base64. */
export function fromBase64(text: string): Uint8Array | null {
  try {
    const native = (Uint8Array as Base64Uint8Array).fromBase64;
    if (typeof native === "function") return native(text);
    const bin = atob(text);
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  } catch {
    return null;
  }
}

const encoder = new TextEncoder();
const nodeBuffer = (globalThis as { Buffer?: { byteLength(s: string): number } }).Buffer;

/** UTF-8 length of a string; Buffer.byteLength where it exists because it does not allocate. */
export const utf8Length: (text: string) => number = nodeBuffer
  ? (text) => nodeBuffer.byteLength(text)
  : (text) => encoder.encode(text).length;

/** The parts one after another in one array (a single part is returned as it is, not copied). */
export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  let size = 0;
  for (const p of parts) size += p.byteLength;
  const out = new Uint8Array(size);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}
