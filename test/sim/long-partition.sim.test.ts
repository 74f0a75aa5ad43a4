/**
 * A partition that outlasts FORGET_DEAD_MS: each side declares the other dead and, ten minutes
 * later, forgets it, so "call on the dead" has no one left to call. The sides must still find each
 * other after the heal: each node keeps a few addresses of the members it forgot and calls one now
 * and then (CALL_THE_FORGOTTEN_MS). 16 nodes, a 15-minute partition in halves, virtual time.
 */
import { describe, expect, test } from "bun:test";
import { CALL_THE_FORGOTTEN_MS, DIAL_BACKOFF_MAX_MS, FORGET_DEAD_MS, PUSH_PULL_MS } from "../../src/mesh/constants.ts";
import { DEAD, waitForDetection, waitForMembership } from "./measure.ts";
import { Simulator } from "./simulator.ts";

const NODES = 16;
const PARTITION_MS = 15 * 60_000;

describe(`a ${PARTITION_MS / 60_000}-minute partition (past FORGET_DEAD_MS) heals`, () => {
  test("each side forgets the other, and after the heal membership merges", () => {
    const sim = new Simulator({ nodes: NODES, seed: 3, wire: "copy" });
    expect(waitForMembership(sim, 100, 30_000)).not.toBeNull();
    sim.runFor(30_000);
    const names = sim.nodes.map((n) => n.name);
    const a = names.filter((_, i) => i % 2 === 0);
    const b = names.filter((_, i) => i % 2 === 1);
    sim.partition(a, b);
    const side = (list: string[]) => () => list.map((n) => sim.node(n));
    expect(waitForDetection(sim, side(a), b, DEAD, 100, 60_000)).not.toBeNull();
    expect(waitForDetection(sim, side(b), a, DEAD, 100, 60_000)).not.toBeNull();
    sim.runFor(PARTITION_MS - 60_000);
    // Past FORGET_DEAD_MS: no node of a side still lists any node of the other.
    const listed = (n: string, others: string[]) => sim.node(n).mesh.members().filter((m) => others.includes(m.name)).length;
    expect(a.map((n) => listed(n, b)).concat(b.map((n) => listed(n, a)))).toEqual(new Array(NODES).fill(0));
    expect(PARTITION_MS).toBeGreaterThan(FORGET_DEAD_MS);
    sim.heal();
    const t0 = sim.now;
    // A forgotten address is called once per CALL_THE_FORGOTTEN_MS at each node, after any backoff
    // from the calls that failed during the partition; then a push-pull round spreads the rest.
    const bound = CALL_THE_FORGOTTEN_MS + DIAL_BACKOFF_MAX_MS + PUSH_PULL_MS;
    const merged = waitForMembership(sim, 100, bound);
    console.log(`${NODES} nodes, partitioned ${PARTITION_MS / 60_000} min: membership merged ${merged === null ? "never" : `${((merged - t0) / 1000).toFixed(1)} s`} after the heal (bound ${bound / 1000} s)`);
    expect(merged).not.toBeNull();
  });
});
