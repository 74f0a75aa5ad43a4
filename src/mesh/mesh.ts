import {
  LINK_DRAIN_MS,
  DETECT_EVERY_MS,
  DIAL_TIMEOUT_MS,
  FORGET_DEAD_MS,
  GOSSIP_BATCH_MS,
  HOP_LIMIT,
  LINK_DEAD_MS,
  OVERLAY_EVERY_MS,
  PING_INTERVAL_MS,
  PUSH_PULL_MS,
  RTT_EWMA,
  RTT_REPORT_CHANGE,
  RTT_REPORT_MIN_MS,
  suspicionTimeoutMs,
  CHANNEL_CHUNK,
  OPEN_RETRY_MS,
  REGSYNC_EVERY_MS,
  JOIN_GRACE_MS,
  newcomerCap,
} from "./constants.ts";
import { ChannelRegistry } from "./channels.ts";
import { LoadTable } from "./load.ts";
import { DedupWindow } from "./dedup.ts";
import { LinkStateGraph, TRANSITION_MS, type Tree, type TreeCache } from "./graph.ts";
import { InterestTable } from "./interest.ts";
import { MemberTable, supersedes } from "./members.ts";
import { Overlay, type Link } from "./overlay.ts";
import type { CallBody, ChannelRecord, DigestEntry, Directive, InterestUpdate, LinkId, LoadRecord, Lsa, MemberRecord, MeshEvent, NodeName, Payload, PeerFrame, PeerInfo } from "./types.ts";

/** What a node tells its mesh core at start. */
export interface MeshConfig {
  self: PeerInfo;
  /** Addresses (host:port or ws://host:port) to join through. */
  seeds: string[];
  /** Most links to keep (--max-peers). */
  maxPeers: number;
  /**
   * A shortest-path tree cache shared by every core in this process (the simulator's); trees in it
   * are keyed by graph content, so cores holding the same LSAs share them. Default: a private one.
   */
  sharedTrees?: TreeCache;
}

/** Counters for /metrics and the simulator. */
export interface MeshStats {
  /** Data frames sent to a peer (origin or relay). */
  routed: number;
  /** Data messages handed to local subscribers. */
  delivered: number;
  /** Data frames dropped as already seen. */
  duplicates: number;
  /** Data frames dropped: hop limit, or a tree child with no live link. */
  dropped: number;
  /** Data frames flooded because the origin was not yet in the link-state graph. */
  fallbacks: number;
  /** Member state changes applied (joins, suspicions, deaths, leaves, refutations). */
  membershipChanges: number;
  /** Data frames not delivered locally because a later one from the same origin already was (route changes). */
  lateDropped: number;
}

/** One member as /nodes shows it. */
export interface MemberView {
  name: NodeName;
  url: string;
  region: string;
  incarnation: number;
  state: MemberRecord["state"];
  /** RTT from this node (link average, else a probe), ms. */
  rtt: number | null;
  /** True when this node holds a link to it. */
  linked: boolean;
  /** Client connections as the member last reported them (null: not heard yet). */
  connections: number | null;
  /** The member reported that it takes no new clients. */
  draining: boolean;
}

/** Records waiting to be flooded, each with the link it came from (not sent back there). */
interface Outbox {
  members: Map<NodeName, { record: MemberRecord; from: LinkId | null }>;
  lsas: Map<NodeName, { lsa: Lsa; from: LinkId | null }>;
  interests: { update: InterestUpdate; from: LinkId | null }[];
  channels: { record: ChannelRecord; from: LinkId | null }[];
  loads: { record: LoadRecord; from: LinkId | null }[];
}

/** Most records in one gossip frame, so a frame stays far below the peer frame size limit. */
const GOSSIP_CHUNK = 256;
/** Routes kept between graph or interest changes (origins x channels seen); past it they are recomputed from empty. */
const ROUTE_MEMO_MAX = 4096;

/**
 * The mesh core: a pure state machine. `handle(event, now)` returns what the shell must do; no
 * sockets, timers, clocks or randomness inside (the random source is passed in), so the node and
 * the simulator run the same code.
 */
