/**
 * The simulator's own rules, checked with a scripted fake core, so a failing mesh test points at
 * the core and not at the harness: dial timing, link ids, frames through the real codec, FIFO,
 * close and reset, crash and partition as blackholes, probes, and deterministic ordering.
 */
import { describe, expect, test } from "bun:test";
import type { Directive, MeshEvent, PeerFrame } from "../../src/mesh/types.ts";
import type { MeshStats, SimMesh, SimMeshConfig } from "./core.ts";
import { EventQueue } from "./event-queue.ts";
import { intraRegionRtt, regionRtt } from "./network.ts";
import { Simulator, type Wire, hostOf } from "./simulator.ts";

/** A core that records what it is told and answers with whatever the test queued. */
class FakeMesh implements SimMesh {
  readonly seen: { now: number; event: MeshEvent }[] = [];
  queued: Directive[] = [];
  constructor(readonly config: SimMeshConfig) {}
  handle(event: MeshEvent, now: number): Directive[] {
    if (event.type !== "tick" && event.type !== "interest") this.seen.push({ now, event });
    const out = this.queued;
    this.queued = [];
    return out;
  }
  members() {
    return [];
  }
  links() {
    return [];
  }
  stats(): MeshStats {
    return { routed: 0, delivered: 0, duplicates: 0, dropped: 0, fallbacks: 0, membershipChanges: 0, lateDropped: 0 };
  }
}

/** A simulator of `nodes` fake cores (n0 in westus, n1 in southcentralus: 35 ms apart, ...). */
function fakeSim(nodes = 3, wire: Wire = "codec") {
  const cores = new Map<string, FakeMesh>();
  const sim = new Simulator({
    nodes,
    seed: 7,
    startSpreadMs: 0,
    wire,
    codecSample: 1,
    factory: (config) => {
      const core = new FakeMesh(config);
      cores.set(config.self.name, core);
      return core;
    },
  });
  let kicks = 0;
  /** Makes `name`'s core emit `directives` now (an interest event is the trigger; the fake ignores it). */
  const act = (name: string, ...directives: Directive[]) => {
    cores.get(name)!.queued = directives;
    sim.interest(name, `kick${kicks++}`, true);
  };
  const seen = (name: string) => cores.get(name)!.seen;
  return { sim, cores, act, seen };
}

/** Brings a link up from `a` to `b`; returns each side's link id. */
function connect(f: ReturnType<typeof fakeSim>, a: string, b: string): { a: number; b: number } {
  f.act(a, { type: "dial", address: `${b}:7400` });
  f.sim.runFor(1000);
  const upA = f.seen(a).findLast((s) => s.event.type === "linkUp");
  const upB = f.seen(b).findLast((s) => s.event.type === "linkUp");
  if (upA?.event.type !== "linkUp" || upB?.event.type !== "linkUp") throw new Error("no link");
  return { a: upA.event.link, b: upB.event.link };
}

