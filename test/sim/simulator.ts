/**
 * A deterministic discrete-event simulator for the mesh core: N nodes, each a real core instance,
 * over the measured inter-region RTT matrix, in virtual time. It plays the node shell's part
 * (links, frames, dials, probes, timers) with no sockets or clocks, and can crash, restart,
 * partition and heal. The same options and seed replay the same run, event for event.
 *
 * The links themselves (dial, send, close, probe, and the network rules) are in links.ts.
 */

import { TICK_MS } from "../../src/mesh/constants.ts";
import { TreeCache } from "../../src/mesh/graph.ts";
import type { Directive, LinkId, MeshEvent, PeerInfo } from "../../src/mesh/types.ts";
import { type MeshFactory, type SimMesh, type SimMeshConfig, realMesh } from "./core.ts";
import { EventQueue } from "./event-queue.ts";
import { type Anomalies, type LinkEnd, type LinkHost, Links, type Wire } from "./links.ts";
import { REGIONS, intraRegionRtt, placeNodes, regionRtt, type Placement } from "./network.ts";
import { type Random, derive } from "./random.ts";

export { hostOf } from "./links.ts";
export type { Anomalies, Wire };

/** Port every simulated node listens on; addresses are `n07:7400` and `ws://n07:7400`. */
export const SIM_PORT = 7400;

export interface SimOptions {
  /** How many nodes, named n0..n(N-1) zero-padded (n007) so names sort like indexes. */
  nodes: number;
  /** Seed of every random choice in the run (placement, tick phases, each core's own random). */
  seed: number;
  /** The first `seeds` nodes are everyone's --seed addresses (default 3). */
  seeds?: number;
  /** --max-peers for every node (default 8). */
  maxPeers?: number;
  /** How nodes spread over the 28 regions (default round-robin). */
  placement?: Placement;
  /** Extra probe RTT, uniform in [0, jitterMs) (default 0: probes return the true RTT). */
  jitterMs?: number;
  /** Nodes start (first tick) at a random time in [0, startSpreadMs) (default TICK_MS). */
  startSpreadMs?: number;
  /** Builds each node's core (default: the real Mesh). */
  factory?: MeshFactory;
  /** How frames cross links (see Wire in links.ts; default "codec": the real encoder and decoder). */
  wire?: Wire;
  /** With wire "copy", check one frame in this many against the real codec (default 8; 0: none). */
  codecSample?: number;
  /** Called every 10,000 events: a script's guard (memory, say) may throw to stop the run. */
  watchdog?: () => void;
  /** Log lines kept per node for debugging (default 300). */
  logLimit?: number;
  /** Also print log directives at this level and above to the console (default: none). */
  printLogs?: "debug" | "info" | "warn";
  /** Sees every directive a core emits, before the simulator carries it out (channel scenarios watch opens and deliveries). */
  onDirective?: (node: SimNode, d: Directive) => void;
}

/** A node of the run. Fields are read by the measurements; only the simulator writes them. */
export interface SimNode {
  readonly index: number;
  readonly name: string;
  /** Index into REGIONS. */
  readonly region: number;
  readonly url: string;
  incarnation: number;
  /** The current core (a fresh instance after each restart). */
  mesh: SimMesh;
  /** False while crashed. */
  up: boolean;
  /** Raised on crash and restart; an event scheduled for an older epoch is dropped (it was for a dead process). */
  epoch: number;
  /** This node's open link ends, by the id this node knows them by. */
  readonly ends: Map<LinkId, LinkEnd>;
  /** Ids of links this node held and that are gone (to tell a late send from a bogus one). */
  readonly gone: Set<LinkId>;
  /** Channels this node currently has local subscribers for (the driver's ground truth). */
  readonly interests: Set<string>;
  /** Last log lines, oldest first once the ring wraps (see logs()). */
  readonly logRing: string[];
  logNext: number;
}

/** A message the driver published, with the nodes that must receive it (ground truth at publish time). */
export interface Published {
  id: string;
  origin: string;
  channel: string;
  time: number;
  /** Live nodes with interest, on the origin's side of any partition, other than the origin. */
  expected: string[];
}

/** A `deliver` directive, as recorded. */
export interface Delivery {
  node: string;
  id: string;
  channel: string;
  time: number;
}

