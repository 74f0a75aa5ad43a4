/**
 * Clusters of real `dist/relay` processes on 127.0.0.1 for the mesh tests (test/cluster): start a
 * node that joins through seeds, read its /nodes, /healthz and /topology, and wait on mesh-wide
 * conditions (full membership, a member's state as every other node sees it).
 *
 * Invariants: nodes bind port 0 (startRelay reads the port back), so no port is guessed; every
 * wait polls a condition under a deadline and names what it waited for when it fails; an HTTP
 * read that fails (a node that is down or busy) counts as "not yet", never as an answer.
 */
import { startRelay, type RelayProcess } from "./proc.ts";
import { RawClient, type Frame } from "./node.ts";

/** A cluster key long enough for the config rule (at least 16 characters). */
export const CLUSTER_KEY = "cluster-test-key-0123456789";

/** One row of GET /nodes (ARCHITECTURE.md section 6, plus what issue 3 adds). */
export interface NodeRow {
  name: string;
  url: string;
  state: "alive" | "suspect" | "dead" | "left";
  region: string | null;
  incarnation?: number;
  rtt: number | null;
  linked: boolean;
  self: boolean;
}

/** GET /nodes. */
export interface NodesView {
  self: string;
  nodes: NodeRow[];
}

/** GET /topology. */
export interface TopologyView {
  self: string;
  nodes: { name: string; state: string; region: string | null }[];
  links: { a: string; b: string; rtt: number }[];
}

/** The part of GET /healthz the mesh tests read. */
export interface Health {
  status: string;
  node: string;
  peers: number;
  members: number;
}

/** A mesh node: the process and the name it was started with. */
export interface MeshNode extends RelayProcess {
  readonly name: string;
}

/** Options for startMeshNode(). */
export interface MeshNodeOptions {
  name: string;
  /** host:port addresses to join through (each becomes a --seed). */
  seeds?: string[];
  clusterKey?: string;
  maxPeers?: number;
  /** Appended after the mesh flags. */
  extraArgs?: string[];
  startTimeoutMs?: number;
}

/** Starts a node on 127.0.0.1 port 0 that joins the mesh through `seeds` (none: it waits to be joined). */
export async function startMeshNode(opts: MeshNodeOptions): Promise<MeshNode> {
  const args = ["--name", opts.name, "--cluster-key", opts.clusterKey ?? CLUSTER_KEY];
  for (const seed of opts.seeds ?? []) args.push("--seed", seed);
  if (opts.maxPeers !== undefined) args.push("--max-peers", String(opts.maxPeers));
  args.push(...(opts.extraArgs ?? []));
  const proc = await startRelay({ extraArgs: args, ...(opts.startTimeoutMs !== undefined ? { startTimeoutMs: opts.startTimeoutMs } : {}) });
  return Object.assign(proc, { name: opts.name });
}

/** The host:port other nodes use as this node's seed. */
export function seedOf(node: RelayProcess): string {
  return `127.0.0.1:${node.port}`;
}

/** GET a JSON document from a node; null when the node does not answer in time or answers non-2xx. */
async function getJson<T>(node: RelayProcess, path: string, timeoutMs = 2_000): Promise<T | null> {
  try {
    // A node serving TLS with a private CA is read trusting that CA (RelayProcess.tlsCa).
    const res = await fetch(`${node.httpUrl}${path}`, { signal: AbortSignal.timeout(timeoutMs), ...(node.tlsCa === undefined ? {} : { tls: { ca: node.tlsCa } }) });
    if (!res.ok) return null;
    return (await res.json()) as T;
  } catch {
    return null;
  }
}

export const getNodes = (node: RelayProcess): Promise<NodesView | null> => getJson<NodesView>(node, "/nodes");
export const getHealth = (node: RelayProcess): Promise<Health | null> => getJson<Health>(node, "/healthz");
export const getTopology = (node: RelayProcess): Promise<TopologyView | null> => getJson<TopologyView>(node, "/topology");

/** The /nodes view of every node in `nodes`, in order (null for a node that did not answer). */
export function nodesOfAll(nodes: readonly RelayProcess[]): Promise<(NodesView | null)[]> {
  return Promise.all(nodes.map(getNodes));
}

/** True when `view` lists every name in `expected` as alive (other rows are not looked at). */
export function seesAllAlive(view: NodesView | null, expected: readonly string[]): boolean {
  if (!view) return false;
  const alive = new Set(view.nodes.filter((n) => n.state === "alive").map((n) => n.name));
  return expected.every((name) => alive.has(name));
}

/**
 * Waits until every node in `nodes` lists every name in `expected` as alive; resolves with the
 * time it took (ms, from the call). On timeout the error shows what each node saw last.
 */