describe("simulator", () => {
  test("a dial brings the link up at both ends after two RTTs, with distinct ids", () => {
    const f = fakeSim();
    const rtt = regionRtt(0, 1);
    f.act("n0", { type: "dial", address: "ws://n1:7400/peer" });
    f.sim.runFor(1000);
    const [a] = f.seen("n0");
    const [b] = f.seen("n1");
    expect(a?.now).toBe(2 * rtt);
    expect(b?.now).toBe(2 * rtt);
    expect(a?.event).toMatchObject({ type: "linkUp", dialed: true, address: "ws://n1:7400/peer", peer: { name: "n1", incarnation: 1, url: "ws://n1:7400", region: "southcentralus" } });
    expect(b?.event).toMatchObject({ type: "linkUp", dialed: false, peer: { name: "n0", region: "westus" } });
    expect(b?.event.type === "linkUp" && a?.event.type === "linkUp" && a.event.link !== b.event.link).toBe(true);
  });

  test("frames arrive after one-way latency, in order, as decoded copies, under the receiver's link id", () => {
    const f = fakeSim();
    const ids = connect(f, "n0", "n1");
    const t0 = f.sim.now;
    const ping = { t: "ping", ts: 1 } as const;
    f.act("n0", { type: "send", link: ids.a, frame: ping }, { type: "send", link: ids.a, frame: { t: "pong", ts: 2 } });
    f.sim.runFor(1000);
    const frames = f.seen("n1").filter((s) => s.event.type === "frame");
    expect(frames.map((s) => s.now)).toEqual([t0 + regionRtt(0, 1) / 2, t0 + regionRtt(0, 1) / 2]);
    expect(frames.map((s) => s.event)).toEqual([
      { type: "frame", link: ids.b, frame: { t: "ping", ts: 1 } },
      { type: "frame", link: ids.b, frame: { t: "pong", ts: 2 } },
    ]);
    expect(frames[0]?.event.type === "frame" && frames[0].event.frame !== ping).toBe(true);
    expect(f.sim.traffic().frames).toMatchObject({ ping: 1, pong: 1 });
  });

  test("a frame the real codec refuses is dropped (codec) or counted and delivered frozen (copy)", () => {
    for (const wire of ["codec", "copy"] as const) {
      const f = fakeSim(3, wire);
      const ids = connect(f, "n0", "n1");
      // A name with a space: the codec's NAME_RE refuses it (as a shell would refuse the frame).
      const bad: PeerFrame = { t: "digest", entries: [{ name: "not a name", incarnation: 1, state: "alive", lsaSeq: 0, interestVersion: 0 }], reply: false };
      f.act("n0", { type: "send", link: ids.a, frame: bad });
      f.sim.runFor(1000);
      const got = f.seen("n1").filter((s) => s.event.type === "frame");
      expect(f.sim.anomalies.undecodableFrames).toBe(1);
      expect(f.sim.anomalies.undecodableReasons[0]).toContain("digest.name");
      expect(got.length).toBe(wire === "codec" ? 0 : 1);
      const delivered = got[0]?.event.type === "frame" ? got[0].event.frame : null;
      if (wire === "copy") {
        // Shared, not copied: frozen all the way down, so neither end can change what the other holds.
        expect(delivered).toBe(bad);
        expect(Object.isFrozen(bad) && Object.isFrozen(bad.t === "digest" && bad.entries[0])).toBe(true);
        expect(() => {
          (bad as { reply: boolean }).reply = true;
        }).toThrow();
      }
    }
  });

  test("close: linkDown at the closer at once, at the far end one latency later, once each", () => {
    const f = fakeSim();
    const ids = connect(f, "n0", "n1");
    const t0 = f.sim.now;
    f.act("n0", { type: "close", link: ids.a, reason: "test" }, { type: "send", link: ids.a, frame: { t: "ping", ts: 0 } });
    f.sim.runFor(1000);
    expect(f.seen("n0").filter((s) => s.event.type === "linkDown")).toEqual([{ now: t0, event: { type: "linkDown", link: ids.a } }]);
    expect(f.seen("n1").filter((s) => s.event.type === "linkDown")).toEqual([{ now: t0 + regionRtt(0, 1) / 2, event: { type: "linkDown", link: ids.b } }]);
    expect(f.sim.anomalies.sendAfterClose).toBe(1);
    f.act("n1", { type: "close", link: ids.b, reason: "late" });
    expect(f.sim.anomalies.closeOnUnknownLink).toBe(1);
  });

  test("a crash is a blackhole; a dial to it fails; after a restart, a send on the old link is reset", () => {
    const f = fakeSim();
    const ids = connect(f, "n0", "n1");
    f.sim.crash("n1");
    const t0 = f.sim.now;
    f.act("n0", { type: "send", link: ids.a, frame: { t: "ping", ts: 0 } }, { type: "dial", address: "n1:7400" });
    f.sim.runFor(2000);
    expect(f.seen("n0").filter((s) => s.now >= t0)).toEqual([{ now: t0 + 2 * regionRtt(0, 1), event: { type: "dialFailed", address: "n1:7400" } }]);
    f.sim.restart("n1");
    f.sim.runFor(200);
    const t1 = f.sim.now;
    f.act("n0", { type: "send", link: ids.a, frame: { t: "ping", ts: 0 } });
    f.sim.runFor(1000);
    expect(f.seen("n0").filter((s) => s.now >= t1)).toEqual([{ now: t1 + regionRtt(0, 1), event: { type: "linkDown", link: ids.a } }]);
    expect(f.cores.get("n1")!.config.self.incarnation).toBe(2);
    expect(f.cores.get("n1")!.seen.length).toBe(0); // the new core saw nothing of the old link
  });

  test("a partition drops frames silently and fails probes; healing restores them", () => {
    const f = fakeSim();
    const ids = connect(f, "n0", "n1");
    f.sim.partition(["n0"], ["n1", "n2"]);
    const t0 = f.sim.now;
    f.act("n0", { type: "send", link: ids.a, frame: { t: "ping", ts: 0 } }, { type: "probe", name: "n2", url: "ws://n2:7400" });
    f.sim.runFor(2000);
    expect(f.seen("n1").filter((s) => s.now >= t0)).toEqual([]);
    expect(f.seen("n0").filter((s) => s.now >= t0)).toEqual([{ now: t0 + 2 * regionRtt(0, 2), event: { type: "probed", name: "n2", rtt: null } }]);
    f.sim.heal();
    const t1 = f.sim.now;
    f.act("n0", { type: "probe", name: "n2", url: "ws://n2:7400" });
    f.sim.runFor(2000);
    expect(f.seen("n0").filter((s) => s.now >= t1)).toEqual([{ now: t1 + regionRtt(0, 2), event: { type: "probed", name: "n2", rtt: regionRtt(0, 2) } }]);
  });

  test("publish and deliver are matched by message id; expected receivers are the interested others", () => {
    const f = fakeSim();
    f.sim.interest("n1", "news", true);
    f.sim.interest("n2", "news", true);
    f.sim.crash("n2");
    const id = f.sim.publish("n0", "news");
    f.sim.runFor(10);
    const pub = f.seen("n0").find((s) => s.event.type === "publish")?.event;
    expect(pub).toMatchObject({ type: "publish", channel: "news", data: { id } });
    expect(f.sim.published).toEqual([{ id, origin: "n0", channel: "news", time: 0, expected: ["n1"] }]);
    f.act("n1", { type: "deliver", channel: "news", instance: "unbound~0~0", data: pub?.type === "publish" ? pub.data : null });
    expect(f.sim.deliveries.get(id)).toEqual([{ node: "n1", id, channel: "news", time: 10 }]);
  });

  test("addresses, same-region RTTs and event order are as documented", () => {
    expect(["n07:7400", "ws://n07:7400", "ws://n07:7400/peer", "n07"].map(hostOf)).toEqual(["n07", "n07", "n07", "n07"]);
    for (const [a, b] of [["n1", "n29"], ["n000", "n028"]] as const) {
      expect(intraRegionRtt(a, b)).toBe(intraRegionRtt(b, a));
      expect(intraRegionRtt(a, b)).toBeGreaterThanOrEqual(1);
      expect(intraRegionRtt(a, b)).toBeLessThan(2);
    }
    const q = new EventQueue();
    const order: number[] = [];
    for (const [t, label] of [[5, 1], [1, 2], [5, 3], [1, 4], [3, 5]] as const) q.push(t, () => order.push(label));
    while (q.size) q.pop()!.run();
    expect(order).toEqual([2, 4, 5, 1, 3]);
  });
});
