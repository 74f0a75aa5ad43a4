/**
 * A mesh of real `dist/relay` nodes for the chaos tests (issue 8), each behind its own TcpProxy
 * and advertising it (--advertise ws://127.0.0.1:<proxy port>), so every peer link, whichever side
 * dials, passes a proxy the test controls: delay and seeded jitter on every link, and through the
 * PeerLinkMap, faults on chosen links (a partition, one stalled link). Like DelayCluster, with
 * per-node command lines (--strict-channels on some nodes), signals (SIGKILL, SIGSTOP, SIGCONT)
 * and restarts behind the same proxy.
 *
 * Invariants: proxies exist before any node starts (a node must know the port it advertises), and
 * the link map watches them from the first byte; the first node is the seed of the others, through
 * its proxy; every process ever started is recorded, so stop() stops a half-started, paused or
 * restarted cluster as well as a healthy one (a paused process is continued first, or SIGTERM
 * would wait for the deadline); stop() is safe to call more than once and never throws.
 */
import { hashString } from "../sim/random.ts";
import { CLUSTER_KEY, startMeshNode, stopAll, waitForMembership, type MeshNode } from "./cluster.ts";
import { PeerLinkMap } from "./peer-links.ts";
import type { RelayProcess } from "./proc.ts";
import { TcpProxy } from "./tcp-proxy.ts";

/** One node to start. */
export interface ChaosNodeSpec {
  name: string;
  /** Appended to this node's command line only (after the cluster-wide args). */
  args?: string[];
}

export interface ChaosClusterOptions {
  /** Seeds every proxy's jitter PRNG (mixed with the node's name). */
  seed: number;
  /** Held per chunk in each direction of every proxy (default 0). */
  delayMs?: number;
  /** Further uniform [0, jitterMs) per chunk in each direction of every proxy (default 0: none). */
  jitterMs?: number;
  /** Appended to every node's command line. */
  args?: string[];
  /** Deadline for every node to list every other alive at start (default 20 s). */
  membershipTimeoutMs?: number;
}

/** A node of the cluster as the tests see it. */
export interface ChaosMember {
  readonly name: string;
  readonly proxy: TcpProxy;
  /** The running process (replaced by restart()). */
  process: MeshNode;
  readonly args: readonly string[];
}

export class ChaosCluster {
  readonly members: ChaosMember[];
  /** Which node dialled which over every proxied connection. */
  readonly links: PeerLinkMap;
  /** Every process started, dead or alive, for stop(). */
  private readonly processes: MeshNode[] = [];
  private readonly paused = new Set<MeshNode>();
  private stopped = false;

  constructor(
    specs: readonly ChaosNodeSpec[],
    private readonly opts: ChaosClusterOptions,
  ) {
    // record: false, since these proxies carry long message streams nobody reads back.
    this.members = specs.map((spec) => {
      const proxy = TcpProxy.start({ record: false, label: `proxy of ${spec.name}`, seed: hashString(`${opts.seed >>> 0}/${spec.name}`) });
      if (opts.delayMs) proxy.setDelay(opts.delayMs, "both");
      if (opts.jitterMs) proxy.setJitter(opts.jitterMs, "both");
      return { name: spec.name, proxy, args: [...(opts.args ?? []), ...(spec.args ?? [])], process: undefined as unknown as MeshNode };
    });
    this.links = new PeerLinkMap(new Map(this.members.map((m) => [m.name, m.proxy])));
  }

  /** Starts every node (the first is everyone's seed) and waits until each lists all as alive. */
  async start(): Promise<number> {
    const started = performance.now();
    const [first, ...rest] = this.members;
    if (!first) throw new Error("a ChaosCluster needs at least one node");
    await this.launch(first, []);
    await Promise.all(rest.map((m) => this.launch(m, [first.proxy.address])));
    await waitForMembership(this.live(), this.names(), this.opts.membershipTimeoutMs ?? 20_000);
    return performance.now() - started;
  }