export class Mesh {
  readonly self: PeerInfo;
  /** --max-peers: the link budget. */
  private readonly maxPeers: number;
  private readonly table = new MemberTable();
  private readonly graph: LinkStateGraph;
  private readonly interest: InterestTable;
  private readonly dedup = new DedupWindow();
  private readonly overlay: Overlay;
  /** Live links by id, and the link to each peer. */
  private readonly linkMap = new Map<LinkId, Link>();
  private readonly byPeer = new Map<NodeName, LinkId>();
  private readonly outbox: Outbox = { members: new Map(), lsas: new Map(), interests: [], channels: [], loads: [] };
  private readonly loads: LoadTable;
  /** The replicated channel registry; it reaches the network through the host made in the constructor. */
  private readonly registry: ChannelRegistry;
  /** membershipChanges as the registry last heard of it: a difference means ownership may have moved. */
  private registryTerm = -1;
  /**
   * The last full membership, the base of a strict majority: every member seen and not left,
   * dead ones included even after the member table forgets them (FORGET_DEAD_MS), so the
   * minority side of a partition stays a minority however long the partition lasts. Only a
   * leave takes a member out (one that crashed for good counts until this node restarts).
   */
  private readonly quorum = new Set<NodeName>();
  /** The registry sync asked for last: which link, at which term, when. */
  private regsyncAsked: { link: LinkId; term: number; at: number } | null = null;
  private lastRegsync = 0;
  /** Until this time, a node with seeds that has not linked yet does not bind names alone (JOIN_GRACE_MS). */
  private joinGraceUntil: number | null;
  /** Own LSA sequence, and the links as last reported (to re-flood only on real change). */
  private lsaSeq = 0;
  private reported = new Map<NodeName, number>();
  /** Next data sequence number of this incarnation. */
  private dataSeq = 0;
  /** When each alive member was first seen unreported by any link (failure detector). */
  private readonly unreportedSince = new Map<NodeName, number>();
  /**
   * What the detector's last pass saw (the reachable set and its size, the table version, the
   * link epoch) and the members it left to watch: dead, left or unreported ones.
   */
  private detectWatch: { reach: ReadonlySet<NodeName>; reachSize: number; table: number; links: number; names: NodeName[] } | null = null;
  /** Bumped whenever byPeer changes. */
  private linkEpoch = 0;
  private lastInterestFlush = 0;
  private lastDetect = 0;
  private lastOverlay = -Infinity;
  private lastPushPull = 0;
  private left = false;
  /**
   * The highest sequence number delivered locally per origin life (`origin incarnation`). While
   * routes change, a message can take the old, longer path and arrive after a later one took the
   * new path; it is then not delivered (at most once, but in order: docs/guarantees.md).
   */
  private readonly deliveredUpTo = new Map<string, number>();
  /** When a graceful leave began: links are withdrawn from the LSA but still forward, until LINK_DRAIN_MS later. */
  private leavingSince: number | null = null;
  private out: Directive[] = [];
  /** `now` of the event being handled, for the few helpers deep in a call that need it. */
  private clock = 0;
  /** forward()'s targets per origin and channel, for the graph, interest index and transition state they were computed under (see targets()). */
  private routes: { graph: number; interest: number; transition: boolean; size: number; byOrigin: Map<NodeName, Map<string, Iterable<NodeName> | null>> } = { graph: -1, interest: -1, transition: false, size: 0, byOrigin: new Map() };
  /** graph.changes as of the end of the last event, and when it last moved: the graph's previous tree lasts TRANSITION_MS from then. */
  private graphSeen = -1;
  private graphChangedAt = -Infinity;
  private readonly counters: MeshStats = { routed: 0, delivered: 0, duplicates: 0, dropped: 0, fallbacks: 0, membershipChanges: 0, lateDropped: 0 };

  constructor(
    config: MeshConfig,
    private readonly random: () => number,
  ) {
    this.self = { ...config.self };
    this.interest = new InterestTable(this.self.name, this.self.incarnation);
    this.maxPeers = config.maxPeers;
    this.graph = new LinkStateGraph(config.sharedTrees, this.self.name);
    this.overlay = new Overlay(config.seeds, config.maxPeers, random);
    this.joinGraceUntil = config.seeds.length > 0 ? null : -Infinity;
    this.loads = new LoadTable(this.self.name, () => this.self.incarnation);
    this.table.merge({ ...this.selfRecord() }, 0);
    this.quorum.add(this.self.name);
    this.graph.put({ origin: this.self.name, incarnation: this.self.incarnation, seq: 0, links: [] }, 0);
    const mesh = this;
    this.registry = new ChannelRegistry({
      self: this.self.name,
      get incarnation() {
        return mesh.self.incarnation;
      },
      call: (to, req, body) => this.route({ t: "call", to, from: this.self.name, hops: 0, req, body }),
      flood: (record) => void this.outbox.channels.push({ record, from: null }),
      hasInterest: (channel) => (this.interest.nodesFor(channel)?.size ?? 0) > 0,
      quorumBase: () => this.quorum.size,
      emit: (d) => void this.out.push(d),
    });
  }

  /** Applies one event at time `now` (ms) and returns the directives for the shell. */
  handle(event: MeshEvent, now: number): Directive[] {
    this.out = [];
    this.clock = now;
    if (this.left && event.type !== "linkDown") return [];
    switch (event.type) {
      case "tick":
        this.onTick(now);
        break;
      case "linkUp":
        this.onLinkUp(event.link, event.peer, event.dialed, event.address, now);
        break;
      case "linkDown":
        this.onLinkDown(event.link, now);
        break;
      case "dialFailed":
        this.overlay.dialFailed(event.address, now);
        break;
      case "frame":
        this.onFrame(event.link, event.frame, now);
        break;
      case "probed":
        this.overlay.probed(event.name, event.rtt, this.table, now);
        break;
      case "interest":
        this.interest.setLocal(event.channel, event.interested);
        break;
      case "publish":
        this.originate(event.channel, event.instance, event.data, event.from, event.n);
        break;
      case "open":
        this.registry.open(event.req, event.channel, event.verifier, event.strict, now);
        break;
      case "load": {
        const record = this.loads.local(event.connections, event.draining, now);
        if (record) this.outbox.loads.push({ record, from: null });
        break;
      }
      case "closeChannel":
        this.registry.close(event.channel, now);
        break;
      case "call":
        if (event.to === this.self.name) this.out.push({ type: "called", from: this.self.name, req: event.req, body: event.body });
        else this.route({ t: "call", to: event.to, from: this.self.name, hops: 0, req: event.req, body: event.body });
        break;
      case "leave":
        this.onLeave(now);
        break;
    }
    if (this.counters.membershipChanges !== this.registryTerm && !this.left) this.onMembershipChanged(now);
    this.noteGraphChange();
    return this.out;
  }

  /** The live record of a channel, as this node's registry holds it. */
  channel(name: string): ChannelRecord | undefined {
    return this.registry.get(name);
  }

  /** How many live channels the registry holds. */
  channelCount(): number {
    return this.registry.size;
  }

