import { toWebSocketUrl } from "./url.ts";

/**
 * Choosing the closest node (issue 6), the same in browsers and in Bun: fetch the directory
 * (`GET /nodes`) from the first bootstrap address that answers, narrow it to a few candidates,
 * time `GET /ping` on each in parallel (a few samples, the minimum), and rank them.
 *
 * Policy, also in README:
 * - candidates are live members that are not draining and advertise a URL;
 * - at most `maxCandidates` (default 8) are probed: first those in the bootstrap node's region,
 *   then the rest by the bootstrap node's own RTT to them (a node near the bootstrap node is
 *   likely near the client too), and always the bootstrap node itself;
 * - each is timed `samples` times (default 3) and its RTT is the minimum, which drops the
 *   samples that paid for a TCP or TLS handshake or met a busy moment;
 * - rank by RTT; RTTs within 10% (or 1 ms) of each other count as equal and the less loaded
 *   node (fewer connections) goes first; unreachable candidates go last.
 */

/** A member as the directory lists it (the ARCHITECTURE.md section 6 contract, with load). */
export interface DirectoryNode {
  name: string;
  url: string;
  state: string;
  region: string | null;
  rtt: number | null;
  connections?: number | null;
  draining?: boolean;
  self?: boolean;
}

/** One candidate, with what was measured. */
export interface Candidate {
  name: string;
  /** WebSocket URL of its client endpoint. */
  url: string;
  region: string | null;
  /** RTT measured from here (ms), or null when every probe failed. */
  rtt: number | null;
  /** The bootstrap node's RTT to it, from the directory (ms). */
  directoryRtt: number | null;
  connections: number | null;
}

/** The outcome of a choice: who answered the directory, and every probed candidate, best first. */
export interface Choice {
  /** The bootstrap address whose directory was used. */
  directory: string;
  candidates: Candidate[];
  /** The chosen node: the first candidate with a measured RTT, or null when none answered. */
  best: Candidate | null;
}

export interface ChooseOptions {
  /** Most candidates probed (default 8). */
  maxCandidates?: number;
  /** Probes per candidate (default 3). */
  samples?: number;
  /** Per request: a directory fetch or one probe (ms, default 2,000). */
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** http(s)://host:port for a node address (ws://, wss://, http://, https:// or host:port). */
export function httpBase(address: string): string {
  const url = new URL(toWebSocketUrl(address));
  return `${url.protocol === "wss:" ? "https:" : "http:"}//${url.host}`;
}

function timeout(ms: number, signal?: AbortSignal): AbortSignal {
  return signal ? AbortSignal.any([signal, AbortSignal.timeout(ms)]) : AbortSignal.timeout(ms);
}

/** The directory from the first bootstrap address that answers (tried in order). */
export async function fetchDirectory(bootstrap: string[], options: ChooseOptions = {}): Promise<{ from: string; self: string; nodes: DirectoryNode[] }> {
  const errors: string[] = [];
  for (const address of bootstrap) {
    try {
      const res = await fetch(`${httpBase(address)}/nodes`, { signal: timeout(options.timeoutMs ?? 2000, options.signal), cache: "no-store" });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      const body = (await res.json()) as { self?: unknown; nodes?: unknown };
      if (typeof body.self !== "string" || !Array.isArray(body.nodes)) throw new Error("not a Relay directory");
      const nodes = (body.nodes as Record<string, unknown>[]).filter((n) => typeof n?.name === "string" && typeof n.url === "string") as unknown as DirectoryNode[];
      return { from: address, self: body.self, nodes };
    } catch (err) {
      errors.push(`${address}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  throw new Error(`no bootstrap address answered with a directory (${errors.join("; ")})`);
}

/** The lowest of `samples` timings of GET /ping, in ms; null when every one failed. */
export async function probeRtt(address: string, samples = 3, timeoutMs = 2000, signal?: AbortSignal): Promise<number | null> {
  const target = `${httpBase(address)}/ping`;
  let best: number | null = null;
  for (let i = 0; i < samples; i++) {
    const started = performance.now();
    try {
      const res = await fetch(target, { signal: timeout(timeoutMs, signal), cache: "no-store" });
      await res.arrayBuffer();
      if (!res.ok) continue;
    } catch {
      continue;
    }
    const rtt = performance.now() - started;
    best = best === null ? rtt : Math.min(best, rtt);
  }
  return best;
}

/** Narrows a directory to the candidates worth probing (see the policy above). */
export function shortlist(directory: { self: string; nodes: DirectoryNode[] }, max: number): DirectoryNode[] {
  const home = directory.nodes.find((n) => n.name === directory.self);
  const usable = directory.nodes.filter((n) => n.state === "alive" && n.draining !== true && n.url !== "");
  const sameRegion = (n: DirectoryNode) => (home?.region && n.region === home.region ? 0 : 1);
  const sorted = [...usable].sort((a, b) => sameRegion(a) - sameRegion(b) || (a.rtt ?? Infinity) - (b.rtt ?? Infinity) || a.name.localeCompare(b.name));
  const picked = sorted.slice(0, Math.max(1, max));
  // The bootstrap node answered just now, so it is reachable: always worth a probe.
  if (home && usable.includes(home) && !picked.includes(home)) picked[picked.length - 1] = home;
  return picked;
}

/** Best first: by measured RTT, near-ties (10% or 1 ms) by fewer connections, the unreachable last. */
export function rank(candidates: Candidate[]): Candidate[] {
  return [...candidates].sort((a, b) => {
    if (a.rtt === null || b.rtt === null) return a.rtt === null ? (b.rtt === null ? a.name.localeCompare(b.name) : 1) : -1;
    const close = Math.abs(a.rtt - b.rtt) <= Math.max(1, 0.1 * Math.min(a.rtt, b.rtt));
    if (close && (a.connections ?? 0) !== (b.connections ?? 0)) return (a.connections ?? 0) - (b.connections ?? 0);
    return a.rtt - b.rtt || a.name.localeCompare(b.name);
  });
}

/** Fetches the directory, probes the shortlist in parallel, and ranks it. */
export async function chooseNode(bootstrap: string[], options: ChooseOptions = {}): Promise<Choice> {
  const directory = await fetchDirectory(bootstrap, options);
  const short = shortlist(directory, options.maxCandidates ?? 8);
  const measured = await Promise.all(
    short.map(async (n): Promise<Candidate> => {
      let url: string;
      try {
        url = toWebSocketUrl(n.url);
      } catch {
        return { name: n.name, url: n.url, region: n.region, rtt: null, directoryRtt: n.rtt, connections: n.connections ?? null };
      }
      const rtt = await probeRtt(url, options.samples ?? 3, options.timeoutMs ?? 2000, options.signal);
      return { name: n.name, url, region: n.region, rtt, directoryRtt: n.rtt, connections: n.connections ?? null };
    }),
  );
  const candidates = rank(measured);
  return { directory: directory.from, candidates, best: candidates[0]?.rtt !== null && candidates[0] ? candidates[0] : null };
}
