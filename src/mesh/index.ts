/** The mesh core's public surface: the pure state machine and its vocabulary. */
export { Mesh, type MeshConfig, type MeshStats, type MemberView } from "./mesh.ts";
export * as timing from "./constants.ts";
export type { Directive, LinkId, MeshEvent, PeerInfo } from "./types.ts";
export type { CallBody, ChannelRecord, DigestEntry, InterestUpdate, Lsa, MemberRecord, MemberState, NodeName, Payload, PeerFrame } from "./types.ts";
export { wins } from "./channels.ts";
export { ownerOf } from "./rendezvous.ts";