  /** Every live channel record, with the nodes that have subscribers for it. */
  channels(): { record: ChannelRecord; nodes: NodeName[] }[] {
    return this.registry.records().map((record) => ({ record, nodes: [...(this.interest.nodesFor(record.name) ?? [])].sort() }));
  }

  /** Registry counters (opens asked, binds made, conflicts, closes, failed opens) and its state. */
  registryStats(): ChannelRegistry["stats"] & { synced: boolean; hash: number } {
    return { ...this.registry.stats, synced: this.registry.synced, hash: this.registry.hash };
  }

  /** The member table, self included, for /nodes. */
  members(): MemberView[] {
    const views: MemberView[] = [];
    for (const m of this.table.values()) {
      const linkId = this.byPeer.get(m.record.name);
      const link = linkId === undefined ? undefined : this.linkMap.get(linkId);
      views.push({
        name: m.record.name,
        url: m.record.url,
        region: m.record.region,
        incarnation: m.record.incarnation,
        state: m.record.state,
        rtt: m.record.name === this.self.name ? 0 : (link?.rtt ?? m.probedRtt),
        linked: link !== undefined,
        connections: this.loads.get(m.record.name)?.connections ?? null,
        draining: this.loads.get(m.record.name)?.draining ?? false,
      });
    }
    return views.sort((a, b) => (a.name < b.name ? -1 : 1));
  }

  /** One member's record as this node holds it (self included): a look-up, where members() builds every view. */
  member(name: NodeName): Readonly<MemberRecord> | undefined {
    return this.table.get(name)?.record;
  }

  /** This node's links (not those being drained away), for /nodes and the dashboard. */
  links(): { link: LinkId; peer: NodeName; rtt: number | null; dialed: boolean }[] {
    return [...this.linkMap.values()].filter((l) => l.drainingSince === null).map((l) => ({ link: l.id, peer: l.peer.name, rtt: l.rtt, dialed: l.dialed }));
  }

  /** Counters since start. */
  stats(): MeshStats {
    return { ...this.counters };
  }

  /** Every edge of the link-state graph both ends report, with its RTT: the mesh map. */
  topology(): { a: NodeName; b: NodeName; rtt: number }[] {
    const edges: { a: NodeName; b: NodeName; rtt: number }[] = [];
    for (const lsa of this.graph.all()) {
      for (const [peer, rtt] of lsa.links) {
        if (lsa.origin < peer && this.graph.get(peer)?.links.some(([n]) => n === lsa.origin)) edges.push({ a: lsa.origin, b: peer, rtt });
      }
    }
    return edges;
  }

  // ---- time ----

  private onTick(now: number): void {
    if (this.leavingSince !== null) {
      // Leaving: keep relaying until every node has routed around us, then say goodbye.
      if (now - this.leavingSince >= LINK_DRAIN_MS) this.finishLeave(now);
      else this.flushOutbox();
      return;
    }
    for (const link of [...this.linkMap.values()]) {
      if (link.drainingSince !== null && now - link.drainingSince >= LINK_DRAIN_MS) {
        this.out.push({ type: "close", link: link.id, reason: "dropped by the overlay" });
        this.dropLink(link.id, now, true);
      } else if (now - link.lastHeard > LINK_DEAD_MS) {
        this.log("info", `link to ${link.peer.name} silent for ${Math.round(now - link.lastHeard)} ms: closing`);
        this.out.push({ type: "close", link: link.id, reason: "ping timeout" });
        this.dropLink(link.id, now, false);
      } else if (now - link.lastPing >= PING_INTERVAL_MS) {
        link.lastPing = now;
        this.send(link.id, { t: "ping", ts: now });
      }
    }
    for (const address of this.overlay.expiredDials(now, DIAL_TIMEOUT_MS)) this.overlay.dialFailed(address, now);
    if (now - this.lastInterestFlush >= GOSSIP_BATCH_MS) {
      this.lastInterestFlush = now;
      const delta = this.interest.flush();
      if (delta) this.outbox.interests.push({ update: delta, from: null });
    }
    if (now - this.lastDetect >= DETECT_EVERY_MS) {
      this.lastDetect = now;
      this.detectFailures(now);
    }
    if (now - this.lastOverlay >= OVERLAY_EVERY_MS) {
      this.lastOverlay = now;
      // The overlay sees only links that are staying; its closes become drains (make before break).
      const staying = new Map([...this.linkMap].filter(([, l]) => l.drainingSince === null));
      const stayingByPeer = new Map([...this.byPeer].filter(([, id]) => staying.has(id)));
      for (const d of this.overlay.upkeep(now, this.table, this.self.name, staying, stayingByPeer, this.graph)) {
        if (d.type !== "close") {
          this.out.push(d);
          continue;
        }
        const link = this.linkMap.get(d.link);
        if (!link) continue;
        this.log("info", `dropping the link to ${link.peer.name}: ${d.reason}`);
        link.drainingSince = now;
        this.updateOwnLsa(true);
      }
    }
    if (!this.registry.synced && this.alone(now)) this.registry.markSynced();
    this.registry.tick(now);
    if (this.linkMap.size > 0 && (now - this.lastRegsync >= REGSYNC_EVERY_MS || (!this.registry.synced && (this.regsyncAsked === null || now - this.regsyncAsked.at >= OPEN_RETRY_MS)))) {
      this.askRegsync(now);
    }
    if (now - this.lastPushPull >= PUSH_PULL_MS && this.linkMap.size > 0) {
      this.lastPushPull = now;
      const ids = [...this.linkMap.keys()];
      this.send(ids[Math.floor(this.random() * ids.length)]!, this.digest(true));
    }
    this.flushOutbox();
  }

