import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { ChannelRegistry, wins } from "../../src/mesh/channels.ts";
import { CHANNEL_IDLE_MS, CHANNEL_SWEEP_MS, OPEN_RETRY_MS, OPEN_TIMEOUT_MS, TICK_MS, TOMBSTONE_MS, VOTE_TIMEOUT_MS } from "../../src/mesh/constants.ts";
import { ownerOf } from "../../src/mesh/rendezvous.ts";
import type { ChannelRecord } from "../../src/mesh/types.ts";
import { rng } from "./helpers/mininet.ts";
import { FakeHost, RegistryNet } from "./helpers/registry-net.ts";

/** Fixed seed: the property runs are the same on every machine (set another to explore). */
const FC = { seed: 0x5eed, numRuns: 200 } as const;

/** A fake verifier: shaped like argon2id so the peer codec would carry it, compared as a string (Bun.password is slow). */
const verifierOf = (password: string): string => `$argon2id$fake-${password}`;

/** A name of the form `${prefix}${i}` that `owner` owns among `members`, so a test can pick who answers. */
function nameOwnedBy(owner: string, members: string[], prefix = "ch"): string {
  for (let i = 0; ; i++) if (ownerOf(`${prefix}${i}`, members) === owner) return `${prefix}${i}`;
}

function record(over: Partial<ChannelRecord> & { instance: string }): ChannelRecord {
  return { name: "ch", creator: "n1", owner: "n1", createdAt: 1000, verifier: null, strict: false, closedAt: null, ...over };
}

const arbRecord = fc.record({
  name: fc.constantFrom("a", "b", "c"),
  // Few owners, counters and times, so ties in every field of the rule are common.
  instance: fc.tuple(fc.constantFrom("n1", "n2", "n3"), fc.nat(2), fc.nat(4)).map(([o, inc, c]) => `${o}~${inc}~${c}`),
  creator: fc.constantFrom("n1", "n2", "n3"),
  owner: fc.constantFrom("n1", "n2", "n3"),
  createdAt: fc.nat(3),
  verifier: fc.option(fc.constantFrom("x", "y").map(verifierOf)),
  strict: fc.boolean(),
  closedAt: fc.constant(null),
});
/** Records of distinct instances: an instance is minted once, so two records of one instance are the same record. */
const arbRecords = (maxLength: number) => fc.uniqueArray(arbRecord, { selector: (r) => r.instance, maxLength });

/** The record the rule must leave for each name: the one that beats every other. */
function best(records: ChannelRecord[]): Map<string, ChannelRecord> {
  const out = new Map<string, ChannelRecord>();
  for (const r of records) {
    const held = out.get(r.name);
    if (!held || wins(r, held)) out.set(r.name, r);
  }
  return out;
}

describe("wins: the conflict rule", () => {
  test("a strict record beats a loose one whatever their age, then the older wins, then the lower instance", () => {
    const old = record({ instance: "n2~1~0", createdAt: 1 });
    const young = record({ instance: "n1~1~0", createdAt: 2 });
    const strictYoung = { ...young, instance: "n3~1~0", strict: true };
    expect(wins(strictYoung, old)).toBe(true);
    expect(wins(old, young)).toBe(true);
    expect(wins({ ...old, instance: "n1~1~1" }, old)).toBe(true);
  });

  test("property: a strict total order over distinct instances (irreflexive, antisymmetric, total, transitive)", () => {
    fc.assert(
      fc.property(arbRecords(8), (rs) => {
        for (const a of rs) {
          expect(wins(a, a)).toBe(false);
          for (const b of rs) {
            if (a === b) continue;
            // Exactly one of the two wins: every node picks the same winner from any pair.
            expect(wins(a, b) !== wins(b, a)).toBe(true);
            for (const c of rs) if (wins(a, b) && wins(b, c)) expect(wins(a, c)).toBe(true);
          }
        }
      }),
      FC,
    );
  });
});

