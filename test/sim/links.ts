/**
 * The simulated peer links: the part of the node shell that dials, carries frames, closes and
 * probes, over virtual time. The Simulator owns the nodes and the clock; this owns the sockets.
 *
 * Rules (why): one-way latency is RTT/2, the quantity the core measures and routes by. Frames on
 * one link direction are FIFO, like a TCP stream. A dial costs two RTTs (TCP, then the HELLO /
 * WELCOME / AUTH handshake). A crash or a partition is a blackhole: frames vanish and no close is
 * seen, so the core must notice the silence itself, as with a dead host; dials and probes fail
 * after min(2 RTT, 1 s). A close reaches the far end one latency later, after the frames already
 * sent (FIN); a frame sent into an end nobody holds comes back as a close one RTT later (RST from
 * a live host). Each end hears linkDown exactly once.
 */

import type { LinkId, MeshEvent, PeerFrame, PeerInfo } from "../../src/mesh/types.ts";
import { decodePeerFrame, encodePeerFrame, isMeshFrame as isCodecMeshFrame, type WireFrame } from "../../src/protocol/peer.ts";
import type { EventQueue } from "./event-queue.ts";
import type { SimNode } from "./simulator.ts";
import { deepFreeze, peerFrameSize } from "./wire-size.ts";

/** Frame size limit handed to the real decoder: far above anything the mesh sends. */
const MAX_FRAME_BYTES = 16 * 1024 * 1024;
/** A dial or probe that cannot connect fails after min(2 RTT, this): a refused or timed-out connect. */
const CONNECT_FAIL_CAP_MS = 1000;
/** A dial to a host that does not exist fails after this (name resolution fails fast). */
const UNKNOWN_HOST_FAIL_MS = 50;

/**
 * How frames cross links. "codec": encoded with the real peer codec at send and decoded on
 * arrival, as on the wire, so a frame the codec refuses is dropped as the shell would drop it.
 * "copy": sized by peerFrameSize and frozen at send (deepFreeze), then shared by the receivers:
 * several times faster, and no memory per receiver; one frame in
 * `codecSample` still goes through the real codec, so a refused frame or a wrong size is counted
 * (but the frame is delivered), and only that frame has its arrays frozen as well as its objects.
 */
export type Wire = "codec" | "copy";

/** One peer connection between nodes[0] and nodes[1]; side s is nodes[s]'s end. */
interface Link {
  readonly nodes: readonly [SimNode, SimNode];
  readonly ids: readonly [LinkId, LinkId];
  /** Whether each end is still held by its node (false once it saw linkDown, closed, or crashed). */
  readonly open: [boolean, boolean];
  /** A close (FIN or RST) is already on its way to end s: never announce one end's close twice. */
  readonly downComing: [boolean, boolean];
  /** Delivery time of the last frame sent from side s: later frames never arrive before it (FIFO). */
  readonly last: [number, number];
}

/** A node's end of a link. */
export interface LinkEnd {
  readonly link: Link;
  readonly side: 0 | 1;
}

/** Things a correct core should never make the shell do; counted, and asserted on by the tests. */
export interface Anomalies {
  /** `send` on a link id the node never held. */
  sendOnUnknownLink: number;
  /** `send` on a link the node itself closed, before its linkDown arrived (harmless: a closing socket ignores it). */
  sendAfterClose: number;
  /** `close` on a link id the node does not hold. */
  closeOnUnknownLink: number;
  /** Frames the real codec would not decode on the receiving side (a core/codec mismatch). */
  undecodableFrames: number;
  /** Sampled frames whose peerFrameSize differs from the real encoding (a simulator bug). */
  sizeMismatches: number;
  /** First few undecodable frames' reasons, for the report. */
  undecodableReasons: string[];
  /** Dials to a host that is not in the simulation (a bad address built by the core). */
  dialUnknownHost: number;
  /** Dials a node made to its own address (harmless: the handshake refuses them). */
  selfDials: number;
  /** `deliver` directives whose data is not a payload the driver published. */
  strayDeliveries: number;
}

/** What the links need from the simulator: the clock, the agenda, the nodes and the network. */
export interface LinkHost {
  readonly now: number;
  readonly queue: EventQueue;
  /** The node listening at a host name, if any. */
  lookup(host: string): SimNode | undefined;
  rtt(a: SimNode, b: SimNode): number;
  /** Whether a partition separates the two nodes. */
  separated(a: SimNode, b: SimNode): boolean;
  /** Hands an event to a node's core now (and carries out its directives). */
  handle(node: SimNode, event: MeshEvent): void;
  /** Hands an event to a node's core at `time`, unless it crashed or restarted by then. */
  later(node: SimNode, time: number, event: MeshEvent): void;
  peerInfo(node: SimNode): PeerInfo;
  log(node: SimNode, level: "debug" | "info" | "warn", message: string): void;
  /** Extra probe delay (ms): jitter. */
  probeJitter(): number;
}