  /**
   * The failure detector (ARCHITECTURE.md section 4): a member is suspect when no live node
   * reports a link to it, read as "not reachable from here over links both ends report" (for
   * longer than a link takes to be declared dead, so a member learnt a moment ago is not suspected
   * before its links are known), and dead once suspect for suspicionTimeoutMs(N). Both verdicts
   * are gossiped; the member refutes with a new incarnation.
   */
  private detectFailures(now: number): void {
    const reachable = this.graph.reachableFrom(this.self.name);
    // Members reachable or linked need nothing. If neither the table, the links nor reachability
    // changed since the last pass, only the members that pass left dead, left or unreported can.
    const w = this.detectWatch;
    const quiet = w !== null && w.reach === reachable && w.reachSize === reachable.size && w.table === this.table.version && w.links === this.linkEpoch;
    const members = quiet ? w.names.map((n) => this.table.get(n)!) : [...this.table.values()];
    const watch: NodeName[] = [];
    for (const m of members) {
      const name = m.record.name;
      if (name === this.self.name) continue;
      const state = m.record.state;
      if (state === "dead" || state === "left") {
        if (now - m.since > FORGET_DEAD_MS) {
          if (state === "dead") this.overlay.forgot(m.record.url);
          this.table.delete(name);
          this.unreportedSince.delete(name);
          this.dedup.forget(name);
        } else watch.push(name);
        continue;
      }
      const reported = this.byPeer.has(name) || reachable.has(name);
      if (reported) {
        this.unreportedSince.delete(name);
        continue;
      }
      watch.push(name);
      const since = this.unreportedSince.get(name) ?? now;
      this.unreportedSince.set(name, since);
      if (state === "alive" && now - since >= LINK_DEAD_MS) {
        this.changeState(name, "suspect", now);
      } else if (state === "suspect" && now - m.since >= suspicionTimeoutMs(this.table.size)) {
        this.changeState(name, "dead", now);
      }
    }
    this.detectWatch = { reach: reachable, reachSize: reachable.size, table: this.table.version, links: this.linkEpoch, names: watch };
  }

  private changeState(name: NodeName, state: "suspect" | "dead", now: number): void {
    const record = this.table.setState(name, state, now);
    if (!record) return;
    this.counters.membershipChanges++;
    this.log("info", `${name} is ${state}`);
    this.outbox.members.set(name, { record, from: null });
    if (state === "dead") this.forgetRoutes(name);
  }

  // ---- links ----

  private onLinkUp(id: LinkId, peer: PeerInfo, dialed: boolean, address: string | undefined, now: number): void {
    if (address !== undefined) this.overlay.dialSucceeded(address);
    const random = address !== undefined && this.overlay.wasRandom(address);
    if (peer.name === this.self.name) {
      this.out.push({ type: "close", link: id, reason: "a link to ourselves" });
      return;
    }
    const existing = this.byPeer.get(peer.name);
    if (existing !== undefined) {
      // Both sides dialed at once: keep the link opened by the smaller name, on both ends alike.
      const old = this.linkMap.get(existing)!;
      const dialerOf = (d: boolean) => (d ? this.self.name : peer.name);
      const keepNew = dialerOf(dialed) < dialerOf(old.dialed);
      const loser = keepNew ? existing : id;
      this.out.push({ type: "close", link: loser, reason: "duplicate link" });
      if (!keepNew) return;
      this.dropLink(existing, now, true);
    }
    // At the budget, turn away a peer that has other links (it will dial someone else) unless it
    // is clearly nearer than our farthest link (then the overlay trims that one). A newcomer with
    // no links yet is taken (so seeds admit everyone), up to newcomerCap, and trimmed once it has others.
    // The LSA counts only if it is this life's: a node that just restarted has no links yet, whatever its last life reported.
    const lsa = this.graph.get(peer.name);
    const hasLinks = lsa !== undefined && lsa.incarnation >= peer.incarnation && lsa.links.length > 0;
    if (!dialed && this.linkMap.size >= this.maxPeers && hasLinks && !this.overlay.nearerThanWorst(peer.name, this.table, this.linkMap, this.self.name)) {
      this.out.push({ type: "close", link: id, reason: "over the link budget" });
      return;
    }
    // ... but not past newcomerCap: then name it members with room (it dials one of them), and close.
    if (!dialed && !hasLinks && existing === undefined && this.linkMap.size >= newcomerCap(this.maxPeers)) {
      const members = this.overlay.redirectSample(this.table, this.self.name, peer.name, this.graph);
      this.send(id, { t: "gossip", members, lsas: [], interests: [], channels: [], loads: [] });
      this.out.push({ type: "close", link: id, reason: "over the link budget: redirected" });
      return;
    }
    const link: Link = { id, peer, dialed, rtt: null, lastHeard: now, lastPing: now, random, drainingSince: null };
    this.linkMap.set(id, link);
    this.byPeer.set(peer.name, id);
    this.linkEpoch++;
    this.log("info", `link up: ${peer.name} (${dialed ? "dialed" : "accepted"})`);
    this.learn({ name: peer.name, incarnation: peer.incarnation, url: peer.url, region: peer.region, state: "alive" }, null, now);
    this.send(id, { t: "ping", ts: now });
    // Push-pull at once, so a joining node learns the whole network from its first link.
    this.send(id, this.digest(true));
  }

  private onLinkDown(id: LinkId, now: number): void {
    const link = this.linkMap.get(id);
    if (!link) return;
    this.log("info", `link down: ${link.peer.name}`);
    this.dropLink(id, now, false);
  }