describe("apply: merging records", () => {
  test("a conflicting record that wins replaces the held one and reports the loss with the winner", () => {
    const host = new FakeHost("n1");
    const reg = new ChannelRegistry(host);
    const held = record({ instance: "n1~1~0", createdAt: 2000 });
    const older = record({ instance: "n2~1~0", createdAt: 1000, owner: "n2" });
    expect(reg.apply(held, 0)).toBe(true);
    expect(host.directives).toEqual([]);
    expect(reg.apply(older, 0)).toBe(true);
    expect(host.directives).toEqual([{ type: "channelLost", record: held, reason: "conflict", winner: older }]);
    expect(reg.get("ch")).toEqual(older);
    expect(reg.stats.conflicts).toBe(1);
    // The loser coming back (a stale flood) changes nothing and says nothing: nothing to flood on.
    expect(reg.apply(held, 0)).toBe(false);
    expect(reg.apply(older, 0)).toBe(false);
    expect(host.directives.length).toBe(1);
  });

  test("property: the same records in any order, repeats included, leave the same live set (the best per name)", () => {
    const arb = arbRecords(12).chain((rs) =>
      fc.tuple(fc.constant(rs), fc.shuffledSubarray(rs, { minLength: rs.length, maxLength: rs.length }), fc.shuffledSubarray(rs, { minLength: rs.length, maxLength: rs.length }), fc.subarray(rs)),
    );
    fc.assert(
      fc.property(arb, ([rs, order1, order2, repeats]) => {
        const expected = [...best(rs).values()].sort((a, b) => (a.name < b.name ? -1 : 1));
        const results = [order1, [...order2, ...repeats], [...repeats, ...order1]].map((order) => {
          const host = new FakeHost("me");
          const reg = new ChannelRegistry(host);
          const accepted: string[] = [];
          for (const r of order) if (reg.apply(r, 0)) accepted.push(r.instance);
          // Every instance that was held and is not any more was reported lost, once, to a record that beats it.
          const lost = host.of("channelLost");
          const live = new Set(reg.records().map((r) => r.instance));
          expect(lost.map((d) => d.record.instance).sort()).toEqual(accepted.filter((i) => !live.has(i)).sort());
          for (const d of lost) {
            expect(d.reason).toBe("conflict");
            expect(wins(d.winner!, d.record)).toBe(true);
          }
          return reg;
        });
        for (const reg of results) {
          expect(reg.records()).toEqual(expected);
          expect(reg.hash).toBe(results[0]!.hash);
        }
      }),
      FC,
    );
  });

  test("property: with tombstones, full exchanges between registries (REGSYNC) converge, and no closed instance is live", () => {
    // A tombstone makes a single pass order-dependent: a loser dropped before its winner closed
    // is forgotten, one seen after stays. The registries agree again once they exchange
    // everything, which is what REGSYNC does whenever their hashes differ.
    const arbInput = arbRecords(10).chain((rs) =>
      fc.tuple(
        fc.constant(rs),
        fc.subarray(rs.map((r) => r.instance)),
        fc.array(fc.tuple(fc.nat(2), fc.nat(rs.length + 3)), { maxLength: 30 }),
      ),
    );
    fc.assert(
      fc.property(arbInput, ([rs, closedInstances, feed]) => {
        const tombstones = rs.filter((r) => closedInstances.includes(r.instance)).map((r) => ({ ...r, closedAt: 5 }));
        const all = [...rs, ...tombstones];
        const regs = [0, 1, 2].map((i) => new ChannelRegistry(new FakeHost(`n${i + 1}`)));
        // Each registry hears some records and tombstones, in its own order.
        for (const [i, k] of feed) if (all.length) regs[i]!.apply(all[k % all.length]!, 10);
        let rounds = 0;
        const same = () => regs.every((r) => JSON.stringify(r.records()) === JSON.stringify(regs[0]!.records()));
        for (; rounds < 6 && !same(); rounds++) {
          for (const a of regs) for (const b of regs) if (a !== b && a.hash !== b.hash) for (const r of a.everything(20)) b.apply(r, 20);
        }
        expect(same()).toBe(true);
        // Every live record is one some registry heard, and none that any registry knows closed.
        const heard = new Set(all.length ? feed.map(([, k]) => all[k % all.length]!.instance) : []);
        const closed = new Set(regs.flatMap((g) => g.everything(20).filter((t) => t.closedAt !== null).map((t) => t.instance)));
        for (const r of regs[0]!.records()) {
          expect(heard.has(r.instance)).toBe(true);
          expect(closed.has(r.instance)).toBe(false);
        }
      }),
      FC,
    );
  });
});

