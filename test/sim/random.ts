/**
 * Seeded randomness for the simulator. Nothing here reads Math.random or a clock, so a seed fixes
 * every choice a run makes, and the same seed replays the same run.
 */

/** A source of numbers in [0, 1), the shape the mesh core takes. */
export type Random = () => number;

/**
 * mulberry32: a 32-bit state PRNG, fast and good enough for simulation (it passes gjrand's tests
 * at the sizes we draw). Each stream owns its state, so streams never disturb one another.
 */
export function mulberry32(seed: number): Random {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** FNV-1a over a string's UTF-16 units: a stable 32-bit hash for deriving seeds and per-pair values. */
export function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/**
 * A stream derived from the run's seed and a label (e.g. "mesh:n07:2"). Deriving per purpose keeps a
 * node's randomness independent of how many draws other parts of the run made, so adding a draw
 * somewhere does not reshuffle everything else.
 */
export function derive(seed: number, label: string): Random {
  return mulberry32(hashString(`${seed >>> 0}/${label}`));
}

/** An integer in [0, n). */
export function randomInt(random: Random, n: number): number {
  return Math.floor(random() * n);
}

/** A Fisher-Yates shuffle into a new array. */
export function shuffled<T>(random: Random, items: readonly T[]): T[] {
  const out = items.slice();
  for (let i = out.length - 1; i > 0; i--) {
    const j = randomInt(random, i + 1);
    const tmp = out[i] as T;
    out[i] = out[j] as T;
    out[j] = tmp;
  }
  return out;
}

/** k distinct items chosen uniformly (fewer if there are fewer). */
export function sample<T>(random: Random, items: readonly T[], k: number): T[] {
  return shuffled(random, items).slice(0, Math.max(0, Math.min(k, items.length)));
}