  private dropLink(id: LinkId, now: number, replaced: boolean): void {
    const link = this.linkMap.get(id);
    if (!link) return;
    this.linkMap.delete(id);
    if (this.byPeer.get(link.peer.name) === id) this.byPeer.delete(link.peer.name);
    this.linkEpoch++;
    if (!replaced) this.overlay.linkLost(link.peer.url, now);
    // Alone now (say, turned away by a full node with a list of others): dial again at the next tick, not a round later.
    if (this.linkMap.size === 0) this.lastOverlay = -Infinity;
    this.updateOwnLsa(true);
    this.flushOutbox();
  }

  // ---- frames ----

  private onFrame(id: LinkId, frame: PeerFrame, now: number): void {
    const link = this.linkMap.get(id);
    if (!link) return;
    link.lastHeard = now;
    switch (frame.t) {
      case "ping":
        return this.send(id, { t: "pong", ts: frame.ts });
      case "pong":
        return this.onPong(link, now - frame.ts);
      case "gossip":
        return this.onGossip(id, frame, now);
      case "digest":
        return this.onDigest(id, frame.entries, frame.reply, now);
      case "data":
        return this.onData(id, frame);
      case "leave":
        return this.onPeerLeave(id, frame.name, frame.incarnation, now);
      case "regsync":
        return this.onRegsync(id, frame.hash, frame.reply, now);
      case "call":
        return this.onCall(frame, now);
    }
  }

  private onPong(link: Link, sample: number): void {
    if (!(sample >= 0)) return;
    link.rtt = link.rtt === null ? sample : link.rtt + RTT_EWMA * (sample - link.rtt);
    this.updateOwnLsa(false);
  }

  private onGossip(from: LinkId, frame: Extract<PeerFrame, { t: "gossip" }>, now: number): void {
    for (const record of frame.members) this.learn(record, from, now);
    for (const lsa of frame.lsas) {
      // A flooded LSA reaches a node over each of its links: every copy after the first is old news
      // and skips the member check (at 1,000 members, most LSAs a node hears are such copies).
      if (!this.graph.isNewer(lsa)) continue;
      const member = this.table.get(lsa.origin)?.record;
      // An LSA from a life already declared dead or left must not put its links back.
      if (member && member.state !== "alive" && member.state !== "suspect" && member.incarnation >= lsa.incarnation) continue;
      if (lsa.origin === this.self.name) continue;
      if (this.graph.put(lsa, now)) this.outbox.lsas.set(lsa.origin, { lsa, from });
    }
    let gap = false;
    for (const update of frame.interests) {
      const result = this.interest.apply(update);
      if (result === "applied") this.outbox.interests.push({ update, from });
      else if (result === "gap") gap = true;
    }
    // A delta that does not follow what we hold: ask this peer for everything newer than ours.
    if (gap) this.send(from, this.digest(true));
    for (const record of frame.channels) if (this.registry.apply(record, now)) this.outbox.channels.push({ record, from });
    for (const record of frame.loads) {
      const state = this.table.get(record.origin)?.record.state;
      if ((state === "alive" || state === "suspect") && this.loads.apply(record)) this.outbox.loads.push({ record, from });
    }
  }

  // ---- channel registry ----

  /**
   * Ownership may have moved: the registry stops answering opens until it has synced with a
   * neighbour, and asks one at once.
   */
  private onMembershipChanged(now: number): void {
    this.registryTerm = this.counters.membershipChanges;
    const live: NodeName[] = [];
    for (const name of this.table.sortedNames()) {
      const state = this.table.get(name)!.record.state;
      if (state === "left") this.quorum.delete(name);
      else this.quorum.add(name);
      if (state === "alive" || state === "suspect") live.push(name);
    }
    this.registry.membershipChanged(live, this.alone(now));
    if (this.linkMap.size > 0) this.askRegsync(now);
  }

  /** No link to sync the registry with, and not about to join one: this node may bind names by itself. */
  private alone(now: number): boolean {
    this.joinGraceUntil ??= now + JOIN_GRACE_MS;
    return this.linkMap.size === 0 && now >= this.joinGraceUntil;
  }

  private askRegsync(now: number): void {
    const ids = [...this.linkMap.keys()];
    const link = ids[Math.floor(this.random() * ids.length)]!;
    this.lastRegsync = now;
    this.regsyncAsked = { link, term: this.registryTerm, at: now };
    this.send(link, { t: "regsync", hash: this.registry.hash, reply: true });
  }

  /**
   * Registry anti-entropy. Asked (`reply`): send every record when the hashes differ, then answer
   * with our hash. Answered: the peer's records (if any) came just before; if ours still differ
   * the peer lacks some of ours, so send them; and we now hold at least all the peer held.
   */
  private onRegsync(from: LinkId, hash: number, reply: boolean, now: number): void {
    if (hash !== this.registry.hash) this.sendRecords(from, this.registry.everything(now));
    if (reply) return this.send(from, { t: "regsync", hash: this.registry.hash, reply: false });
    const asked = this.regsyncAsked;
    if (asked && asked.link === from && asked.term === this.registryTerm) {
      this.regsyncAsked = null;
      this.registry.markSynced();
    }
  }

  private sendRecords(link: LinkId, records: ChannelRecord[]): void {
    for (let i = 0; i < records.length; i += CHANNEL_CHUNK) this.send(link, { t: "gossip", members: [], lsas: [], interests: [], channels: records.slice(i, i + CHANNEL_CHUNK), loads: [] });
  }

