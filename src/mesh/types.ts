/**
 * The mesh core's vocabulary: what it is told (events) and what it asks the shell to do
 * (directives). The core is a pure state machine, `mesh.handle(event, now) -> Directive[]`;
 * the node shell (src/node) and the simulator (test/sim) both drive it through these types.
 */

import type { CallBody, ChannelRecord, DigestEntry, InterestUpdate, LoadRecord, Lsa, MemberRecord, MemberState, NodeName, Payload, PeerFrame } from "../protocol/peer-frames.ts";

export type { CallBody, ChannelRecord, DigestEntry, InterestUpdate, LoadRecord, Lsa, MemberRecord, MemberState, NodeName, Payload, PeerFrame };

/** The shell's handle for one authenticated peer socket. */
export type LinkId = number;

/** Who is at the other end of a link, as proven in the handshake. */
export interface PeerInfo {
  name: NodeName;
  /** Raised at every start, and to refute suspicion; a restarted node is a new incarnation. */
  incarnation: number;
  region: string;
  /** The URL the peer advertises (ws://host:port); peers dial `${url}/peer`. */
  url: string;
}

/** What the shell tells the core. `now` (ms) comes with every call, never from inside. */
export type MeshEvent =
  /** Called every TICK_MS: pings, timeouts, overlay upkeep, batched gossip. */
  | { type: "tick" }
  /**
   * A peer link passed the handshake. `dialed` is true on the side that opened it, and then
   * `address` is the address of the dial directive that opened it.
   */
  | { type: "linkUp"; link: LinkId; peer: PeerInfo; dialed: boolean; address?: string }
  /** A peer link closed (socket closed, or the shell gave up on it). */
  | { type: "linkDown"; link: LinkId }
  /** A dial (by address) failed before a link came up. */
  | { type: "dialFailed"; address: string }
  /** A frame arrived on an authenticated link. */
  | { type: "frame"; link: LinkId; frame: PeerFrame }
  /** A probe of a member's RTT finished; null when the member could not be reached. */
  | { type: "probed"; name: NodeName; rtt: number | null }
  /** A local channel gained its first (true) or lost its last (false) subscriber. */
  | { type: "interest"; channel: string; interested: boolean }
  /** A local client published to a channel instance it was admitted to: route it to every interested node. */
  | { type: "publish"; channel: string; instance: string; data: Payload; from: string; n?: number }
  /**
   * A local client needs a channel the registry may not hold: answered by `opened` or `openFailed`
   * with the same `req`. `verifier` protects the channel if this open binds it.
   */
  | { type: "open"; req: number; channel: string; verifier: string | null; strict: boolean }
  /** Send a shell-level request or answer (`rpc` / `rpcReply`) to a node along shortest paths. */
  | { type: "call"; to: NodeName; req: number; body: Extract<CallBody, { kind: "rpc" | "rpcReply" }> }
  /** An operator closes a channel now (admin close-channel): its record becomes a tombstone everywhere. */
  | { type: "closeChannel"; channel: string }
  /** This node's load now (the shell reports it every tick; the core floods it when it moved). */
  | { type: "load"; connections: number; draining: boolean }
  /** The node is shutting down: tell the peers. */
  | { type: "leave" };

/** What the core asks the shell to do. */
export type Directive =
  /** Open a peer link to an address (ws://host:port, or host:port for seeds). */
  | { type: "dial"; address: string }
  | { type: "send"; link: LinkId; frame: PeerFrame }
  | { type: "close"; link: LinkId; reason: string }
  /** Measure the RTT to a member that is not linked (a few samples, the minimum). */
  | { type: "probe"; name: NodeName; url: string }
  /** Hand a message from another node to local subscribers of that channel instance. */
  | { type: "deliver"; channel: string; instance: string; data: Payload; from?: string; n?: number }
  /** The channel an `open` asked for: bound by it, or already held (check the client's password against its verifier). */
  | { type: "opened"; req: number; record: ChannelRecord }
  | { type: "openFailed"; req: number; code: "channel_unavailable"; message: string }
  /** A shell-level request or answer for this node arrived (or could not be sent: `unroutable`). */
  | { type: "called"; from: NodeName; req: number; body: Extract<CallBody, { kind: "rpc" | "rpcReply" }> }
  /** A channel instance is gone: it lost a conflict to `winner`, or its owner closed it. Its clients must be turned away. */
  | { type: "channelLost"; record: ChannelRecord; reason: "conflict" | "closed"; winner?: ChannelRecord }
  | { type: "log"; level: "info" | "debug" | "warn"; message: string };