/** Bytes and frames put on links, by frame type, since the start of the run. */
export interface Traffic {
  time: number;
  frames: Record<string, number>;
  bytes: Record<string, number>;
}

export class Simulator implements LinkHost {
  /** Current virtual time (ms). */
  now = 0;
  readonly nodes: SimNode[] = [];
  readonly published: Published[] = [];
  /** Deliveries by message id. */
  readonly deliveries = new Map<string, Delivery[]>();
  /** The agenda; links.ts schedules frame deliveries on it. */
  readonly queue = new EventQueue();
  /** The peer links, and the anomaly and traffic counters kept with them. */
  private readonly links: Links;
  private readonly byHost = new Map<string, SimNode>();
  /** Partition side of each node while partitioned; nodes on different sides cannot talk. */
  private sides: Map<string, number> | null = null;
  private readonly seedAddresses: string[];
  private readonly factory: MeshFactory;
  /** The simulator's own choices (tick phases, probe jitter); cores have their own streams. */
  private readonly random: Random;
  private nextMessage = 0;
  /** Events run so far (for the watchdog's cadence). */
  private events = 0;
  private readonly maxPeers: number;
  private readonly jitterMs: number;
  private readonly logLimit: number;
  private readonly printLevel: number;
  /**
   * One shortest-path tree cache for every core: trees are keyed by graph content, and once
   * flooding settles every node holds the same graph, so a tree is computed once, not once per node.
   * It holds the trees of the busiest origins (each node keeps its own tree itself).
   */
  private readonly trees: TreeCache;

  constructor(readonly options: SimOptions) {
    const { nodes: count, seed } = options;
    this.random = derive(seed, "sim");
    this.factory = options.factory ?? realMesh;
    this.maxPeers = options.maxPeers ?? 8;
    this.jitterMs = options.jitterMs ?? 0;
    this.links = new Links(this, options.wire ?? "codec", options.codecSample ?? 8);
    this.logLimit = options.logLimit ?? 300;
    this.printLevel = options.printLogs === undefined ? Infinity : LEVELS[options.printLogs];
    this.trees = new TreeCache(Math.max(256, count));
    const width = String(Math.max(count - 1, 0)).length;
    const regions = placeNodes(count, options.placement ?? "round-robin", derive(seed, "placement"));
    this.seedAddresses = [];
    for (let i = 0; i < Math.min(options.seeds ?? 3, count); i++) this.seedAddresses.push(`n${String(i).padStart(width, "0")}:${SIM_PORT}`);
    const spread = options.startSpreadMs ?? TICK_MS;
    for (let i = 0; i < count; i++) {
      const name = `n${String(i).padStart(width, "0")}`;
      const node: SimNode = {
        index: i,
        name,
        region: regions[i] as number,
        url: `ws://${name}:${SIM_PORT}`,
        incarnation: 1,
        mesh: undefined as unknown as SimMesh, // set by boot() just below
        up: false,
        epoch: 0,
        ends: new Map(),
        gone: new Set(),
        interests: new Set(),
        logRing: [],
        logNext: 0,
      };
      this.nodes.push(node);
      this.byHost.set(name, node);
      this.boot(node, this.random() * spread);
    }
  }

  // --- driving ------------------------------------------------------------------------------------

  /** Runs every event up to and including time `t`, then sets the clock to `t`. */
  runUntil(t: number): void {
    const watchdog = this.options.watchdog;
    while (this.queue.peekTime() <= t) {
      const e = this.queue.pop()!;
      this.now = e.time;
      e.run();
      if (watchdog !== undefined && ++this.events % 10_000 === 0) watchdog();
    }
    this.now = Math.max(this.now, t);
  }

  runFor(ms: number): void {
    this.runUntil(this.now + ms);
  }

  /**
   * Runs in steps of `everyMs` until `done()` holds, and returns the virtual time it first held
   * (to within one step), or null after `timeoutMs`. `done` is checked before the first step too.
   */
  runUntilTrue(done: () => boolean, everyMs: number, timeoutMs: number): number | null {
    const deadline = this.now + timeoutMs;
    for (;;) {
      if (done()) return this.now;
      if (this.now >= deadline) return null;
      this.runUntil(Math.min(this.now + everyMs, deadline));
    }
  }