  /** A call for this node goes to the registry; any other is relayed one hop closer to its target. */
  private onCall(frame: Extract<PeerFrame, { t: "call" }>, now: number): void {
    if (frame.to === this.self.name) {
      const body = frame.body;
      if (body.kind === "rpc" || body.kind === "rpcReply") return void this.out.push({ type: "called", from: frame.from, req: frame.req, body });
      return this.registry.onCall(frame.from, frame.req, body, now);
    }
    if (frame.hops + 1 >= HOP_LIMIT) return;
    this.route({ ...frame, hops: frame.hops + 1 });
  }

  /** Sends a call one hop along the shortest path to its target; false when no path is known. */
  private route(frame: Extract<PeerFrame, { t: "call" }>): boolean {
    const direct = this.byPeer.get(frame.to);
    if (direct !== undefined) {
      this.send(direct, frame);
      return true;
    }
    const tree = this.graph.tree(this.self.name);
    const at = tree.tin.get(frame.to);
    if (at === undefined) return false;
    for (const child of tree.children.get(this.self.name) ?? []) {
      if (at >= tree.tin.get(child)! && at <= tree.tout.get(child)!) {
        const id = this.byPeer.get(child);
        if (id === undefined) return false;
        this.send(id, frame);
        return true;
      }
    }
    return false;
  }

  /** Merges a member record, refuting it if it slanders this node, and floods it if it was news. */
  private learn(record: MemberRecord, from: LinkId | null, now: number): void {
    if (record.name === this.self.name) {
      if (record.incarnation > this.self.incarnation || (record.incarnation === this.self.incarnation && record.state !== "alive")) this.refute(record.incarnation, now);
      return;
    }
    const previous = this.table.merge(record, now);
    if (previous === null) return;
    this.counters.membershipChanges++;
    this.outbox.members.set(record.name, { record: this.table.get(record.name)!.record, from });
    if (previous === "new") this.log("info", `${record.name} joined (${record.region || "no region"})`);
    else if (previous !== record.state) this.log("info", `${record.name} is ${record.state}${record.state === "alive" ? ` again (incarnation ${record.incarnation})` : ""}`);
    if (record.state === "dead" || record.state === "left") this.forgetRoutes(record.name);
    else {
      this.unreportedSince.delete(record.name);
      // A new life of a member: routes through its previous life's links are gone with it.
      const lsa = this.graph.get(record.name);
      if (lsa && lsa.incarnation < record.incarnation) this.graph.remove(record.name, now);
    }
  }

  /** Someone says this node is suspect or dead: raise the incarnation and say it is alive. */
  private refute(seen: number, now: number): void {
    this.self.incarnation = Math.max(this.self.incarnation, seen) + 1;
    this.counters.membershipChanges++;
    this.log("info", `refuting a suspicion: now incarnation ${this.self.incarnation}`);
    this.table.merge(this.selfRecord(), now);
    this.outbox.members.set(this.self.name, { record: this.selfRecord(), from: null });
    this.outbox.interests.push({ update: this.interest.reincarnate(this.self.incarnation), from: null });
    this.updateOwnLsa(true);
  }

  private onPeerLeave(from: LinkId, name: NodeName, incarnation: number, now: number): void {
    const held = this.table.get(name)?.record;
    if (!held) return;
    this.learn({ ...held, incarnation, state: "left" }, from, now);
  }

  /**
   * A graceful leave, in two steps, like a link the overlay drops: first withdraw every link from
   * this node's LSA, so the others recompute their trees without it, while it still relays what
   * is already on its way; LINK_DRAIN_MS later, send LEAVE and close the links. A node that left
   * at once would drop the messages it was relaying for others.
   */
  private onLeave(now: number): void {
    if (this.leavingSince !== null) return;
    this.leavingSince = now;
    if (this.linkMap.size === 0) return this.finishLeave(now);
    for (const link of this.linkMap.values()) link.drainingSince ??= now;
    this.updateOwnLsa(true);
    this.flushOutbox();
  }

  private finishLeave(now: number): void {
    const record: MemberRecord = { ...this.selfRecord(), state: "left" };
    this.table.merge(record, now);
    for (const id of this.linkMap.keys()) {
      this.send(id, { t: "leave", name: this.self.name, incarnation: this.self.incarnation });
      this.out.push({ type: "close", link: id, reason: "left the mesh" });
    }
    this.left = true;
  }

  /** True once a graceful leave has finished (LEAVE sent, links closed). */
  get hasLeft(): boolean {
    return this.left;
  }

  private forgetRoutes(name: NodeName): void {
    this.graph.remove(name, this.clock);
    this.interest.forget(name);
    this.loads.forget(name);
    for (const key of this.deliveredUpTo.keys()) if (key.startsWith(`${name} `)) this.deliveredUpTo.delete(key);
    this.unreportedSince.delete(name);
  }

  // ---- push-pull ----

  private digest(reply: boolean): PeerFrame {
    const entries: DigestEntry[] = [];
    for (const m of this.table.values()) {
      const r = m.record;
      entries.push({ name: r.name, incarnation: r.incarnation, state: r.state, lsaSeq: this.graph.get(r.name)?.seq ?? -1, interestVersion: this.interest.versionOf(r.name) });
    }
    return { t: "digest", entries, reply };
  }

