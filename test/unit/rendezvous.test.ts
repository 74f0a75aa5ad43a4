import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { ownerOf, rendezvousScore } from "../../src/mesh/rendezvous.ts";

/** Fixed seed: the property runs are the same on every machine (set another to explore). */
const FC = { seed: 0x5eed, numRuns: 100 } as const;

/** How many of `names` each member owns. */
function shares(names: string[], members: string[]): Map<string, number> {
  const counts = new Map(members.map((m) => [m, 0]));
  for (const n of names) {
    const o = ownerOf(n, members);
    counts.set(o, counts.get(o)! + 1);
  }
  return counts;
}

const manyNames = Array.from({ length: 20_000 }, (_, i) => `ch-${i}`);
const arbMembers = fc.uniqueArray(fc.string({ minLength: 1, maxLength: 12 }), { minLength: 1, maxLength: 9 });

describe("rendezvous owner choice", () => {
  test("scores are pinned: every node, on every Bun version, must pick the same owner", () => {
    // If these change, nodes of two versions disagree on owners during a rolling upgrade: a
    // change here is a protocol change, not a refactor.
    expect(rendezvousScore("chat", "a")).toBe(4100373375);
    expect(rendezvousScore("chat", "b")).toBe(752369044);
    expect(rendezvousScore("room/42", "node-1")).toBe(3072764387);
    expect(rendezvousScore("user:alice@example.com", "eu-west")).toBe(1972073129);
    expect(rendezvousScore("", "")).toBe(91794203);
    expect(ownerOf("chat", ["a", "b", "c"])).toBe("a");
    expect(ownerOf("room/42", ["node-1", "node-2", "node-3"])).toBe("node-3");
  });

  test("property: the owner is a member, and does not depend on the order members are listed in", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 40 }), arbMembers, fc.nat(), (name, members, k) => {
        const owner = ownerOf(name, members);
        expect(members).toContain(owner);
        const rotated = [...members.slice(k % members.length), ...members.slice(0, k % members.length)];
        expect(ownerOf(name, rotated.reverse())).toBe(owner);
        // Duplicates (a member listed twice while tables merge) change nothing either.
        expect(ownerOf(name, [...members, ...members])).toBe(owner);
        // It is the highest score, so any node can check an owner it is told about.
        for (const m of members) expect(rendezvousScore(name, m)).toBeLessThanOrEqual(rendezvousScore(name, owner));
      }),
      FC,
    );
  });

  test("an empty membership has no owner (a caller bug, not a silent default)", () => {
    expect(() => ownerOf("x", [])).toThrow();
  });

  test("names spread evenly: 20,000 names over 5 members, each within 5% of its fair share", () => {
    const counts = shares(manyNames, ["a", "b", "c", "d", "e"]);
    for (const n of counts.values()) expect(Math.abs(n - 4000)).toBeLessThan(200);
  });

  test("property: any membership of up to 9 gets each member within half to twice its fair share of 3,000 names", () => {
    // 3,000 names over 9 members is ~333 each, sd ~17: these bounds are ~10 sd wide, so only a
    // hash that correlates with member names (e.g. "a" vs "b") can fail them.
    const names = manyNames.slice(0, 3000);
    fc.assert(
      fc.property(arbMembers, (members) => {
        const fair = names.length / members.length;
        for (const n of shares(names, members).values()) {
          expect(n).toBeGreaterThan(fair / 2);
          expect(n).toBeLessThan(fair * 2);
        }
      }),
      { ...FC, numRuns: 30 },
    );
  });

  test("when a member leaves, only the names it owned move, and they spread over the rest", () => {
    const members = ["a", "b", "c", "d", "e"];
    const before = new Map(manyNames.map((n) => [n, ownerOf(n, members)]));
    const rest = members.filter((m) => m !== "c");
    const moved = new Map(rest.map((m) => [m, 0]));
    for (const [n, owner] of before) {
      const after = ownerOf(n, rest);
      if (owner !== "c") expect(after).toBe(owner);
      else moved.set(after, moved.get(after)! + 1);
    }
    // c's ~4,000 names land on the four others, ~1,000 each.
    for (const n of moved.values()) expect(Math.abs(n - 1000)).toBeLessThan(150);
  });

  test("property: a member leaving moves exactly its names; joining again takes exactly those back", () => {
    const names = manyNames.slice(0, 500);
    fc.assert(
      fc.property(arbMembers.filter((m) => m.length >= 2), fc.nat(), (members, k) => {
        const gone = members[k % members.length]!;
        const rest = members.filter((m) => m !== gone);
        for (const n of names) {
          const owner = ownerOf(n, members);
          const after = ownerOf(n, rest);
          if (owner === gone) expect(after).not.toBe(gone);
          else expect(after).toBe(owner);
          // A rejoin (a partition healing) restores the same owner: ownership has no memory.
          expect(ownerOf(n, [...rest, gone])).toBe(owner);
        }
      }),
      { ...FC, numRuns: 50 },
    );
  });
});
