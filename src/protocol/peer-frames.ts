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

/** Frames between authenticated peers (the handshake is the shell's and never reaches the core). */
export type PeerFrame =
  | { t: "ping"; ts: number }
  | { t: "pong"; ts: number }
  | { t: "gossip"; members: MemberRecord[]; lsas: Lsa[]; interests: InterestUpdate[] }
  | { t: "digest"; entries: DigestEntry[]; reply: boolean }
  | { t: "data"; origin: NodeName; incarnation: number; seq: number; hops: number; channel: string; from?: string; data: Payload }
  | { t: "leave"; name: NodeName; incarnation: number };