  /** Sends the peer every record newer than its digest shows, and asks for what it has newer. */
  private onDigest(from: LinkId, entries: DigestEntry[], reply: boolean, now: number): void {
    const theirs = new Map(entries.map((e) => [e.name, e]));
    const members: MemberRecord[] = [];
    const lsas: Lsa[] = [];
    const interests: InterestUpdate[] = [];
    for (const m of this.table.values()) {
      const r = m.record;
      const e = theirs.get(r.name);
      const theirRecord = e && { name: e.name, incarnation: e.incarnation, url: r.url, region: r.region, state: e.state };
      if (supersedes(r, theirRecord)) members.push(r);
      const lsa = this.graph.get(r.name);
      if (lsa && (!e || lsa.incarnation > e.incarnation || (lsa.incarnation === e.incarnation && lsa.seq > e.lsaSeq))) lsas.push(lsa);
      if (this.interest.newerThan(r.name, e?.incarnation ?? -1, e?.interestVersion ?? -1)) {
        const full = this.interest.full(r.name);
        if (full) interests.push(full);
      }
    }
    for (let i = 0; i < Math.max(members.length, lsas.length, interests.length); i += GOSSIP_CHUNK) {
      // Loads are soft state without digest entries: whoever asks gets them all with the first chunk.
      this.send(from, { t: "gossip", members: members.slice(i, i + GOSSIP_CHUNK), lsas: lsas.slice(i, i + GOSSIP_CHUNK), interests: interests.slice(i, i + GOSSIP_CHUNK), channels: [], loads: i === 0 ? this.loads.all() : [] });
    }
    if (!reply) return;
    const weLack = entries.some((e) => {
      const held = this.table.get(e.name);
      if (!held) return true;
      const lsa = this.graph.get(e.name);
      return (
        supersedes({ ...held.record, incarnation: e.incarnation, state: e.state }, held.record) ||
        (e.lsaSeq >= 0 && (!lsa || (lsa.incarnation === e.incarnation && lsa.seq < e.lsaSeq))) ||
        this.interest.olderThan(e.name, e.incarnation, e.interestVersion)
      );
    });
    if (weLack) this.send(from, this.digest(false));
    void now;
  }

  // ---- data ----

  private originate(channel: string, instance: string, data: Payload, from: string, n: number | undefined): void {
    const seq = this.dataSeq++;
    // Nobody else wants it (always so on a lone node): skip the frame and the dedup entry. A gap in
    // seq is normal downstream, since each node sees only the channels it wants.
    if (!this.wantedElsewhere(channel)) return;
    this.dedup.seen(this.self.name, this.self.incarnation, seq);
    const frame: Extract<PeerFrame, { t: "data" }> = { t: "data", origin: this.self.name, incarnation: this.self.incarnation, seq, hops: 0, channel, instance, from, data };
    if (n !== undefined) frame.n = n;
    this.forward(frame, null);
  }

  private onData(from: LinkId, frame: Extract<PeerFrame, { t: "data" }>): void {
    if (frame.hops >= HOP_LIMIT) {
      this.counters.dropped++;
      return;
    }
    if (this.dedup.seen(frame.origin, frame.incarnation, frame.seq)) {
      this.counters.duplicates++;
      return;
    }
    // Leak-free by construction: only the instance this node's registry holds is delivered here.
    if (this.interest.wantsLocally(frame.channel) && this.registry.get(frame.channel)?.instance === frame.instance && this.inOrder(frame.origin, frame.incarnation, frame.seq)) {
      this.counters.delivered++;
      const d: Directive = { type: "deliver", channel: frame.channel, instance: frame.instance, data: frame.data };
      if (frame.from !== undefined) d.from = frame.from;
      if (frame.n !== undefined) d.n = frame.n;
      this.out.push(d);
    }
    this.forward({ ...frame, hops: frame.hops + 1 }, from);
  }

  /** True when `seq` comes after everything delivered here from that origin's life; records it. */
  private inOrder(origin: NodeName, incarnation: number, seq: number): boolean {
    const key = `${origin} ${incarnation}`;
    const last = this.deliveredUpTo.get(key);
    if (last !== undefined && seq < last) {
      this.counters.lateDropped++;
      return false;
    }
    this.deliveredUpTo.set(key, seq);
    return true;
  }

  /**
   * Sends a data frame down the origin's shortest-path tree, only toward children whose subtree
   * holds a node that wants the channel. Per message this is O(children x interested nodes), in
   * peers, never in subscribers.
   */
  private forward(frame: Extract<PeerFrame, { t: "data" }>, from: LinkId | null): void {
    if (!this.wantedElsewhere(frame.channel)) return;
    const targets = this.targets(frame.origin, frame.channel);
    if (targets === null) {
      // The origin's links are not known here yet: flood once; dedup stops the copies.
      this.counters.fallbacks++;
      for (const id of this.linkMap.keys()) if (id !== from) this.sendData(id, frame);
      return;
    }
    for (const child of targets) {
      const id = this.byPeer.get(child);
      if (id === undefined) {
        if (this.graph.tree(frame.origin).children.get(this.self.name)?.includes(child)) this.counters.dropped++;
      } else if (id !== from) {
        this.sendData(id, frame);
      }
    }
  }

  /**
   * The children to send a message of `origin` on `channel` to: those of the origin's current tree
   * and, during a transition, of its previous one too; null when this node is in neither tree.
   * The answer depends only on the graph, the interest index and whether the graph's previous tree
   * is still held, so it is kept per origin and channel until one of them moves: looking the trees
   * up for every message was a fifth of a relaying node's CPU. The transition is judged from when
   * the graph last changed (handle() notes it) so no tree lookup is needed; an entry is computed
   * from the graph's own previousTree(), so were that judgement ever late, an entry would only add
   * the previous tree's children for a while (copies the dedup window drops), never miss any.
   */
  private targets(origin: NodeName, channel: string): Iterable<NodeName> | null {
    this.noteGraphChange(); // a change made during this event counts from this event's `now`
    const transition = this.clock - this.graphChangedAt < TRANSITION_MS;
    const routes = this.routes;
    if (routes.graph !== this.graphSeen || routes.interest !== this.interest.changes || routes.transition !== transition || routes.size >= ROUTE_MEMO_MAX) {
      this.routes = { graph: this.graphSeen, interest: this.interest.changes, transition, size: 0, byOrigin: new Map() };
    }
    let byChannel = this.routes.byOrigin.get(origin);
    if (byChannel === undefined) this.routes.byOrigin.set(origin, (byChannel = new Map()));
    let children = byChannel.get(channel);
    if (children === undefined) {
      children = this.computeTargets(origin, channel);
      byChannel.set(channel, children);
      this.routes.size++;
    }
    return children;
  }