  /** The member called `name`. */
  get(name: string): ChaosMember {
    const m = this.members.find((x) => x.name === name);
    if (!m) throw new Error(`no node ${name} in this cluster (${this.names().join(", ")})`);
    return m;
  }

  names(): string[] {
    return this.members.map((m) => m.name);
  }

  /** The current processes of every member, or of those named. */
  live(names?: readonly string[]): MeshNode[] {
    return (names ?? this.names()).map((n) => this.get(n).process);
  }

  /** SIGKILLs a member's process and waits until it has exited. */
  async kill(name: string): Promise<void> {
    const proc = this.get(name).process.proc;
    proc.kill("SIGKILL");
    await proc.exited;
  }

  /** SIGSTOPs a member's process: it keeps its sockets and does nothing until resume(). */
  pause(name: string): void {
    const node = this.get(name).process;
    this.paused.add(node);
    node.proc.kill("SIGSTOP");
  }

  /** SIGCONTs a member paused by pause(). */
  resume(name: string): void {
    const node = this.get(name).process;
    if (!this.paused.delete(node)) return;
    node.proc.kill("SIGCONT");
  }

  /**
   * Starts `name` again (same name, same proxy and advertised URL, a new incarnation) after its
   * process exited, seeded by the other members' proxies; resolves once the new process runs.
   */
  async restart(name: string): Promise<MeshNode> {
    const m = this.get(name);
    if (m.process.proc.exitCode === null && m.process.proc.signalCode === null) throw new Error(`${name} is still running; stop it before restart()`);
    const seeds = this.members.filter((x) => x !== m).map((x) => x.proxy.address);
    return this.launch(m, seeds);
  }

  /** Stops every process (SIGCONT if paused, SIGTERM, SIGKILL after 5 s) and every proxy. Never throws. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    try {
      for (const node of this.paused) node.proc.kill("SIGCONT");
      this.paused.clear();
      await stopAll(this.processes);
    } catch {
      // stopAll swallows per-node errors; nothing else here can fail that matters to a caller.
    } finally {
      this.links.detach();
      for (const m of this.members) m.proxy.stop();
    }
  }

  private async launch(m: ChaosMember, seeds: string[]): Promise<MeshNode> {
    if (this.stopped) throw new Error("the cluster was stopped");
    const node = await startMeshNode({ name: m.name, seeds, clusterKey: CLUSTER_KEY, extraArgs: ["--advertise", `ws://127.0.0.1:${m.proxy.port}`, ...m.args] });
    this.processes.push(node);
    m.process = node;
    // Only now is the node's port known. A peer that dialled the proxy before this either waited
    // for the target (first start) or reached the dead old port and was refused (restart), and
    // the mesh dials again.
    m.proxy.setTarget(node.port);
    return node;
  }
}

/** The node's resident set size from GET /metrics (relay_process_resident_memory_bytes); null if it did not answer. */
export async function rssOf(node: RelayProcess): Promise<number | null> {
  try {
    const res = await fetch(`${node.httpUrl}/metrics`, { signal: AbortSignal.timeout(2_000) });
    if (!res.ok) return null;
    const m = /^relay_process_resident_memory_bytes\s+(\d+(?:\.\d+)?(?:e\+?\d+)?)\s*$/m.exec(await res.text());
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

/** One counter or gauge from GET /metrics, by its full series name (labels included); null if absent. */
export async function metricOf(node: RelayProcess, series: string): Promise<number | null> {
  try {
    const res = await fetch(`${node.httpUrl}/metrics`, { signal: AbortSignal.timeout(2_000) });
    if (!res.ok) return null;
    for (const line of (await res.text()).split("\n")) {
      if (line.startsWith(`${series} `)) return Number(line.slice(series.length + 1));
    }
    return null;
  } catch {
    return null;
  }
}