describe("opens: requester and owner", () => {
  const nodes = ["n1", "n2", "n3", "n4", "n5"];

  test("property: concurrent opens of one name meet at the owner: one record, and every requester gets it", () => {
    // Opens from any nodes (several from one node share one call), interleaved in any order with
    // the delivery of calls, answers and floods, and with ticks (retries that repeat an open).
    const arbScript = fc.tuple(fc.array(fc.oneof(fc.constantFrom(...nodes), fc.constant("deliver"), fc.constant("tick")), { minLength: 1, maxLength: 40 }), fc.integer());
    fc.assert(
      fc.property(arbScript, ([script, seed]) => {
        const net = new RegistryNet(nodes);
        const random = rng(seed);
        const asked: { node: string; req: number }[] = [];
        script.forEach((step, req) => {
          if (step === "deliver") return void net.step(random);
          if (step === "tick") {
            net.now += TICK_MS;
            for (const n of nodes) net.reg(n).tick(net.now);
            return;
          }
          net.reg(step).open(req, "ch", verifierOf(`pw-${step}`), false, net.now);
          asked.push({ node: step, req });
        });
        net.deliver(random);
        if (asked.length === 0) return;
        const bound = nodes.reduce((n, name) => n + net.reg(name).stats.bound, 0);
        expect(bound).toBe(1);
        const owner = ownerOf("ch", nodes);
        const rec = net.reg(owner).get("ch")!;
        expect(rec.owner).toBe(owner);
        // The first open to reach the owner bound it, with its requester's password.
        expect(rec.verifier).toBe(verifierOf(`pw-${rec.creator}`));
        for (const { node, req } of asked) {
          const answers = net.host(node).directives.filter((d) => (d.type === "opened" || d.type === "openFailed") && d.req === req);
          expect(answers).toEqual([{ type: "opened", req, record: rec }]);
        }
        for (const n of nodes) expect(net.reg(n).get("ch")).toEqual(rec);
      }),
      FC,
    );
  });

  test("an unsynced owner answers not_ready; the requester asks again and succeeds once the owner has synced", () => {
    const net = new RegistryNet(["o", "r"]);
    const name = nameOwnedBy("o", ["o", "r"]);
    // A membership change while linked (not alone): no answers until a neighbour's registry arrives.
    net.reg("o").membershipChanged(["o", "r"], false);
    expect(net.reg("o").synced).toBe(false);
    net.reg("r").open(7, name, null, false, 0);
    net.deliver();
    expect(net.host("o").calls).toEqual([{ to: "r", req: expect.any(Number), body: expect.objectContaining({ kind: "refused", code: "not_ready" }) }]);
    expect(net.host("r").directives).toEqual([]);
    net.runUntil(OPEN_RETRY_MS * 2);
    expect(net.host("r").calls.filter((c) => c.body.kind === "open").length).toBeGreaterThanOrEqual(2);
    expect(net.host("r").directives).toEqual([]);
    expect(net.reg("o").stats.bound).toBe(0);
    net.reg("o").markSynced();
    net.runUntil(net.now + OPEN_RETRY_MS);
    const opened = net.host("r").of("opened");
    expect(opened).toEqual([{ type: "opened", req: 7, record: expect.objectContaining({ name, owner: "o", creator: "r" }) }]);
    expect(net.reg("r").get(name)).toEqual(opened[0]!.record);
  });

  test("an owner that never answers: retries every OPEN_RETRY_MS, then openFailed channel_unavailable for every waiting open", () => {
    const host = new FakeHost("r");
    host.routable = false;
    const reg = new ChannelRegistry(host);
    const name = nameOwnedBy("p", ["p", "r"]);
    reg.membershipChanged(["p", "r"], true);
    reg.open(1, name, null, false, 0);
    reg.open(2, name, verifierOf("a"), false, 50); // a second client of this node joins the same wait
    for (let t = 0; t < OPEN_TIMEOUT_MS; t += TICK_MS) reg.tick(t);
    expect(host.of("openFailed")).toEqual([]);
    expect(host.calls.length).toBe(OPEN_TIMEOUT_MS / OPEN_RETRY_MS);
    expect(host.calls.every((c) => c.to === "p" && c.body.kind === "open")).toBe(true);
    reg.tick(OPEN_TIMEOUT_MS);
    expect(host.of("openFailed")).toEqual([1, 2].map((req) => ({ type: "openFailed", req, code: "channel_unavailable", message: expect.stringContaining(`no answer from p, the owner of channel ${name}`) })));
    expect(reg.stats.unavailable).toBe(1);
    // An answer after the deadline still teaches the registry the record, but answers nobody twice.
    const late = record({ name, instance: "p~1~0", owner: "p", creator: "r" });
    reg.onCall("p", host.calls[0]!.req, { kind: "bound", record: late }, OPEN_TIMEOUT_MS + 10);
    expect(host.of("opened")).toEqual([]);
    expect(reg.get(name)).toEqual(late);
  });

  test("an owner that left is replaced by the next one at the next retry, well before the timeout", () => {
    const net = new RegistryNet(["o", "p", "r"]);
    const name = nameOwnedBy("p", ["o", "p", "r"]);
    net.cut.add("p");
    net.reg("r").open(1, name, null, false, 0);
    net.runUntil(OPEN_RETRY_MS * 2);
    expect(net.host("r").directives).toEqual([]);
    for (const n of ["o", "r"]) net.reg(n).membershipChanged(["o", "r"], true);
    net.runUntil(net.now + OPEN_RETRY_MS);
    expect(net.host("r").of("opened")).toEqual([{ type: "opened", req: 1, record: expect.objectContaining({ name, owner: ownerOf(name, ["o", "r"]) }) }]);
    expect(net.now).toBeLessThan(OPEN_TIMEOUT_MS);
  });

  describe("strict opens", () => {
    const members = ["o", "p", "q", "r", "s"];
    /** A strict open at its owner `o`, which counts `base` members; returns the vote's call id. */
    function strictOpen(base: number, live = members) {
      const host = new FakeHost("o");
      host.base = base;
      const reg = new ChannelRegistry(host);
      reg.membershipChanged(live, true);
      const name = nameOwnedBy("o", live);
      reg.open(1, name, verifierOf("secret"), true, 0);
      const votes = host.calls.filter((c) => c.body.kind === "vote");
      return { host, reg, name, votes, vote: votes[0]?.req ?? -1 };
    }

    test("bound once a majority of quorumBase acknowledged (the owner counts itself), not before", () => {
      const { host, reg, name, votes, vote } = strictOpen(5);
      expect(votes.map((v) => v.to).sort()).toEqual(["p", "q", "r", "s"]);
      expect(new Set(votes.map((v) => v.req)).size).toBe(1);
      reg.onCall("p", vote, { kind: "voted" }, 10);
      reg.onCall("p", vote, { kind: "voted" }, 11); // the same member twice still counts once
      expect(host.directives).toEqual([]);
      expect(reg.get(name)).toBeUndefined();
      reg.onCall("q", vote, { kind: "voted" }, 12);
      const opened = host.of("opened");
      expect(opened).toEqual([{ type: "opened", req: 1, record: expect.objectContaining({ name, strict: true, verifier: verifierOf("secret") }) }]);
      expect(host.floods).toEqual([opened[0]!.record]);
    });

    test("without a majority within VOTE_TIMEOUT_MS: channel_unavailable, and nothing bound", () => {
      const { host, reg, name, vote } = strictOpen(5);
      reg.onCall("p", vote, { kind: "voted" }, 10);
      for (let t = 0; t < VOTE_TIMEOUT_MS; t += TICK_MS) reg.tick(t);
      expect(host.directives).toEqual([]);
      reg.tick(VOTE_TIMEOUT_MS);
      expect(host.of("openFailed")).toEqual([{ type: "openFailed", req: 1, code: "channel_unavailable", message: `channel ${name} is strict: 2 of the last 5 members acknowledged it, a majority needs 3` }]);
      expect(reg.get(name)).toBeUndefined();
      expect(host.floods).toEqual([]);
      // A late acknowledgement binds nothing.
      reg.onCall("q", vote, { kind: "voted" }, VOTE_TIMEOUT_MS + 1);
      expect(reg.get(name)).toBeUndefined();
    });

    test("the base counts members not gone for good: 3 live of 7 known cannot bind, 3 live of 5 can", () => {
      const few = strictOpen(7, ["o", "p", "q"]);
      for (const v of few.votes) few.reg.onCall(v.to, v.req, { kind: "voted" }, 10);
      expect(few.reg.get(few.name)).toBeUndefined();
      const enough = strictOpen(5, ["o", "p", "q"]);
      for (const v of enough.votes) enough.reg.onCall(v.to, v.req, { kind: "voted" }, 10);
      expect(enough.reg.get(enough.name)?.strict).toBe(true);
    });

    test("a strict open without a password is an ordinary open: bound at once, no votes", () => {
      const host = new FakeHost("o");
      host.base = 5;
      const reg = new ChannelRegistry(host);
      reg.open(1, "ch", null, true, 0);
      expect(host.calls).toEqual([]);
      expect(host.of("opened")[0]!.record).toMatchObject({ strict: false, verifier: null });
    });

    test("end to end: a requester on the majority side gets the strict record; on a minority side, channel_unavailable", () => {
      const names = ["n1", "n2", "n3", "n4", "n5"];
      const name = nameOwnedBy("n1", names);
      for (const [cut, outcome] of [[["n4", "n5"], "opened"], [["n3", "n4", "n5"], "openFailed"]] as const) {
        const net = new RegistryNet(names);
        for (const n of cut) net.cut.add(n);
        net.reg("n2").open(1, name, verifierOf("pw"), true, 0);
        net.runUntil(VOTE_TIMEOUT_MS - TICK_MS);
        // The requester's retries join the vote under way: one vote, sent once to each member.
        expect(net.host("n1").calls.filter((c) => c.body.kind === "vote").length).toBe(4);
        net.runUntil(OPEN_TIMEOUT_MS);
        expect(net.host("n2").directives.map((d) => d.type)).toEqual([outcome]);
        if (outcome === "opened") expect(net.host("n2").of("opened")[0]!.record).toMatchObject({ strict: true, owner: "n1", creator: "n2" });
        else expect(net.host("n2").of("openFailed")[0]!.code).toBe("channel_unavailable");
      }
    });
  });
});