  /** Notes when the graph last changed: every change is made while handling an event, at its `now`. */
  private noteGraphChange(): void {
    if (this.graph.changes === this.graphSeen) return;
    this.graphSeen = this.graph.changes;
    this.graphChangedAt = this.clock;
  }

  private computeTargets(origin: NodeName, channel: string): NodeName[] | null {
    const wanted = this.interest.nodesFor(channel)!;
    const tree = this.graph.tree(origin);
    const previous = this.graph.previousTree(origin, this.clock);
    // A node that withdrew its links (leaving) is in no current tree, but still in the previous one.
    if (!tree.tin.has(this.self.name) && !previous?.tin.has(this.self.name)) return null;
    const targets = tree.tin.has(this.self.name) ? childrenToward(tree, this.self.name, wanted) : new Set<NodeName>();
    if (previous?.tin.has(this.self.name)) for (const child of childrenToward(previous, this.self.name, wanted)) targets.add(child);
    return [...targets];
  }

  /** True when some node other than this one has subscribers for the channel. */
  private wantedElsewhere(channel: string): boolean {
    const wanted = this.interest.nodesFor(channel);
    return wanted !== undefined && !(wanted.size === 1 && wanted.has(this.self.name));
  }

  private sendData(id: LinkId, frame: PeerFrame): void {
    this.counters.routed++;
    this.send(id, frame);
  }

  // ---- own state ----

  private selfRecord(): MemberRecord {
    return { name: this.self.name, incarnation: this.self.incarnation, url: this.self.url, region: this.self.region, state: "alive" };
  }

  /** Re-issues this node's LSA when its links changed, or an RTT moved past the report threshold. */
  private updateOwnLsa(force: boolean): void {
    const now = new Map<NodeName, number>();
    for (const l of this.linkMap.values()) if (l.rtt !== null && l.drainingSince === null) now.set(l.peer.name, Math.round(l.rtt * 10) / 10);
    let changed = force || now.size !== this.reported.size;
    if (!changed) {
      for (const [peer, rtt] of now) {
        const old = this.reported.get(peer);
        if (old === undefined || (Math.abs(rtt - old) > RTT_REPORT_MIN_MS && Math.abs(rtt - old) > RTT_REPORT_CHANGE * old)) {
          changed = true;
          break;
        }
      }
    }
    if (!changed) return;
    this.reported = now;
    const lsa: Lsa = { origin: this.self.name, incarnation: this.self.incarnation, seq: ++this.lsaSeq, links: [...now].sort(([a], [b]) => (a < b ? -1 : 1)) };
    this.graph.put(lsa, this.clock);
    this.outbox.lsas.set(this.self.name, { lsa, from: null });
  }

  // ---- output ----

  private send(link: LinkId, frame: PeerFrame): void {
    this.out.push({ type: "send", link, frame });
  }

  /** Sends the batched records to every link except the one each came from. */
  private flushOutbox(): void {
    const ob = this.outbox;
    if (ob.members.size === 0 && ob.lsas.size === 0 && ob.interests.length === 0 && ob.channels.length === 0 && ob.loads.length === 0) return;
    const members = [...ob.members.values()];
    const lsas = [...ob.lsas.values()];
    const interests = ob.interests;
    const channels = ob.channels;
    const loads = ob.loads;
    ob.loads = [];
    ob.members = new Map();
    ob.lsas = new Map();
    ob.interests = [];
    ob.channels = [];
    for (const id of this.linkMap.keys()) {
      const m = members.filter((x) => x.from !== id).map((x) => x.record);
      const l = lsas.filter((x) => x.from !== id).map((x) => x.lsa);
      const i = interests.filter((x) => x.from !== id).map((x) => x.update);
      const c = channels.filter((x) => x.from !== id).map((x) => x.record);
      const o = loads.filter((x) => x.from !== id).map((x) => x.record);
      for (let k = 0; k < Math.max(m.length, l.length, i.length, c.length, o.length); k += GOSSIP_CHUNK) {
        this.send(id, { t: "gossip", members: m.slice(k, k + GOSSIP_CHUNK), lsas: l.slice(k, k + GOSSIP_CHUNK), interests: i.slice(k, k + GOSSIP_CHUNK), channels: c.slice(k, k + GOSSIP_CHUNK), loads: o.slice(k, k + GOSSIP_CHUNK) });
      }
    }
  }

  private log(level: "info" | "debug" | "warn", message: string): void {
    this.out.push({ type: "log", level, message });
  }
}

/** The children of `self` in `tree` whose subtree holds a node in `wanted`. */
function childrenToward(tree: Tree, self: NodeName, wanted: ReadonlySet<NodeName>): Set<NodeName> {
  const out = new Set<NodeName>();
  for (const child of tree.children.get(self) ?? []) {
    const lo = tree.tin.get(child)!;
    const hi = tree.tout.get(child)!;
    for (const n of wanted) {
      const t = tree.tin.get(n);
      if (t !== undefined && t >= lo && t <= hi) {
        out.add(child);
        break;
      }
    }
  }
  return out;
}
