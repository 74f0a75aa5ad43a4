/**
 * A mesh of real `dist/relay` nodes for the closest-node tests (issue 6), each behind its own
 * TcpProxy that holds every chunk a fixed time in each direction. Each node advertises its proxy
 * (--advertise ws://127.0.0.1:<proxy port>), so everything that reaches a node by the address the
 * directory lists (an SDK probe, a client socket, another node's peer link) pays that node's delay:
 * which node is closest, second and third is set by the test, not by scheduling luck.
 *
 * Invariants: proxies exist before any node starts (a node must know the port it advertises); the
 * first node is the seed of the others, through its proxy; every process ever started is recorded,
 * so stop() stops a half-started or restarted cluster as well as a healthy one; stop() is safe to
 * call more than once and never throws.
 */
import { toWebSocketUrl } from "../../src/sdk/url.ts";
import { CLUSTER_KEY, stopAll, startMeshNode, waitForMembership, type MeshNode } from "./cluster.ts";
import { TcpProxy } from "./tcp-proxy.ts";

/** One node to start: its name and its proxy's delay per direction. */
export interface DelaySpec {
  name: string;
  /** Held in each direction, so a round trip through the proxy costs at least twice this. */
  delayMs: number;
}

/** A node of the cluster as the tests see it. */
export interface DelayedNode {
  readonly name: string;
  readonly delayMs: number;
  readonly proxy: TcpProxy;
  /** The running process (replaced by restart()). */
  process: MeshNode;
  /** The advertised address as the SDK writes it (toWebSocketUrl), e.g. `ws://127.0.0.1:PORT/`. */
  readonly url: string;
}

export interface DelayClusterOptions {
  adminToken?: string;
  /** Appended to every node's command line. */
  extraArgs?: string[];
  /** Deadline for every node to list every other alive (default 15 s). */
  membershipTimeoutMs?: number;
}

export class DelayCluster {
  readonly members: DelayedNode[];
  /** Every process started, dead or alive, for stop(). */
  private readonly processes: MeshNode[] = [];
  private stopped = false;

  constructor(
    specs: readonly DelaySpec[],
    private readonly opts: DelayClusterOptions = {},
  ) {
    // record: false, since these proxies carry long message streams nobody reads back.
    this.members = specs.map((spec) => {
      const proxy = TcpProxy.start({ record: false, label: `proxy of ${spec.name} (${spec.delayMs} ms each way)` });
      proxy.setDelay(spec.delayMs, "both");
      return { name: spec.name, delayMs: spec.delayMs, proxy, url: toWebSocketUrl(`ws://127.0.0.1:${proxy.port}`), process: undefined as unknown as MeshNode };
    });
  }

  /** Starts every node (the first is everyone's seed) and waits until each lists all as alive. */
  async start(): Promise<void> {
    const [first, ...rest] = this.members;
    if (!first) throw new Error("a DelayCluster needs at least one node");
    await this.launch(first, []);
    await Promise.all(rest.map((m) => this.launch(m, [first.proxy.address])));
    await waitForMembership(this.live(), this.names(), this.opts.membershipTimeoutMs ?? 15_000);
  }

  /** The member called `name`. */
  get(name: string): DelayedNode {
    const m = this.members.find((x) => x.name === name);
    if (!m) throw new Error(`no node ${name} in this cluster (${this.names().join(", ")})`);
    return m;
  }

  names(): string[] {
    return this.members.map((m) => m.name);
  }

  /** The current processes of every member. */
  live(): MeshNode[] {
    return this.members.map((m) => m.process);
  }

  /**
   * Starts `name` again (same name, same proxy and advertised URL, a new incarnation) after its
   * process exited, seeded by the other members' proxies; resolves once the new process runs.
   * The caller waits for whatever membership it needs.
   */
  async restart(name: string): Promise<MeshNode> {
    const m = this.get(name);
    if (m.process.proc.exitCode === null && m.process.proc.signalCode === null) throw new Error(`${name} is still running; stop it before restart()`);
    const seeds = this.members.filter((x) => x !== m).map((x) => x.proxy.address);
    return this.launch(m, seeds);
  }

  /** Stops every process (SIGTERM, SIGKILL after 5 s) and every proxy. Never throws. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    try {
      await stopAll(this.processes);
    } finally {
      for (const m of this.members) m.proxy.stop();
    }
  }

  private async launch(m: DelayedNode, seeds: string[]): Promise<MeshNode> {
    if (this.stopped) throw new Error("the cluster was stopped");
    const args = ["--advertise", `ws://127.0.0.1:${m.proxy.port}`];
    if (this.opts.adminToken !== undefined) args.push("--admin-token", this.opts.adminToken);
    args.push(...(this.opts.extraArgs ?? []));
    const node = await startMeshNode({ name: m.name, seeds, clusterKey: CLUSTER_KEY, extraArgs: args });
    this.processes.push(node);
    m.process = node;
    // Only now is the node's port known. A peer that dialled the proxy before this either waited
    // for the target (first start) or reached the dead old port and was refused (restart), and
    // the mesh dials again.
    m.proxy.setTarget(node.port);
    return node;
  }
}