export async function waitForMembership(nodes: readonly MeshNode[], expected: readonly string[], timeoutMs: number): Promise<number> {
  const started = performance.now();
  let last: (NodesView | null)[] = [];
  try {
    await pollUntil(
      async () => {
        last = await nodesOfAll(nodes);
        return last.every((view) => seesAllAlive(view, expected));
      },
      `every node listing ${expected.length} members alive`,
      timeoutMs,
    );
  } catch (err) {
    throw new Error(`${(err as Error).message}\nlast seen:\n${describeViews(nodes, last)}`);
  }
  return performance.now() - started;
}

/** The row for `name` in a node's /nodes, or undefined. */
export function rowOf(view: NodesView | null, name: string): NodeRow | undefined {
  return view?.nodes.find((n) => n.name === name);
}

/**
 * Waits until every node in `observers` holds `name` in one of `states` (a member that is
 * forgotten counts as not matching); resolves with the ms it took from `sinceMs` (a
 * performance.now() time, default the call).
 */
export async function waitForMemberState(
  observers: readonly MeshNode[],
  name: string,
  states: readonly NodeRow["state"][],
  timeoutMs: number,
  sinceMs = performance.now(),
): Promise<number> {
  let last: (NodesView | null)[] = [];
  try {
    await pollUntil(
      async () => {
        last = await nodesOfAll(observers);
        return last.every((view) => {
          const row = rowOf(view, name);
          return row !== undefined && states.includes(row.state);
        });
      },
      `every node holding ${name} as ${states.join(" or ")}`,
      timeoutMs,
    );
  } catch (err) {
    throw new Error(`${(err as Error).message}\nlast seen:\n${describeViews(observers, last)}`);
  }
  return performance.now() - sinceMs;
}

/** Number of links a node holds, by /nodes `linked` rows and by /healthz `peers`. */
export async function linkCounts(node: RelayProcess): Promise<{ linked: number; peers: number } | null> {
  const [view, health] = await Promise.all([getNodes(node), getHealth(node)]);
  if (!view || !health) return null;
  return { linked: view.nodes.filter((n) => n.linked && !n.self).length, peers: health.peers };
}

/** One line per node: the members it lists as name=state@incarnation (* when linked), for failure messages. */
export function describeViews(nodes: readonly MeshNode[], views: readonly (NodesView | null)[]): string {
  return nodes
    .map((node, i) => {
      const view = views[i];
      if (!view) return `  ${node.name}: no answer`;
      const rows = view.nodes.map((n) => `${n.name}=${n.state}${n.linked ? "*" : ""}@${n.incarnation ?? "?"}`).join(" ");
      return `  ${node.name}: ${rows}`;
    })
    .join("\n");
}

/** Stops every node with SIGTERM in parallel (SIGKILL after the deadline); errors are ignored. */
export async function stopAll(nodes: readonly RelayProcess[]): Promise<void> {
  await Promise.all(nodes.map((n) => n.stop("SIGTERM", 5_000).catch(() => undefined)));
}

/**
 * Polls `check` every `everyMs` until it returns a truthy value or `timeoutMs` passes (then throws,
 * naming `what`). Like waitFor, but paced for checks that cost several HTTP requests, so a busy
 * 2-core machine spends its time in the nodes rather than in the poller.
 */
export async function pollUntil<T>(check: () => T | Promise<T>, what: string, timeoutMs: number, everyMs = 50): Promise<NonNullable<T>> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value as NonNullable<T>;
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** A payload the mesh tests publish: which batch it belongs to and its number in the batch. */
export interface Tagged {
  run: string;
  i: number;
}

function tagOf(frame: Frame): Tagged | null {
  const data = frame.data as Partial<Tagged> | undefined;
  return frame.op === "msg" && data && typeof data.run === "string" && typeof data.i === "number" ? { run: data.run, i: data.i } : null;
}

/** The numbers of every copy of batch `run` a raw client received so far (duplicates kept). */
export function received(client: RawClient, run: string): number[] {
  const out: number[] = [];
  for (const frame of client.frames) {
    const tag = tagOf(frame);
    if (tag?.run === run) out.push(tag.i);
  }
  return out;
}

/** Every tagged message a client received more than once: "run#i" keys. */
export function duplicates(client: RawClient): string[] {
  const seen = new Set<string>();
  const dups: string[] = [];
  for (const frame of client.frames) {
    const tag = tagOf(frame);
    if (!tag) continue;
    const key = `${tag.run}#${tag.i}`;
    if (seen.has(key)) dups.push(key);
    seen.add(key);
  }
  return dups;
}

/** Publishes one tagged message and waits for the node's ack. */
export async function publishTagged(publisher: RawClient, channel: string, run: string, i: number): Promise<void> {
  const answer = await publisher.request({ op: "pub", channel, data: { run, i } });
  if (answer.op !== "ack") throw new Error(`publish ${run}#${i} refused: ${JSON.stringify(answer)}`);
}

/**
 * Publishes batch `run` probes (0, 1, 2, ...) until every subscriber has one of them, each probe
 * waiting up to `probeEveryMs` for copies before the next is sent; resolves with the ms it took.
 * This is how a test knows the subscribers' interest (and a route) has reached the publisher's node.
 */
