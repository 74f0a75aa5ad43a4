/**
 * Nesting checks that run before a decoder allocates. A MessagePack or JSON text of N bytes can
 * open N nested arrays, and the decoders build every level before any later check can refuse the
 * value: 4 MiB of 0x91 costs @msgpack/msgpack 330-620 MB, 8 MB of "[" costs JSON.parse 340 MB.
 * These scans walk the bytes once, allocate nothing but a counter stack, and stop at the first
 * level past the limit. Callers run them only on inputs large enough to matter (see
 * DEPTH_SCAN_FROM_BYTES), so small hot-path frames pay nothing.
 */

/** Inputs shorter than this cannot nest deep enough to hurt (64 K levels cost a few MB at most). */
export const DEPTH_SCAN_FROM_BYTES = 64 * 1024;

/** True when MessagePack `bytes` (one value or several in a row) nest deeper than `limit`. Malformed input returns false: the decoder refuses it. */
export function msgpackTooDeep(bytes: Uint8Array, limit: number): boolean {
  const open: number[] = []; // elements still expected by each open container
  let i = 0;
  const n = bytes.length;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  while (i < n) {
    const b = bytes[i++]!;
    let children = 0;
    let skip = 0;
    let container = false;
    if (b <= 0x7f || b >= 0xe0) {
      // fixint
    } else if (b >= 0x80 && b <= 0x8f) {
      children = 2 * (b & 0x0f);
      container = true;
    } else if (b >= 0x90 && b <= 0x9f) {
      children = b & 0x0f;
      container = true;
    } else if (b >= 0xa0 && b <= 0xbf) skip = b & 0x1f;
    else {
      switch (b) {
        case 0xc0:
        case 0xc2:
        case 0xc3:
          break;
        case 0xc4:
        case 0xd9:
          if (i + 1 > n) return false;
          skip = bytes[i]!;
          i += 1;
          break;
        case 0xc5:
        case 0xda:
          if (i + 2 > n) return false;
          skip = view.getUint16(i);
          i += 2;
          break;
        case 0xc6:
        case 0xdb:
          if (i + 4 > n) return false;
          skip = view.getUint32(i);
          i += 4;
          break;
        case 0xc7:
          if (i + 1 > n) return false;
          skip = 1 + bytes[i]!;
          i += 1;
          break;
        case 0xc8:
          if (i + 2 > n) return false;
          skip = 1 + view.getUint16(i);
          i += 2;
          break;
        case 0xc9:
          if (i + 4 > n) return false;
          skip = 1 + view.getUint32(i);
          i += 4;
          break;
        case 0xcc: // uint8, int8
        case 0xd0:
          skip = 1;
          break;
        case 0xcd: // uint16, int16
        case 0xd1:
          skip = 2;
          break;
        case 0xca: // float32, uint32, int32
        case 0xce:
        case 0xd2:
          skip = 4;
          break;
        case 0xcb: // float64, uint64, int64
        case 0xcf:
        case 0xd3:
          skip = 8;
          break;
        case 0xd4: // fixext 1, 2, 4, 8, 16: a type byte and the data
          skip = 2;
          break;
        case 0xd5:
          skip = 3;
          break;
        case 0xd6:
          skip = 5;
          break;
        case 0xd7:
          skip = 9;
          break;
        case 0xd8:
          skip = 17;
          break;
        case 0xdc:
        case 0xde:
          if (i + 2 > n) return false;
          children = view.getUint16(i) * (b === 0xde ? 2 : 1);
          container = true;
          i += 2;
          break;
        case 0xdd:
        case 0xdf:
          if (i + 4 > n) return false;
          children = view.getUint32(i) * (b === 0xdf ? 2 : 1);
          container = true;
          i += 4;
          break;
        default:
          return false; // 0xc1: never used; the decoder refuses it
      }
    }
    i += skip;
    // An empty array or map is a level too: the decoder builds it.
    if (container && open.length + 1 > limit) return true;
    if (children > 0) {
      open.push(children);
      continue;
    }
    // A complete value: it fills one slot of each container it closes.
    while (open.length > 0) {
      const left = open[open.length - 1]! - 1;
      if (left > 0) {
        open[open.length - 1] = left;
        break;
      }
      open.pop();
    }
  }
  return false;
}

/** True when JSON `text` nests arrays and objects deeper than `limit` (brackets inside strings do not count). */
export function jsonTooDeep(text: string, limit: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > limit) return true;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return false;
}