export class Links {
  readonly anomalies: Anomalies = { sendOnUnknownLink: 0, sendAfterClose: 0, closeOnUnknownLink: 0, undecodableFrames: 0, sizeMismatches: 0, undecodableReasons: [], dialUnknownHost: 0, selfDials: 0, strayDeliveries: 0 };
  /** Frames and bytes sent since the start, by frame type (`t`). */
  readonly frames: Record<string, number> = {};
  readonly bytes: Record<string, number> = {};
  /** Link ids are unique across the run (not only per node), so a stale id can never alias a new link. */
  private nextLinkId = 1;
  /** Frames sent so far, for choosing which to check against the codec. */
  private sent = 0;
  /** Encodings made during the current handle() call: a shell fanning one frame object out encodes it once. */
  private readonly encoded = new Map<PeerFrame, Uint8Array>();

  constructor(
    private readonly host: LinkHost,
    private readonly wire: Wire,
    private readonly codecSample: number,
  ) {}

  /** Called after each handle(): encodings are only shared within one batch of directives. */
  endOfTurn(): void {
    // Most turns encode nothing (always so with "copy"), and clearing an empty Map is not free.
    if (this.encoded.size > 0) this.encoded.clear();
  }

  /** A node crashed: its ends are gone, silently (no FIN reaches anyone). */
  crashed(node: SimNode): void {
    for (const end of node.ends.values()) end.link.open[end.side] = false;
    node.ends.clear();
    node.gone.clear(); // link ids are never reused, and the next incarnation's core never knew these
  }

  /** Both processes up and on the same side of any partition. */
  private reachable(a: SimNode, b: SimNode): boolean {
    return a.up && b.up && !this.host.separated(a, b);
  }

  dial(from: SimNode, address: string): void {
    const h = this.host;
    const target = h.lookup(hostOf(address));
    if (target === undefined) {
      this.anomalies.dialUnknownHost++;
      h.later(from, h.now + UNKNOWN_HOST_FAIL_MS, { type: "dialFailed", address });
      return;
    }
    if (target === from) {
      // Our own listener answers; the handshake sees our own name and refuses it.
      this.anomalies.selfDials++;
      h.later(from, h.now + 1, { type: "dialFailed", address });
      return;
    }
    const rtt = h.rtt(from, target);
    if (!this.reachable(from, target)) {
      h.later(from, h.now + Math.min(2 * rtt, CONNECT_FAIL_CAP_MS), { type: "dialFailed", address });
      return;
    }
    const epoch = from.epoch;
    h.queue.push(h.now + 2 * rtt, () => {
      if (!from.up || from.epoch !== epoch) return; // the dialer died meanwhile
      if (!this.reachable(from, target)) return h.handle(from, { type: "dialFailed", address });
      const link: Link = { nodes: [from, target], ids: [this.nextLinkId++, this.nextLinkId++], open: [true, true], downComing: [false, false], last: [0, 0] };
      from.ends.set(link.ids[0], { link, side: 0 });
      target.ends.set(link.ids[1], { link, side: 1 });
      // The acceptor checks the dialer's AUTH last, so it learns first; then the dialer.
      h.handle(target, { type: "linkUp", link: link.ids[1], peer: h.peerInfo(from), dialed: false });
      if (link.open[0] && from.up && from.epoch === epoch) h.handle(from, { type: "linkUp", link: link.ids[0], peer: h.peerInfo(target), dialed: true, address });
    });
  }

  send(from: SimNode, id: LinkId, frame: PeerFrame): void {
    const h = this.host;
    // What travels: the encoded bytes (codec) or the frame frozen (copy), fixed now, as a socket write would.
    let bytes: Uint8Array | null = null;
    let size: number;
    if (this.wire === "codec") {
      bytes = this.encode(frame);
      size = bytes.byteLength;
    } else {
      // Frozen first: what is sent can no longer change, and records already sent are sized once.
      // Arrays too only in the sampled frames: a frozen array is several times slower to read in
      // JavaScriptCore, and every receiving core reads them (see deepFreeze).
      const sampled = this.codecSample > 0 && this.sent % this.codecSample === 0;
      deepFreeze(frame, sampled);
      size = peerFrameSize(frame);
      if (sampled) this.checkCodec(from, frame, size);
    }
    this.sent++;
    this.frames[frame.t] = (this.frames[frame.t] ?? 0) + 1;
    this.bytes[frame.t] = (this.bytes[frame.t] ?? 0) + size;
    const end = from.ends.get(id);
    if (end === undefined) {
      if (from.gone.has(id)) this.anomalies.sendAfterClose++;
      else this.anomalies.sendOnUnknownLink++;
      return;
    }
    const { link, side } = end;
    const other = (1 - side) as 0 | 1;
    const to = link.nodes[other];
    if (!this.reachable(from, to)) return; // blackhole: no error, no close
    if (!link.open[other]) {
      // Nobody holds the far end, but its host is up: it answers with a reset one RTT later.
      if (!link.downComing[side]) {
        link.downComing[side] = true;
        h.queue.push(h.now + h.rtt(from, to), () => this.endDown(link, side));
      }
      return;
    }
    const snapshot = bytes === null ? frame : null; // frozen above: every receiver shares it
    const at = Math.max(h.now + h.rtt(from, to) / 2, link.last[side]);
    link.last[side] = at;
    const epoch = to.epoch;
    h.queue.push(at, () => {
      if (!link.open[other] || !to.up || to.epoch !== epoch || h.separated(from, to)) return;
      if (snapshot !== null) return h.handle(to, { type: "frame", link: link.ids[other], frame: snapshot });
      // Through the real decoder, as on the wire: a frame it refuses is dropped (and counted), as
      // the real shell would drop it.
      const decoded = decodePeerFrame(bytes!, MAX_FRAME_BYTES);
      if (!decoded.ok || !isMeshFrame(decoded.frame)) return this.undecodable(from, frame, decoded.ok ? "a handshake frame" : decoded.reason);
      h.handle(to, { type: "frame", link: link.ids[other], frame: decoded.frame });
    });
  }

