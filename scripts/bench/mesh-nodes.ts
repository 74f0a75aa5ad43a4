/**
 * Real `dist/relay` nodes for the mesh bench: started on 127.0.0.1 port 0 through processes.ts
 * (so each is pinned, has a raised fd limit, is tracked by PID and is SIGKILLed if the bench dies),
 * their port read from the start-up line as test/helpers/proc.ts does, and ready once /healthz
 * answers 200.
 *
 * Why port 0 and the log line rather than a free port picked by the bench (as servers.ts does):
 * the membership runs start 50 nodes in batches, and a port probed free and then released can be
 * taken by another node of the same batch before its owner binds it.
 */
import type { Subprocess } from "bun";
import { spawnPinned, stop } from "./processes.ts";
import { RELAY_BIN } from "./servers.ts";

/** The start-up line on stderr: `... node NAME listening on 127.0.0.1:PORT; dashboard at ...`. */
const LISTENING = /listening on 127\.0\.0\.1:(\d+)/;
/** Log text kept per node once it is up, for error messages: enough for the last few dozen lines. */
const TAIL_CHARS = 16_384;
/** Warning and error lines kept per node, for the report (a slow-consumer cut or a refused peer would show). */
const MAX_NOTED = 20;

/**
 * Client limits raised as in servers.ts (RELAY), so Relay's per-connection rate limits and the
 * subscription cap do not bound the figures; the log stays at info because the port is read from
 * an info line.
 */
export const LIMIT_FLAGS = [
  "--publish-rate", "10000000",
  "--publish-burst", "10000000",
  "--max-subscriptions", "100000",
  "--max-connections", "1000000",
  "--connect-rate", "0",
];

export interface NodeSpec {
  name: string;
  /** Omitted: a single node without the mesh (refuses peers). */
  clusterKey?: string;
  /** host:port addresses, each a --seed. */
  seeds?: string[];
  /** Omitted: the default (8). */
  maxPeers?: number;
  /** CPU core to pin the node to. */
  core: number;
  /** Extra flags after the rest. */
  extraArgs?: string[];
}

export interface BenchNode {
  readonly name: string;
  readonly pid: number;
  readonly port: number;
  readonly httpUrl: string;
  /** performance.now() when it was spawned, and when its listening line arrived. */
  readonly spawnedAt: number;
  readonly listeningAt: number;
  /** The last TAIL_CHARS of its stderr. */
  logTail(): string;
  /** Its first WARN and ERROR lines. */
  warnings(): readonly string[];
  /** SIGTERM (a graceful leave), SIGKILL after `graceMs`; idempotent. */
  stop(graceMs?: number): Promise<void>;
  readonly proc: Subprocess<"ignore", "pipe" | number, "pipe" | number>;
}

/** Reads a stream to its end: calls `onText` per chunk so the pipe never fills and blocks the node. */
async function drain(stream: unknown, onText: (text: string) => void): Promise<void> {
  if (!(stream instanceof ReadableStream)) return;
  const decoder = new TextDecoder();
  const reader = (stream as ReadableStream<Uint8Array>).getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      onText(decoder.decode(value, { stream: true }));
    }
  } catch {
    // The node is gone; whatever it wrote is already kept.
  }
}

/** The relay command line for a spec. */
export function nodeCommand(spec: NodeSpec): string[] {
  const args = [RELAY_BIN, "serve", "--host", "127.0.0.1", "--port", "0", "--name", spec.name, "--log-level", "info", ...LIMIT_FLAGS];
  if (spec.clusterKey !== undefined) args.push("--cluster-key", spec.clusterKey);
  for (const seed of spec.seeds ?? []) args.push("--seed", seed);
  if (spec.maxPeers !== undefined) args.push("--max-peers", String(spec.maxPeers));
  args.push(...(spec.extraArgs ?? []));
  return args;
}

/**
 * Starts a node and resolves once it listens and /healthz answers 200. On any failure the process
 * is killed before this throws, with its log in the message.
 */
