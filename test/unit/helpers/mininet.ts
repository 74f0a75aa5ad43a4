import { Mesh, timing, type ChannelRecord, type Directive, type LinkId, type MeshEvent, type PeerFrame } from "../../../src/mesh/index.ts";
import { decodePeerFrame, encodePeerFrame } from "../../../src/protocol/peer.ts";

/** A seeded PRNG (mulberry32), so every run of a test is the same. */
export function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** What the test wants to see of the run, besides the directives MiniNet carries out itself. */
export interface Observer {
  /** Every directive a core returned, before MiniNet acts on it. */
  directive?(node: string, d: Directive): void;
  /** After a core handled an event and its directives were seen: the moment to sample its state. */
  handled?(node: string, event: MeshEvent): void;
}

export interface MiniNetOptions {
  /**
   * A seeded source that picks which ready queue runs next. Without it every item runs in the
   * order it was queued (one global FIFO), the plain zero-latency network.
   */
  schedule?: () => number;
  /** With `schedule`: frames and tasks wait up to this long (ms) before they are ready; FIFO per queue is kept. */
  maxLatencyMs?: number;
  observer?: Observer;
}

/** One unit of work for a node, with the order it was queued in and the time it may run. */
interface Item {
  seq: number;
  readyAt: number;
  run: () => void;
}

/** A FIFO queue of items for one node. Frames of one link direction share a lane, so a link stays in order like TCP. */
interface Lane {
  items: Item[];
  /** Set for a link's inbox: the end that receives, so a partition or a link not yet up can hold it. */
  end?: LinkEnd;
}

/** One end of a link, as the node that owns it sees it. */
interface LinkEnd {
  node: string;
  peer: string;
  peerLink: LinkId;
  /** The owner has handled linkUp for this end: frames before that would be dropped by the core as unknown. */
  up: boolean;
  /** Either end closed the link: nothing more is sent on it; the inbox drains, then the end is forgotten. */
  closed: boolean;
  /** Frames (and finally the linkDown) on their way to this end. */
  inbox: Lane;
}

/**
 * A tiny in-memory network of real Mesh cores, driven through the real peer codec: enough to run
 * handlers end to end. The full simulator with real latencies is test/sim.
 *
 * Without a scheduler it is a zero-latency FIFO network. With one, a seeded choice among the
 * ready queues interleaves deliveries (each link direction stays in order, as over TCP), frames
 * and model tasks may wait a little, and `partition` holds or drops frames between sides until
 * `heal`: the adversary of the channel-registry model test.
 */
export class MiniNet {
  readonly nodes = new Map<string, Mesh>();
  /** Deliveries, for tests that only look at what arrived. */
  readonly delivered: { node: string; channel: string; instance: string; data: unknown }[] = [];
  /** Answers to open events, by "node/req". */
  readonly opened = new Map<string, ChannelRecord>();
  now = 0;
  private nextLink = 1;
  private seq = 0;
  private readonly ends = new Map<LinkId, LinkEnd>();
  /** Per node: shell events (ticks, link changes, probes, injected events), and the model's tasks. */
  private readonly local = new Map<string, Lane>();
  private readonly tasks = new Map<string, Lane>();
  /** Partition side of each node; all on side 0 when whole. */
  private readonly side = new Map<string, number>();
  private readonly schedule: (() => number) | undefined;
  private readonly maxLatency: number;
  private readonly observer: Observer;

  constructor(options: MiniNetOptions = {}) {
    this.schedule = options.schedule;
    this.maxLatency = options.schedule ? (options.maxLatencyMs ?? 0) : 0;
    this.observer = options.observer ?? {};
  }

  add(name: string, seeds: string[], maxPeers = 8): Mesh {
    const mesh = new Mesh({ self: { name, incarnation: 1, region: "r", url: `ws://${name}` }, seeds, maxPeers }, rng(name.length * 7919 + name.charCodeAt(name.length - 1)));
    this.nodes.set(name, mesh);
    return mesh;
  }

  /** Advances time by `ms`: every TICK_MS each node ticks, then everything ready runs. */
  run(ms: number): void {
    const end = this.now + ms;
    for (; this.now < end; this.now += timing.TICK_MS) {
      for (const name of this.nodes.keys()) this.inject(name, { type: "tick" });
      this.drain();
    }
  }

  /** Queues an event for a node and runs everything ready. */
  event(name: string, e: MeshEvent): void {
    this.inject(name, e);
    this.drain();
  }

  /** Queues an event for a node, to run at the next drain. */
  inject(name: string, e: MeshEvent): void {
    this.push(this.laneOf(this.local, name), 0, () => this.handleNow(name, e));
  }

  /**
   * Queues a step of the test's model (a shell continuation, like a password check finishing) to
   * run at a point the scheduler picks, possibly after other frames.
   */
  task(name: string, run: () => void): void {
    this.push(this.laneOf(this.tasks, name), this.latency(), run);
  }

  /** Has a node handle an event at once, as a shell does from inside a callback. */
  handleNow(name: string, e: MeshEvent): void {
    const mesh = this.nodes.get(name);
    if (!mesh) return;
    if (e.type === "linkUp") {
      const end = this.ends.get(e.link);
      if (end) end.up = true;
    }
    const out = mesh.handle(e, this.now);
    for (const d of out) {
      this.observer.directive?.(name, d);
      this.apply(name, d);
    }
    this.observer.handled?.(name, e);
  }