  close(node: SimNode, id: LinkId, reason: string): void {
    const h = this.host;
    const end = node.ends.get(id);
    if (end === undefined) {
      this.anomalies.closeOnUnknownLink++;
      return;
    }
    const { link, side } = end;
    const other = (1 - side) as 0 | 1;
    const to = link.nodes[other];
    h.log(node, "debug", `[sim] closing link ${id} to ${to.name}: ${reason}`);
    // The closer's socket reports its close on the next turn of the loop, never re-entrantly.
    link.open[side] = false;
    node.ends.delete(id);
    node.gone.add(id);
    link.downComing[side] = true;
    h.later(node, h.now, { type: "linkDown", link: id });
    // The FIN follows every frame already sent in that direction.
    if (link.open[other] && !link.downComing[other] && this.reachable(node, to)) {
      link.downComing[other] = true;
      const at = Math.max(h.now + h.rtt(node, to) / 2, link.last[side]);
      link.last[side] = at;
      h.queue.push(at, () => {
        if (h.separated(node, to)) {
          link.downComing[other] = false; // lost in a partition: the far end must time out (or get a reset later)
          return;
        }
        this.endDown(link, other);
      });
    }
  }

  /** End `side` of `link` learns the connection is gone (FIN or RST): it gets linkDown once. */
  private endDown(link: Link, side: 0 | 1): void {
    const node = link.nodes[side];
    if (!link.open[side] || !node.up) return;
    link.open[side] = false;
    node.ends.delete(link.ids[side]);
    node.gone.add(link.ids[side]);
    this.host.handle(node, { type: "linkDown", link: link.ids[side] });
  }

  probe(from: SimNode, name: string, url: string): void {
    const h = this.host;
    const target = h.lookup(hostOf(url));
    if (target === undefined || target.name !== name || target === from) {
      h.later(from, h.now + UNKNOWN_HOST_FAIL_MS, { type: "probed", name, rtt: null });
      return;
    }
    const rtt = h.rtt(from, target);
    if (!this.reachable(from, target)) {
      h.later(from, h.now + Math.min(2 * rtt, CONNECT_FAIL_CAP_MS), { type: "probed", name, rtt: null });
      return;
    }
    const measured = rtt + h.probeJitter();
    const epoch = from.epoch;
    h.queue.push(h.now + measured, () => {
      if (!from.up || from.epoch !== epoch) return;
      h.handle(from, { type: "probed", name, rtt: this.reachable(from, target) ? measured : null });
    });
  }

  /** Runs one frame through the real codec: what the receiver's decoder would say of it. */
  private checkCodec(from: SimNode, frame: PeerFrame, size: number): void {
    const bytes = encodePeerFrame(frame);
    if (bytes.byteLength !== size) this.anomalies.sizeMismatches++;
    const decoded = decodePeerFrame(bytes, MAX_FRAME_BYTES);
    if (!decoded.ok) this.undecodable(from, frame, decoded.reason);
  }

  private undecodable(from: SimNode, frame: PeerFrame, reason: string): void {
    this.anomalies.undecodableFrames++;
    if (this.anomalies.undecodableReasons.length < 5) this.anomalies.undecodableReasons.push(`${frame.t} from ${from.name}: ${reason}`);
  }

  private encode(frame: PeerFrame): Uint8Array {
    let bytes = this.encoded.get(frame);
    if (bytes === undefined) {
      bytes = encodePeerFrame(frame);
      this.encoded.set(frame, bytes);
    }
    return bytes;
  }
}

/** The host of a seed address (`n07:7400`) or a member URL (`ws://n07:7400/peer`). */
export function hostOf(address: string): string {
  let a = address.replace(/^[a-z]+:\/\//i, "");
  const slash = a.indexOf("/");
  if (slash >= 0) a = a.slice(0, slash);
  const colon = a.lastIndexOf(":");
  return colon >= 0 ? a.slice(0, colon) : a;
}

/** Handshake frames never reach the core; a decoded one here means the sender emitted it. The codec's own test, so new frame types pass. */
function isMeshFrame(frame: WireFrame): frame is PeerFrame {
  return isCodecMeshFrame(frame);
}
