/**
 * A map from channel name to V, for per-connection state (a session's subscriptions and
 * admissions). Why not a plain Map: a JavaScriptCore Map holding one entry takes about 266 bytes,
 * and an idle subscribed client held two of them, about 560 of its 1,350 bytes of JS heap. Most
 * clients hold a few channels, so up to FLAT_MAX entries live in one flat array (about 58 bytes
 * for one entry), searched in order; past that, a Map keeps every operation O(1) for clients that
 * hold many channels (--max-subscriptions allows thousands).
 *
 * Iteration and firstKey follow insertion order, as a Map's do.
 */
export class ChannelMap<V> {
  /** Keys at even indexes, each value right after its key; null once the map has grown. */
  private flat: (string | V)[] | null = null;
  private map: Map<string, V> | null = null;

  get size(): number {
    return this.map !== null ? this.map.size : this.flat === null ? 0 : this.flat.length >> 1;
  }

  get(key: string): V | undefined {
    if (this.map !== null) return this.map.get(key);
    const flat = this.flat;
    if (flat === null) return undefined;
    for (let i = 0; i < flat.length; i += 2) if (flat[i] === key) return flat[i + 1] as V;
    return undefined;
  }

  has(key: string): boolean {
    if (this.map !== null) return this.map.has(key);
    return this.indexOf(key) >= 0;
  }

  set(key: string, value: V): void {
    if (this.map !== null) {
      this.map.set(key, value);
      return;
    }
    const at = this.indexOf(key);
    if (at >= 0) {
      this.flat![at + 1] = value;
      return;
    }
    if (this.flat === null) {
      this.flat = [key, value];
    } else if (this.flat.length < FLAT_MAX * 2) {
      this.flat.push(key, value);
    } else {
      this.map = new Map(this.entries());
      this.map.set(key, value);
      this.flat = null;
    }
  }

  delete(key: string): boolean {
    if (this.map !== null) return this.map.delete(key);
    const at = this.indexOf(key);
    if (at < 0) return false;
    if (this.flat!.length === 2) this.flat = null;
    else this.flat!.splice(at, 2);
    return true;
  }

  clear(): void {
    this.flat = null;
    this.map = null;
  }

  /** The key held longest, for evicting the oldest entry; undefined when empty. */
  firstKey(): string | undefined {
    if (this.map !== null) return this.map.keys().next().value;
    return this.flat === null ? undefined : (this.flat[0] as string);
  }

  /** [key, value] pairs in insertion order, as a Map's iterator gives them. */
  *entries(): IterableIterator<[string, V]> {
    if (this.map !== null) {
      yield* this.map;
      return;
    }
    const flat = this.flat;
    if (flat === null) return;
    for (let i = 0; i < flat.length; i += 2) yield [flat[i] as string, flat[i + 1] as V];
  }

  [Symbol.iterator](): IterableIterator<[string, V]> {
    return this.entries();
  }

  private indexOf(key: string): number {
    const flat = this.flat;
    if (flat === null) return -1;
    for (let i = 0; i < flat.length; i += 2) if (flat[i] === key) return i;
    return -1;
  }
}

/**
 * Entries kept in the flat array before switching to a Map. A lookup compares at most this many
 * strings (the hot path looks up the publisher's own subscription on every publish); 16 keeps
 * that well under the cost of hashing.
 */
const FLAT_MAX = 16;