  /** A local client publishes on `node` at `at` (default now); returns the message id. */
  publish(name: string, channel: string, at = this.now): string {
    const node = this.node(name);
    const id = `m${this.nextMessage++}`;
    const epoch = node.epoch;
    this.queue.push(at, () => {
      if (!node.up || node.epoch !== epoch) return; // published into a crashed node: never happened
      // A publish goes to the channel instance the origin's registry holds; only nodes holding the
      // same instance may deliver it (two sides of a partition can hold two instances of a name).
      const instance = node.mesh.channel?.(channel)?.instance;
      const sameInstance = (n: SimNode): boolean => node.mesh.channel === undefined || n.mesh.channel?.(channel)?.instance === instance;
      const expected = this.nodes.filter((n) => n !== node && n.up && n.interests.has(channel) && !this.separated(node, n) && sameInstance(n)).map((n) => n.name);
      this.published.push({ id, origin: name, channel, time: this.now, expected });
      // The payload carries its id and send time, so a delivery can be matched without trusting `from`.
      this.handle(node, { type: "publish", channel, instance: instance ?? "unbound~0~0", data: { id, t: this.now }, from: `${name}:client` });
    });
    return id;
  }

  /** A local channel on `node` gains its first (true) or loses its last (false) subscriber, now. */
  interest(name: string, channel: string, interested: boolean): void {
    const node = this.node(name);
    if (!node.up) throw new Error(`interest on crashed node ${name}`);
    if (interested === node.interests.has(channel)) return; // only 0<->1 crossings reach the core
    if (interested) node.interests.add(channel);
    else node.interests.delete(channel);
    // As a node does for its first subscriber: make sure the registry holds the channel (the
    // owner binds it, or says who holds it), then announce the interest.
    if (interested && node.mesh.channel) this.handle(node, { type: "open", req: this.nextMessage++, channel, verifier: null, strict: false });
    this.handle(node, { type: "interest", channel, interested });
  }

  // --- faults -------------------------------------------------------------------------------------

  /** The process dies: no FIN to anyone, events to it are dropped, peers must notice the silence. */
  crash(name: string): void {
    const node = this.node(name);
    if (!node.up) return;
    node.up = false;
    node.epoch++;
    this.links.crashed(node);
    node.interests.clear(); // its subscribers went with it
  }

  /** The node starts again as a new incarnation with a fresh core (crashing it first if it runs). */
  restart(name: string): void {
    const node = this.node(name);
    this.crash(name);
    node.incarnation++;
    this.boot(node, this.now + this.random() * TICK_MS);
  }

  /** Nodes in `a` and nodes in `b` can no longer reach each other; frames between them vanish. */
  partition(a: readonly string[], b: readonly string[]): void {
    this.sides = new Map();
    for (const n of a) this.sides.set(n, 0);
    for (const n of b) this.sides.set(n, 1);
  }

  heal(): void {
    this.sides = null;
  }

  // --- views --------------------------------------------------------------------------------------

  node(name: string): SimNode {
    const n = this.byHost.get(name);
    if (!n) throw new Error(`no node ${name}`);
    return n;
  }

  liveNodes(): SimNode[] {
    return this.nodes.filter((n) => n.up);
  }

  /** True RTT (ms) between two nodes, from the region matrix (1-2 ms within a region). */
  rtt(a: SimNode, b: SimNode): number {
    if (a === b) return 0;
    return a.region === b.region ? intraRegionRtt(a.name, b.name) : regionRtt(a.region, b.region);
  }

  regionOf(node: SimNode): string {
    return REGIONS[node.region]?.id ?? "";
  }

  /** Whether a partition separates the two nodes (crashes aside). */
  separated(a: SimNode, b: SimNode): boolean {
    if (this.sides === null) return false;
    const sa = this.sides.get(a.name);
    const sb = this.sides.get(b.name);
    return sa !== undefined && sb !== undefined && sa !== sb;
  }

  /** Bytes and frames sent so far (a copy, for windows: subtract two snapshots). */
  traffic(): Traffic {
    return { time: this.now, frames: { ...this.links.frames }, bytes: { ...this.links.bytes } };
  }

  /** What the cores asked of the shell that a correct core never would (see Anomalies). */
  get anomalies(): Anomalies {
    return this.links.anomalies;
  }