export async function startNode(spec: NodeSpec, timeoutMs = 15_000): Promise<BenchNode> {
  const spawnedAt = performance.now();
  const proc = spawnPinned(nodeCommand(spec), { core: spec.core, stdout: "pipe", stderr: "pipe" });
  let text = "";
  let partial = "";
  let port = 0;
  let listeningAt = 0;
  const noted: string[] = [];
  let announce: (() => void) | null = null;
  const listening = new Promise<void>((resolve) => (announce = resolve));
  const onLine = (line: string): void => {
    if (port === 0) {
      const m = LISTENING.exec(line);
      if (m) {
        port = Number(m[1]);
        listeningAt = performance.now();
        announce?.();
      }
    }
    if (noted.length < MAX_NOTED && /\b(WARN|ERROR)\b/.test(line)) noted.push(line.trim());
  };
  const stderrDone = drain(proc.stderr, (chunk) => {
    text = (text + chunk).slice(-TAIL_CHARS);
    const lines = (partial + chunk).split("\n");
    partial = lines.pop() ?? "";
    for (const line of lines) onLine(line);
  });
  void drain(proc.stdout, () => {});

  const fail = async (why: string): Promise<never> => {
    await stop(proc, 1_000);
    await Promise.race([stderrDone, Bun.sleep(1_000)]);
    throw new Error(`relay node ${spec.name} did not start: ${why}\nits log:\n${text}`);
  };
  const deadline = spawnedAt + timeoutMs;
  const exited = proc.exited.then(() => "exited" as const);
  const got = await Promise.race([listening.then(() => "listening" as const), exited, Bun.sleep(timeoutMs).then(() => "timeout" as const)]);
  if (got !== "listening") return fail(got === "exited" ? `it exited (${proc.exitCode ?? proc.signalCode}) before listening` : `no listening line within ${timeoutMs} ms`);
  const httpUrl = `http://127.0.0.1:${port}`;
  for (;;) {
    if (proc.exitCode !== null || proc.signalCode !== null) return fail(`it exited (${proc.exitCode ?? proc.signalCode}) before /healthz answered`);
    try {
      const res = await fetch(`${httpUrl}/healthz`, { signal: AbortSignal.timeout(1_000) });
      if (res.status === 200) break;
    } catch {
      // Not answering yet.
    }
    if (performance.now() > deadline) return fail(`GET /healthz did not answer 200 within ${timeoutMs} ms`);
    await Bun.sleep(20);
  }
  return {
    name: spec.name,
    pid: proc.pid,
    port,
    httpUrl,
    spawnedAt,
    listeningAt,
    proc,
    logTail: () => text,
    warnings: () => noted,
    stop: (graceMs = 3_000) => stop(proc, graceMs),
  };
}

/** Stops nodes in parallel (SIGTERM, then SIGKILL after `graceMs`); never throws. */
export async function stopNodes(nodes: readonly BenchNode[], graceMs = 3_000): Promise<void> {
  await Promise.all(nodes.map((n) => n.stop(graceMs).catch(() => undefined)));
}

/** GET a JSON document; null when the node does not answer in time or answers non-2xx (a busy node is "not yet", never an answer). */
export async function getJson<T>(node: BenchNode, path: string, timeoutMs = 2_000): Promise<T | null> {
  try {
    const res = await fetch(`${node.httpUrl}${path}`, { signal: AbortSignal.timeout(timeoutMs) });
    if (!res.ok) return null;
    return (await res.json()) as T;
  } catch {
    return null;
  }
}

/** The rows of GET /nodes this bench reads (ARCHITECTURE.md section 6, plus `linked`). */
export interface NodesView {
  self: string;
  nodes: { name: string; state: string; linked: boolean; self?: boolean }[];
}

/** GET /topology. */
export interface TopologyView {
  self: string;
  links: { a: string; b: string; rtt: number }[];
}

/** The part of GET /healthz read here. */
export interface HealthView {
  peers: number;
}

/** The host:port other nodes use as this node's seed. */
export function seedOf(node: BenchNode): string {
  return `127.0.0.1:${node.port}`;
}