describe("idle channels", () => {
  /** A lone owner with one bound channel, at time 0. */
  function lone() {
    const host = new FakeHost("o");
    const reg = new ChannelRegistry(host);
    reg.open(1, "ch", verifierOf("pw"), false, 0);
    const rec = host.of("opened")[0]!.record;
    return { host, reg, rec };
  }
  const runTo = (reg: ChannelRegistry, from: number, to: number) => {
    for (let t = from; t <= to; t += TICK_MS) reg.tick(t);
  };

  test("the owner closes a channel nobody subscribes to after CHANNEL_IDLE_MS, with a tombstone", () => {
    const { host, reg, rec } = lone();
    runTo(reg, 0, CHANNEL_IDLE_MS - TICK_MS);
    expect(reg.get("ch")).toEqual(rec);
    runTo(reg, CHANNEL_IDLE_MS, CHANNEL_IDLE_MS + 2 * CHANNEL_SWEEP_MS);
    expect(reg.get("ch")).toBeUndefined();
    const tombstone = host.floods.find((r) => r.closedAt !== null)!;
    expect(tombstone).toEqual({ ...rec, closedAt: expect.any(Number) });
    expect(tombstone.closedAt! - rec.createdAt).toBeGreaterThanOrEqual(CHANNEL_IDLE_MS);
    expect(host.of("channelLost")).toEqual([{ type: "channelLost", record: rec, reason: "closed" }]);
    expect(reg.stats.closed).toBe(1);
  });

  test("a stale copy of the closed record cannot revive it; the name can be opened afresh", () => {
    const { host, reg, rec } = lone();
    runTo(reg, 0, CHANNEL_IDLE_MS + 2 * CHANNEL_SWEEP_MS);
    const now = CHANNEL_IDLE_MS + 3 * CHANNEL_SWEEP_MS;
    expect(reg.apply(rec, now)).toBe(false);
    expect(reg.get("ch")).toBeUndefined();
    expect(host.of("channelLost").length).toBe(1);
    reg.open(2, "ch", null, false, now);
    const fresh = host.of("opened")[1]!.record;
    expect(fresh.instance).not.toBe(rec.instance);
    expect(fresh.verifier).toBeNull(); // the old password went with the old instance
  });

  test("a replica drops the record when the tombstone comes, and a stale copy before or after it is refused", () => {
    const { host, reg, rec } = lone();
    runTo(reg, 0, CHANNEL_IDLE_MS + 2 * CHANNEL_SWEEP_MS);
    const tombstone = host.floods.find((r) => r.closedAt !== null)!;
    const replica = new FakeHost("r");
    const r = new ChannelRegistry(replica);
    r.apply(rec, 0);
    expect(r.apply(tombstone, 1)).toBe(true);
    expect(replica.of("channelLost")).toEqual([{ type: "channelLost", record: rec, reason: "closed" }]);
    expect(r.apply(rec, 2)).toBe(false);
    expect(r.get("ch")).toBeUndefined();
    // Reordered: the tombstone overtakes the record.
    const early = new ChannelRegistry(new FakeHost("e"));
    early.apply(tombstone, 0);
    expect(early.apply(rec, 1)).toBe(false);
    expect(early.get("ch")).toBeUndefined();
    // A tombstone travels in full syncs until TOMBSTONE_MS, then is forgotten (bounded memory).
    expect(early.everything(TOMBSTONE_MS - 1).map((x) => x.instance)).toEqual([rec.instance]);
    early.tick(TOMBSTONE_MS + CHANNEL_SWEEP_MS);
    expect(early.everything(TOMBSTONE_MS + CHANNEL_SWEEP_MS)).toEqual([]);
  });

  test("interest anywhere keeps a channel open; losing it starts the idle clock again", () => {
    const { host, reg, rec } = lone();
    host.interest.add("ch");
    runTo(reg, 0, 3 * CHANNEL_IDLE_MS);
    expect(reg.get("ch")).toEqual(rec);
    host.interest.delete("ch");
    runTo(reg, 3 * CHANNEL_IDLE_MS + TICK_MS, 4 * CHANNEL_IDLE_MS - TICK_MS);
    expect(reg.get("ch")).toEqual(rec);
    runTo(reg, 4 * CHANNEL_IDLE_MS, 4 * CHANNEL_IDLE_MS + 2 * CHANNEL_SWEEP_MS);
    expect(reg.get("ch")).toBeUndefined();
  });

  test("only the owner closes, and only once synced", () => {
    const rec = record({ instance: "o~1~0", owner: "o" });
    const replica = new FakeHost("r");
    const r = new ChannelRegistry(replica);
    r.membershipChanged(["o", "r"], true);
    r.apply({ ...rec, name: nameOwnedBy("o", ["o", "r"]) }, 0);
    runTo(r, 0, 2 * CHANNEL_IDLE_MS);
    expect(r.records().length).toBe(1);
    expect(replica.floods).toEqual([]);
    // An owner that has not synced since the membership changed may not know of interest yet.
    const owner = new FakeHost("o");
    const o = new ChannelRegistry(owner);
    o.apply(rec, 0);
    o.membershipChanged(["o"], false); // not alone: it must sync first
    runTo(o, 0, 2 * CHANNEL_IDLE_MS);
    expect(o.get("ch")).toEqual(rec);
    o.markSynced();
    runTo(o, 2 * CHANNEL_IDLE_MS + TICK_MS, 3 * CHANNEL_IDLE_MS + 2 * CHANNEL_SWEEP_MS);
    expect(o.get("ch")).toBeUndefined();
  });
});