  /** The node's last log lines, oldest first. */
  logs(name: string): string[] {
    const n = this.node(name);
    return [...n.logRing.slice(n.logNext), ...n.logRing.slice(0, n.logNext)];
  }

  /** The node's identity as a peer sees it in the handshake. */
  peerInfo(node: SimNode): PeerInfo {
    return { name: node.name, incarnation: node.incarnation, region: this.regionOf(node), url: node.url };
  }

  // --- the shell's part ---------------------------------------------------------------------------

  /** Starts a (new) core on `node` and its tick chain at `firstTick`, with a per-node phase. */
  private boot(node: SimNode, firstTick: number): void {
    const config: SimMeshConfig = { self: this.peerInfo(node), seeds: [...this.seedAddresses], maxPeers: this.maxPeers, sharedTrees: this.trees };
    node.mesh = this.factory(config, derive(this.options.seed, `mesh:${node.name}:${node.incarnation}`));
    node.up = true;
    node.epoch++;
    const epoch = node.epoch;
    const tick = (): void => {
      if (!node.up || node.epoch !== epoch) return; // the tick chain of a dead process stops
      this.handle(node, { type: "tick" });
      this.queue.push(this.now + TICK_MS, tick);
    };
    this.queue.push(firstTick, tick);
  }

  /** Hands one event to a node's core now and carries out what it asks (also used by links.ts). */
  handle(node: SimNode, event: MeshEvent): void {
    let directives: Directive[];
    try {
      directives = node.mesh.handle(event, this.now);
    } catch (e) {
      throw new Error(`core of ${node.name} threw at t=${this.now} ms on ${event.type}: ${(e as Error).message}`, { cause: e });
    }
    for (const d of directives) this.execute(node, d);
    this.links.endOfTurn();
  }

  /** Schedules `event` for `node` at `time`, dropped if the node has crashed or restarted by then. */
  later(node: SimNode, time: number, event: MeshEvent): void {
    const epoch = node.epoch;
    this.queue.push(time, () => {
      if (node.up && node.epoch === epoch) this.handle(node, event);
    });
  }

  lookup(host: string): SimNode | undefined {
    return this.byHost.get(host);
  }

  probeJitter(): number {
    return this.jitterMs > 0 ? this.random() * this.jitterMs : 0;
  }

  private execute(node: SimNode, d: Directive): void {
    this.options.onDirective?.(node, d);
    switch (d.type) {
      case "dial":
        return this.links.dial(node, d.address);
      case "send":
        return this.links.send(node, d.link, d.frame);
      case "close":
        return this.links.close(node, d.link, d.reason);
      case "probe":
        return this.links.probe(node, d.name, d.url);
      case "deliver":
        return this.recordDelivery(node, d.channel, d.data);
      case "log":
        return this.log(node, d.level, d.message);
      case "opened":
      case "openFailed":
      case "channelLost":
        return; // the registry's answers; scenarios read the registry itself
    }
  }

  private recordDelivery(node: SimNode, channel: string, data: unknown): void {
    const id = messageIdOf(data);
    if (id === null) {
      this.anomalies.strayDeliveries++;
      return;
    }
    let list = this.deliveries.get(id);
    if (list === undefined) this.deliveries.set(id, (list = []));
    list.push({ node: node.name, id, channel, time: this.now });
  }

  /** Keeps a log line in the node's ring (links.ts logs closes here too); prints it at printLogs and above. */
  log(node: SimNode, level: "debug" | "info" | "warn", message: string): void {
    const line = `${this.now.toFixed(1)} ${level} ${message}`;
    if (node.logRing.length < this.logLimit) node.logRing.push(line);
    else {
      node.logRing[node.logNext] = line;
      node.logNext = (node.logNext + 1) % this.logLimit;
    }
    if (LEVELS[level] >= this.printLevel) console.log(`[${node.name}] ${line}`);
  }
}

const LEVELS = { debug: 0, info: 1, warn: 2 } as const;

/** The id the driver put in a payload, or null for anything else. */
function messageIdOf(data: unknown): string | null {
  if (typeof data !== "object" || data === null) return null;
  const id = (data as { id?: unknown }).id;
  return typeof id === "string" ? id : null;
}