export async function publishUntilDelivered(publisher: RawClient, subscribers: readonly RawClient[], channel: string, run: string, timeoutMs: number, probeEveryMs = 100): Promise<number> {
  const started = performance.now();
  const allHave = () => subscribers.every((s) => received(s, run).length > 0);
  let i = 0;
  for (;;) {
    await publishTagged(publisher, channel, run, i++);
    const until = performance.now() + probeEveryMs;
    while (performance.now() < until) {
      if (allHave()) return performance.now() - started;
      await new Promise((r) => setTimeout(r, 5));
    }
    if (performance.now() - started > timeoutMs) {
      throw new Error(`not every subscriber got a ${run} probe within ${timeoutMs} ms (${i} sent; copies per subscriber: ${subscribers.map((s) => received(s, run).length).join(" ")})`);
    }
  }
}

/**
 * Publishes `n` tagged messages of batch `run` (each acked), waits until every subscriber has every
 * number, then does one acked round trip on each subscriber's own connection so anything queued
 * behind the last copy has arrived too; resolves with every copy each subscriber received
 * (duplicates kept), in the order of `subscribers`.
 */
export async function publishBatch(publisher: RawClient, subscribers: readonly RawClient[], channel: string, run: string, n: number, timeoutMs: number): Promise<number[][]> {
  for (let i = 0; i < n; i++) await publishTagged(publisher, channel, run, i);
  try {
    await pollUntil(() => subscribers.every((s) => new Set(received(s, run)).size === n), `all ${n} messages of ${run} at every subscriber`, timeoutMs, 10);
  } catch (err) {
    throw new Error(`${(err as Error).message}; they have ${subscribers.map((s) => JSON.stringify(received(s, run))).join(", ")}`);
  }
  for (const s of subscribers) {
    const pong = await s.request({ op: "ping" });
    if (pong.op !== "pong") throw new Error(`ping answered with ${JSON.stringify(pong)}`);
  }
  return subscribers.map((s) => received(s, run));
}

/** Opens a raw client on a node and subscribes it to `channel` (acked). */
export async function subscribe(node: RelayProcess, channel: string): Promise<RawClient> {
  const client = await RawClient.open(node.url);
  const answer = await client.request({ op: "sub", channel });
  if (answer.op !== "ack") throw new Error(`sub ${channel} refused: ${JSON.stringify(answer)}`);
  return client;
}

/** Hops on a fewest-hop path from `from` to `to` over the links of a /topology view; null when unreachable. */
export function hopsBetween(topology: TopologyView, from: string, to: string): number | null {
  const adj = new Map<string, string[]>();
  for (const { a, b } of topology.links) {
    adj.set(a, [...(adj.get(a) ?? []), b]);
    adj.set(b, [...(adj.get(b) ?? []), a]);
  }
  const dist = new Map<string, number>([[from, 0]]);
  const queue = [from];
  for (let k = 0; k < queue.length; k++) {
    const at = queue[k]!;
    for (const next of adj.get(at) ?? []) {
      if (dist.has(next)) continue;
      dist.set(next, dist.get(at)! + 1);
      queue.push(next);
    }
  }
  return dist.get(to) ?? null;
}

/**
 * Waits until every node holds at most `maxPeers` links (by /nodes `linked` and /healthz `peers`
 * alike), then checks that this holds for `stableMs` more, so a mesh that only dips under the budget
 * while it churns does not pass. Resolves with the ms until the first all-under-budget poll and the
 * last counts seen.
 */
export async function waitForLinkBudget(nodes: readonly MeshNode[], maxPeers: number, timeoutMs: number, stableMs: number): Promise<{ settledMs: number; counts: number[] }> {
  const started = performance.now();
  let last: ({ linked: number; peers: number } | null)[] = [];
  const show = () => nodes.map((n, i) => `${n.name}=${last[i]?.linked ?? "?"}/${last[i]?.peers ?? "?"}`).join(" ");
  const within = async () => {
    last = await Promise.all(nodes.map(linkCounts));
    return last.every((c) => c !== null && c.linked <= maxPeers && c.peers <= maxPeers);
  };
  try {
    await pollUntil(within, `every node at <= ${maxPeers} links`, timeoutMs, 200);
  } catch (err) {
    throw new Error(`${(err as Error).message}\nlinks (linked in /nodes / peers in /healthz): ${show()}`);
  }
  const settledMs = performance.now() - started;
  const stableUntil = performance.now() + stableMs;
  while (performance.now() < stableUntil) {
    await new Promise((r) => setTimeout(r, 200));
    if (!(await within())) throw new Error(`the link budget of ${maxPeers} held at ${Math.round(settledMs)} ms but not ${Math.round(performance.now() - started - settledMs)} ms later: ${show()}`);
  }
  return { settledMs, counts: last.map((c) => c!.linked) };
}
