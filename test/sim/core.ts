/**
 * The one place the simulator meets the real mesh core's API, so an API change is one edit here.
 * Everything else in test/sim talks to the small `SimMesh` interface below.
 */

import { Mesh, type MeshConfig, type MeshStats, type MemberView } from "../../src/mesh/index.ts";
import type { Directive, LinkId, MeshEvent } from "../../src/mesh/types.ts";
import type { Random } from "./random.ts";

export type { MemberView, MeshStats };

/** What a simulated node's core is built from. */
export type SimMeshConfig = MeshConfig;

/** One of a node's live links. */
export interface LinkView {
  link: LinkId;
  peer: string;
  rtt: number | null;
}

/** The part of the core the simulator drives and inspects. */
export interface SimMesh {
  handle(event: MeshEvent, now: number): Directive[];
  /** The node's own identity as its core holds it (the incarnation rises when it refutes); cheaper than members(). */
  readonly self?: { readonly incarnation: number };
  members(): MemberView[];
  /** One member's name, state and incarnation as this node holds it: what the measurements ask thousands of times a run (absent in scripted fakes: members() then). */
  member?(name: string): { readonly state: string; readonly incarnation: number } | undefined;
  links(): LinkView[];
  stats(): MeshStats;
  /** The channel instance the node's registry holds for a name (absent in scripted fakes). */
  channel?(name: string): { instance: string } | undefined;
}

/** Builds a node's core; tests pass a scripted fake to check the simulator itself. */
export type MeshFactory = (config: SimMeshConfig, random: Random) => SimMesh;

/** The real core. */
export const realMesh: MeshFactory = (config, random) => new Mesh(config, random);