  /**
   * Splits the network: nodes in different groups (a node in no group is alone) cannot dial or
   * probe each other, and frames between them wait. `drop` loses the frames already in flight,
   * as when the connections die at once; otherwise they arrive if the cut heals before the links
   * time out (TCP retransmitting).
   */
  partition(groups: string[][], drop = false): void {
    this.side.clear();
    let n = 1;
    groups.forEach((g, i) => g.forEach((name) => this.side.set(name, i + 1)));
    for (const name of this.nodes.keys()) if (!this.side.has(name)) this.side.set(name, groups.length + n++);
    if (drop) for (const end of this.ends.values()) if (!this.reachable(end.node, end.peer)) end.inbox.items.length = 0;
  }

  /** Ends every partition; frames held on links that survived are delivered. */
  heal(): void {
    this.side.clear();
  }

  reachable(a: string, b: string): boolean {
    return (this.side.get(a) ?? 0) === (this.side.get(b) ?? 0);
  }

  /** Runs ready items, one at a time, until none is ready. */
  private drain(): void {
    for (let lane = this.pick(); lane; lane = this.pick()) lane.items.shift()!.run();
  }

  /** The next queue to run: the oldest ready item without a scheduler, else a seeded choice. */
  private pick(): Lane | undefined {
    const ready: Lane[] = [];
    const consider = (lane: Lane) => {
      const head = lane.items[0];
      if (!head || head.readyAt > this.now) return;
      const end = lane.end;
      if (end && (!end.up || !this.reachable(end.node, end.peer))) return;
      ready.push(lane);
    };
    for (const lane of this.local.values()) consider(lane);
    for (const lane of this.tasks.values()) consider(lane);
    for (const [id, end] of this.ends) {
      if (end.closed && end.inbox.items.length === 0) this.ends.delete(id);
      else consider(end.inbox);
    }
    if (ready.length === 0) return undefined;
    if (this.schedule) return ready[Math.floor(this.schedule() * ready.length)];
    return ready.reduce((a, b) => (a.items[0]!.seq <= b.items[0]!.seq ? a : b));
  }

  private laneOf(map: Map<string, Lane>, name: string): Lane {
    let lane = map.get(name);
    if (!lane) map.set(name, (lane = { items: [] }));
    return lane;
  }

  private latency(): number {
    return this.maxLatency > 0 ? Math.floor(this.schedule!() * (this.maxLatency + 1)) : 0;
  }

  /** Appends to a lane; an item is never ready before the one ahead of it (FIFO). */
  private push(lane: Lane, delay: number, run: () => void): void {
    const last = lane.items[lane.items.length - 1];
    lane.items.push({ seq: this.seq++, readyAt: Math.max(this.now + delay, last?.readyAt ?? 0), run });
  }

  private open(link: LinkId, node: string, peer: string, peerLink: LinkId): void {
    const end: LinkEnd = { node, peer, peerLink, up: false, closed: false, inbox: { items: [] } };
    end.inbox.end = end;
    this.ends.set(link, end);
  }

  private apply(name: string, d: Directive): void {
    switch (d.type) {
      case "dial": {
        const target = d.address.replace(/^ws:\/\//, "");
        const peer = this.nodes.get(target);
        if (!peer || !this.reachable(name, target)) return this.inject(name, { type: "dialFailed", address: d.address });
        const a = this.nextLink++;
        const b = this.nextLink++;
        this.open(a, name, target, b);
        this.open(b, target, name, a);
        this.inject(name, { type: "linkUp", link: a, peer: peer.self, dialed: true, address: d.address });
        this.inject(target, { type: "linkUp", link: b, peer: this.nodes.get(name)!.self, dialed: false });
        return;
      }
      case "send": {
        const end = this.ends.get(d.link);
        // Through the real codec, so a frame the decoder would refuse fails here too.
        const decoded = decodePeerFrame(encodePeerFrame(d.frame), 4 * 1024 * 1024);
        if (!decoded.ok) throw new Error(`the peer codec refused a frame the core sent: ${decoded.reason}`);
        // A frame sent on a closed link (the peer closed it first) is lost, as on a dead socket.
        if (!end || end.closed) return;
        const to = this.ends.get(end.peerLink);
        if (to) this.push(to.inbox, this.latency(), () => this.handleNow(to.node, { type: "frame", link: end.peerLink, frame: decoded.frame as PeerFrame }));
        return;
      }
      case "close": {
        const end = this.ends.get(d.link);
        if (!end || end.closed) return;
        const other = this.ends.get(end.peerLink)!;
        end.closed = other.closed = true;
        // Frames still coming to the closer are for a link its core has already forgotten.
        end.inbox.items.length = 0;
        this.inject(name, { type: "linkDown", link: d.link });
        if (this.reachable(name, end.peer)) {
          // The peer reads what was sent before the close, then sees the socket close (FIN after data).
          this.push(other.inbox, 0, () => this.handleNow(end.peer, { type: "linkDown", link: end.peerLink }));
        } else {
          // Across a cut what was in flight is lost; the far end's socket dies too (its pings go unanswered).
          other.inbox.items.length = 0;
          this.inject(end.peer, { type: "linkDown", link: end.peerLink });
        }
        return;
      }
      case "probe":
        return this.inject(name, { type: "probed", name: d.name, rtt: this.nodes.has(d.name) && this.reachable(name, d.name) ? 1 : null });
      case "deliver":
        return void this.delivered.push({ node: name, channel: d.channel, instance: d.instance, data: d.data });
      case "opened":
        return void this.opened.set(`${name}/${d.req}`, d.record);
      case "openFailed":
      case "channelLost":
      case "log":
        return;
    }
  }
}
