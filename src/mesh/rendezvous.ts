import type { NodeName } from "./types.ts";

/**
 * Rendezvous (highest random weight) hashing: the owner of a channel name is the live member whose
 * hash of (name, member) is highest. Every node that sees the same live members picks the same
 * owner, and when a member joins or leaves only the names it wins or held move (about 1/N of them).
 *
 * The hash is ours, in plain integer arithmetic, so it is stable across Bun versions and machines:
 * FNV-1a over the UTF-16 code units of `name \0 member`, then murmur3's finaliser to spread the bits.
 */
export function rendezvousScore(name: string, member: NodeName): number {
  let h = 0x811c9dc5;
  const mix = (s: string): void => {
    for (let i = 0; i < s.length; i++) {
      h ^= s.charCodeAt(i);
      h = Math.imul(h, 0x01000193);
    }
  };
  mix(name);
  h ^= 0;
  h = Math.imul(h, 0x01000193);
  mix(member);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** The owner of `name` among `members` (which must not be empty); ties, vanishingly rare, go to the lower name. */
export function ownerOf(name: string, members: Iterable<NodeName>): NodeName {
  let best: NodeName | null = null;
  let bestScore = -1;
  for (const m of members) {
    const score = rendezvousScore(name, m);
    if (score > bestScore || (score === bestScore && best !== null && m < best)) {
      best = m;
      bestScore = score;
    }
  }
  if (best === null) throw new Error("ownerOf needs at least one member");
  return best;
}

/** A 32-bit hash of a string, for the registry's order-free digest (XOR of per-record hashes). */
export function hash32(s: string): number {
  return rendezvousScore(s, "");
}
