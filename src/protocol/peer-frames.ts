/**
 * The frames authenticated peers exchange, as typed values. The byte codec is in peer.ts; the
 * mesh core (src/mesh) consumes and produces these. The handshake frames are the shell's and are
 * defined with the codec.
 */

/** A node's name, unique in the mesh (--name). Names order deterministically (tie-breaks). */
export type NodeName = string;

/** A payload as the client protocol carries it: a JSON value, or a Uint8Array for bytes. */
export type Payload = unknown;

/** A member's liveness, as this node sees it. */
export type MemberState = "alive" | "suspect" | "dead" | "left";

/** One row of the member table, as gossiped. */
export interface MemberRecord {
  name: NodeName;
  incarnation: number;
  url: string;
  region: string;
  state: MemberState;
}

/** A link-state advertisement: a node's own links and their RTTs (ms), flooded to all. */
export interface Lsa {
  origin: NodeName;
  incarnation: number;
  /** Raised by the origin at every change; a receiver keeps the highest (incarnation, seq). */
  seq: number;
  /** [neighbour, rtt ms] pairs, sorted by name. */
  links: [NodeName, number][];
}

/** A node's set of channels with local subscribers, versioned so receivers can spot gaps. */
export interface InterestUpdate {
  origin: NodeName;
  incarnation: number;
  /** Version after this update. A delta applies only on top of version - 1. */
  version: number;
  /** Full set (replaces what the receiver has) when true; otherwise a delta. */
  full: boolean;
  add: string[];
  remove: string[];
}

/** One origin in a push-pull digest: what the sender holds about it. */
export interface DigestEntry {
  name: NodeName;
  incarnation: number;
  state: MemberState;
  lsaSeq: number;
  interestVersion: number;
}

/**
 * One channel in the replicated registry (ARCHITECTURE.md section 5). A name may have several
 * instances over time (closed, then opened again) or, during a partition, at once; data frames
 * carry the instance, so two instances never exchange messages.
 */
export interface ChannelRecord {
  name: string;
  /** Unique per bind: `${owner}~${owner incarnation}~${counter}` (base 36). */
  instance: string;
  /** The node whose client asked for the channel first. */
  creator: NodeName;
  /** The node that bound it: the name's rendezvous owner at the time. */
  owner: NodeName;
  /** When the owner bound it (ms, owner's clock). The older instance wins a conflict. */
  createdAt: number;
  /** An argon2id verifier (PHC string, from Bun.password) for a protected channel; never the password. */
  verifier: string | null;
  /** Bound under strict mode: a majority of the last full membership acknowledged it. */
  strict: boolean;
  /** When the owner closed it for lack of subscribers (ms); null while it is open. A closed record is a tombstone. */
  closedAt: number | null;
}

/** A node's load, as the directory shows it: flooded when it moves, refreshed now and then. */
export interface LoadRecord {
  origin: NodeName;
  incarnation: number;
  /** Raised at every report; a receiver keeps the highest (incarnation, seq). */
  seq: number;
  /** Client connections. */
  connections: number;
  /** The node takes no new clients. */
  draining: boolean;
}

/** Requests and answers routed hop by hop to one node (CALL frames). */
export type CallBody =
  /** Requester -> owner: bind this name, or tell me who holds it. */
  | { kind: "open"; channel: string; verifier: string | null; strict: boolean }
  /** Owner -> requester: the record that holds the name (the requester's or an older one). */
  | { kind: "bound"; record: ChannelRecord }
  /** Owner -> requester: no bind. `not_ready`: the owner has not synced the registry since the membership changed; ask again. */
  | { kind: "refused"; code: "not_ready" | "channel_unavailable"; message: string }
  /** Owner -> member, strict opens: acknowledge that you can hear me. */
  | { kind: "vote"; channel: string }
  /** Member -> owner: acknowledged. */
  | { kind: "voted" }
  /**
   * Node shells' own requests and answers (the admin API): JSON text the core routes without
   * reading. The shell authenticates it (src/node/admin-auth.ts).
   */
  | { kind: "rpc"; body: string }
  | { kind: "rpcReply"; body: string };

/** Frames between authenticated peers (the handshake is the shell's and never reaches the core). */
export type PeerFrame =
  | { t: "ping"; ts: number }
  | { t: "pong"; ts: number }
  | { t: "gossip"; members: MemberRecord[]; lsas: Lsa[]; interests: InterestUpdate[]; channels: ChannelRecord[]; loads: LoadRecord[] }
  | { t: "digest"; entries: DigestEntry[]; reply: boolean }
  | { t: "data"; origin: NodeName; incarnation: number; seq: number; hops: number; channel: string; instance: string; from?: string; n?: number; data: Payload }
  /** Registry anti-entropy: the sender's registry hash; `reply` asks for the receiver's records when they differ. */
  | { t: "regsync"; hash: number; reply: boolean }
  /** A request or answer for one node, relayed along shortest paths. `req` pairs answers with requests. */
  | { t: "call"; to: NodeName; from: NodeName; hops: number; req: number; body: CallBody }
  | { t: "leave"; name: NodeName; incarnation: number };

