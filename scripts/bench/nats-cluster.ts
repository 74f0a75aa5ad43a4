/**
 * A NATS cluster for the mesh comparison: N nats-server processes on 127.0.0.1, each with a
 * WebSocket listener for the bench's clients and a cluster block with routes to every other node
 * (NATS clusters are a full mesh of routes: a message crosses at most one route). Every node is
 * started by PID and pinned to one core, as the Relay nodes it is compared with are; the cluster
 * counts as formed once every node's /routez lists a route to every other.
 */
import { natsCommand } from "./anchors/nats.ts";
import { freePort } from "./ports.ts";
import { startServer, type RunningServer } from "./servers.ts";

export interface NatsNode extends RunningServer {
  name: string;
  monitorPort: number;
}

/** Longest wait for every route to be up. */
const FORM_TIMEOUT_MS = 20_000;

async function routes(monitorPort: number): Promise<number> {
  try {
    const res = await fetch(`http://127.0.0.1:${monitorPort}/routez`, { signal: AbortSignal.timeout(1_000) });
    return res.ok ? ((await res.json()) as { num_routes: number }).num_routes : -1;
  } catch {
    return -1;
  }
}

/** Tries to start the cluster this many times: a route port probed free can be taken before nats-server binds it. */
const START_TRIES = 3;

/**
 * Starts the cluster; each node is pushed to `started` at once, so the caller can stop them
 * whatever happens. A failed start (a port taken in the meantime) is stopped and tried again with
 * fresh ports. Throws if no try gets every route up in time.
 */
export async function startNatsCluster(binary: string, names: readonly string[], core: number, started: NatsNode[]): Promise<NatsNode[]> {
  for (let attempt = 1; ; attempt++) {
    const mine: NatsNode[] = [];
    try {
      const nodes = await tryStart(binary, names, core, mine);
      started.push(...mine);
      return nodes;
    } catch (err) {
      await Promise.all(mine.map((n) => n.stop()));
      if (attempt >= START_TRIES) throw err;
    }
  }
}

async function tryStart(binary: string, names: readonly string[], core: number, started: NatsNode[]): Promise<NatsNode[]> {
  const clusterPorts = names.map(() => freePort());
  const monitorPorts = names.map(() => freePort());
  const nodes: NatsNode[] = [];
  for (let i = 0; i < names.length; i++) {
    const others = clusterPorts.filter((_, j) => j !== i);
    const server = await startServer(
      { label: `nats-server ${names[i]}`, command: (ws) => natsCommand(binary, names[i]!, { ws, cluster: clusterPorts[i], monitor: monitorPorts[i] }, others) },
      core,
    );
    const node: NatsNode = { ...server, name: names[i]!, monitorPort: monitorPorts[i]! };
    nodes.push(node);
    started.push(node);
  }
  const deadline = performance.now() + FORM_TIMEOUT_MS;
  for (;;) {
    const counts = await Promise.all(nodes.map((n) => routes(n.monitorPort)));
    if (counts.every((c) => c >= names.length - 1)) return nodes;
    if (performance.now() > deadline) throw new Error(`the NATS cluster did not form within ${FORM_TIMEOUT_MS / 1000} s: routes per node ${counts.join(", ")}`);
    await Bun.sleep(100);
  }
}
