import { describe, expect, test } from "bun:test";
import { timing, type Directive } from "../../src/mesh/index.ts";
import { MiniNet } from "./helpers/mininet.ts";

/**
 * Strict channels on real Mesh cores (docs/guarantees.md: "the minority side of a partition
 * cannot open one"). channel-registry.test.ts counts acknowledgements against a given
 * quorumBase; this checks the base the Mesh gives its registry.
 */

/** Four nodes joined through a, recording the answers to opens. */
function mesh4() {
  const answers: { node: string; d: Directive }[] = [];
  const net = new MiniNet({ observer: { directive: (node, d) => void ((d.type === "opened" || d.type === "openFailed") && answers.push({ node, d })) } });
  for (const n of ["a", "b", "c", "d"]) net.add(n, n === "a" ? [] : ["a"]);
  net.run(3000);
  /** A strict open of a fresh name at `node`, and the answers it got once the owner had time to answer or refuse. */
  const open = (node: string, req: number): Directive["type"][] => {
    net.event(node, { type: "open", req, channel: `s${req}`, verifier: "$argon2id$fake-pw", strict: true });
    net.run(timing.OPEN_TIMEOUT_MS + 1000);
    return answers.filter((a) => a.node === node && "req" in a.d && a.d.req === req).map((a) => a.d.type);
  };
  return { net, open };
}

describe("strict channels on real cores", () => {
  test("a 1-3 split: only the side of 3 binds, even after each side has forgotten the other (FORGET_DEAD_MS)", () => {
    const { net, open } = mesh4();
    net.partition([["a"], ["b", "c", "d"]], true);
    // Once each side has declared the other dead, and again once it has forgotten it: a dead
    // member is still one of the last full membership, so 1 of 4 stays a minority.
    for (const at of [30_000, timing.FORGET_DEAD_MS + 30_000]) {
      net.run(at - net.now);
      expect(open("a", at)).toEqual(["openFailed"]);
      expect(open("c", at + 1)).toEqual(["opened"]);
    }
    expect(net.nodes.get("a")!.members().map((m) => m.name)).toEqual(["a"]); // the others were forgotten
  });

  test("members that leave leave the base: the two that stay are a majority of two", () => {
    const { net, open } = mesh4();
    for (const n of ["c", "d"]) net.event(n, { type: "leave" });
    // A graceful leave relays for LINK_DRAIN_MS while the others route around, then sends LEAVE.
    net.run(timing.LINK_DRAIN_MS + 2 * timing.TICK_MS);
    net.nodes.delete("c");
    net.nodes.delete("d");
    net.run(5000);
    expect(open("a", 1)).toEqual(["opened"]);
  });
});
