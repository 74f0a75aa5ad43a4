import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { timing, wins, type ChannelRecord, type Directive, type Mesh } from "../../src/mesh/index.ts";
import { MiniNet, rng } from "./helpers/mininet.ts";

/**
 * A model of the channel registry across real Mesh cores: clients join channels with passwords
 * on several nodes while the network is partitioned and healed, with every delivery, answer and
 * password check interleaved by a seeded scheduler. The clients' side is modelled as the shell
 * does it (src/node/admission.ts, subscriptions.ts, server.ts turnAway), with fake verifiers
 * compared as strings, since Bun.password takes tens of milliseconds per check.
 *
 * Invariants, checked as the run goes and at its end:
 *  1. no delivery crosses instances: a `deliver` carries the instance the node's registry holds
 *     and the publisher was admitted to, and reaches only clients admitted to that instance;
 *  2. no client is admitted without the password of the instance it is admitted to;
 *  3. after the network heals and settles, every node holds the same single instance per name:
 *     the one the conflict rule picks from every instance ever bound (when none was closed; with
 *     closes, one that is not closed);
 *  4. a node that held an instance it no longer holds was told (channelLost), in the same step.
 * Besides: every copy of an instance is the same record (its verifier never changes on the way),
 * and every open is answered exactly once.
 *
 * The scheduler (MiniNet with a seeded source) picks which ready queue runs next: each link
 * direction stays in order, as over TCP, but links, ticks and password checks interleave, frames
 * wait up to 300 ms, and a partition holds or drops what crosses it.
 */

const NODES = ["a", "b", "c", "d"];
const CHANNELS = ["ch", "room"];
/**
 * Fixed seed, so every run of the suite is the same. To explore further, MODEL_SEED and
 * MODEL_RUNS pick others; a failure prints the seed and path that replay it.
 */
const FC = { seed: Number(process.env.MODEL_SEED ?? 0x5eed), numRuns: Number(process.env.MODEL_RUNS ?? 24) };
/** Longest wait after the last heal: dead members are called on every CALL_THE_DEAD_MS, behind dial backoff, then REGSYNC. */
const SETTLE_MS = 120_000;
/** How long the settled state must hold: past LINK_DEAD_MS plus a detector round, so a dead link shows. */
const STEADY_MS = 8000;

const verifierOf = (password: string): string => `$argon2id$fake-${password}`;
/** The admission rule: an open channel takes no password; a protected one takes exactly its own. */
const passes = (verifier: string | null, password: string | undefined): boolean => (verifier === null ? password === undefined : password !== undefined && verifier === verifierOf(password));

interface ClientSpec {
  node: string;
  channel: string;
  password: string | undefined;
}
type Action =
  | { t: "join"; c: number }
  /** Every client not in a channel joins at once: concurrent opens of one name from several nodes. */
  | { t: "rush" }
  /** A client unsubscribes: a channel left without subscribers is closed by its owner after CHANNEL_IDLE_MS. */
  | { t: "leave"; c: number }
  | { t: "publish"; c: number }
  | { t: "partition"; sides: boolean[]; drop: boolean }
  | { t: "heal" }
  | { t: "wait"; ms: number };
interface Scenario {
  seed: number;
  /** --strict-channels per node. */
  strict: boolean[];
  clients: ClientSpec[];
  actions: Action[];
}

interface Client extends ClientSpec {
  id: string;
  /** The instance admission let it into; null when not (yet, or any more). */
  admitted: string | null;
  /** The instance its subscription is on (the shell's topic); null when not subscribed. */
  subscribed: string | null;
  joining: boolean;
}

/** What one run saw, for the end-of-run checks and for the coverage check across runs. */
interface Outcome {
  conflicts: number;
  closes: number;
  admitted: number;
  refused: number;
  unavailable: number;
  delivered: number;
  instances: number;
}

/** Runs one scenario; throws (through expect) at the first broken invariant. */
function runScenario(s: Scenario): Outcome {
  const out: Outcome = { conflicts: 0, closes: 0, admitted: 0, refused: 0, unavailable: 0, delivered: 0, instances: 0 };
  const clients: Client[] = s.clients.map((c, i) => ({ ...c, id: `c${i}`, admitted: null, subscribed: null, joining: false }));
  /** Every record seen anywhere, by instance: an instance is minted once, so every copy must be equal. */
  const records = new Map<string, ChannelRecord>();
  /** Per node: instances its registry held at some point, and those it was told it lost. */
  const held = new Map(NODES.map((n) => [n, new Set<string>()]));
  const lost = new Map(NODES.map((n) => [n, new Set<string>()]));
  /** Instances some node reported closed. */
  const closed = new Set<string>();
  /** Published messages: the instance and password of their publisher. */
  const messages = new Map<string, { instance: string; password: string | undefined }>();
  /** Opens in flight, by "node/req". */
  const opens = new Map<string, { client: Client; attempt: number; ours: string | null }>();
  /** Shell continuations that run once the current event's directives are done (promise microtasks). */
  let microtasks: (() => void)[] = [];
  let nextReq = 1;

  const see = (r: ChannelRecord): void => {
    const known = records.get(r.instance);
    if (known) expect(r).toEqual(known);
    else records.set(r.instance, r);
  };
  const mesh = (node: string): Mesh => net.nodes.get(node)!;
  const at = (node: string) => clients.filter((c) => c.node === node);
  const subscribers = (node: string, channel: string) => at(node).filter((c) => c.channel === channel && c.subscribed !== null).length;

  // ---- the shell, as a model ----

  /** ChannelAdmission.check: verify against what the registry holds, or open the name, up to 3 times. */
  const attempt = (c: Client, n: number): void => {
    if (n >= 3) {
      c.joining = false;
      return;
    }
    const record = mesh(c.node).channel(c.channel);
    if (record) return net.task(c.node, () => verify(c, record, n)); // argon2 runs off the event loop
    const ours = c.password === undefined ? null : verifierOf(c.password);
    const req = nextReq++;
    opens.set(`${c.node}/${req}`, { client: c, attempt: n, ours });
    net.handleNow(c.node, { type: "open", req, channel: c.channel, verifier: ours, strict: s.strict[NODES.indexOf(c.node)]! && ours !== null });
  };

  const verify = (c: Client, record: ChannelRecord, n: number): void => {
    if (!passes(record.verifier, c.password)) {
      out.refused++;
      c.joining = false;
      return;
    }
    // The record may have been replaced while the password was checked: check again.
    if (mesh(c.node).channel(c.channel)?.instance !== record.instance) return attempt(c, n + 1);
    // Invariant 2, against the record as minted, not the copy admission was handed.
    expect(passes(records.get(record.instance)!.verifier, c.password)).toBe(true);
    c.admitted = record.instance;
    c.joining = false;
    out.admitted++;
    subscribe(c, record.instance);
  };

  const join = (c: Client): void => {
    if (c.joining || c.subscribed !== null) return;
    // Still admitted to the instance the registry holds (it left and comes back): no check.
    if (c.admitted !== null && mesh(c.node).channel(c.channel)?.instance === c.admitted) return subscribe(c, c.admitted);
    c.joining = true;
    attempt(c, 0);
  };

  /** LocalSubscriptions.add/remove: the node announces interest on a channel's first and last subscriber. */
  const subscribe = (c: Client, instance: string): void => {
    const first = subscribers(c.node, c.channel) === 0;
    c.subscribed = instance;
    if (first) net.handleNow(c.node, { type: "interest", channel: c.channel, interested: true });
  };
  const unsubscribe = (c: Client): void => {
    if (c.subscribed === null) return;
    c.subscribed = null;
    if (subscribers(c.node, c.channel) === 0) net.handleNow(c.node, { type: "interest", channel: c.channel, interested: false });
  };

  const publish = (c: Client): void => {
    // The shell's fast path: only while the instance it was admitted to is the one the registry holds.
    if (c.admitted === null || mesh(c.node).channel(c.channel)?.instance !== c.admitted) return;
    const id = `m${messages.size}`;
    messages.set(id, { instance: c.admitted, password: c.password });
    for (const r of at(c.node)) if (r.subscribed === c.admitted && r.channel === c.channel) expect(r.password).toBe(c.password); // local fan-out
    net.handleNow(c.node, { type: "publish", channel: c.channel, instance: c.admitted, data: id, from: c.id });
  };

  /** server.ts turnAway: clients of a lost instance lose admission and subscription; the SDK joins again. */
  const turnAway = (node: string, record: ChannelRecord): void => {
    for (const c of at(node)) {
      if (c.admitted === record.instance) c.admitted = null;
      if (c.subscribed !== record.instance) continue;
      unsubscribe(c);
      net.task(node, () => join(c));
    }
  };

  const directive = (node: string, d: Directive): void => {
    switch (d.type) {
      case "deliver": {
        // Invariant 1. One event is one frame, so the registry now is the registry at emission.
        out.delivered++;
        const m = messages.get(d.data as string)!;
        expect(d.instance).toBe(m.instance);
        expect(mesh(node).channel(d.channel)?.instance).toBe(d.instance);
        const recipients = at(node).filter((c) => c.channel === d.channel && c.subscribed === d.instance);
        // The node wants the channel only for clients it admitted, to the instance it holds.
        expect(recipients.length).toBeGreaterThan(0);
        for (const r of recipients) {
          expect(r.admitted).toBe(d.instance);
          expect(r.password).toBe(m.password);
        }
        return;
      }
      case "opened": {
        see(d.record);
        // Every open is answered exactly once.
        const p = opens.get(`${node}/${d.req}`)!;
        expect(p).toBeDefined();
        opens.delete(`${node}/${d.req}`);
        // The verifier this node just made bound the channel: no argon2, so no wait.
        if (p.ours !== null && p.ours === d.record.verifier) microtasks.push(() => verify(p.client, d.record, p.attempt));
        else net.task(node, () => verify(p.client, d.record, p.attempt));
        return;
      }
      case "openFailed": {
        const p = opens.get(`${node}/${d.req}`)!;
        expect(p).toBeDefined();
        opens.delete(`${node}/${d.req}`);
        expect(d.code).toBe("channel_unavailable");
        out.unavailable++;
        p.client.joining = false;
        return;
      }
      case "channelLost": {
        see(d.record);
        lost.get(node)!.add(d.record.instance);
        if (d.reason === "conflict") {
          see(d.winner!);
          expect(wins(d.winner!, d.record)).toBe(true);
          out.conflicts++;
        } else {
          // Idle: every subscriber left, or it was bound for an open whose requester had already
          // given up (its retry crossed the owner's refusal or the timeout).
          expect(d.winner).toBeUndefined();
          closed.add(d.record.instance);
          out.closes++;
        }
        microtasks.push(() => turnAway(node, d.record));
        return;
      }
    }
  };

  /** Set while microtasks run: an event they cause (an interest change) must not check mid-way. */
  let flushing = false;
  const handled = (node: string): void => {
    const m = mesh(node);
    for (const name of CHANNELS) {
      const r = m.channel(name);
      if (r) {
        see(r);
        held.get(node)!.add(r.instance);
      }
    }
    if (flushing) return;
    flushing = true;
    try {
      while (microtasks.length > 0) microtasks.shift()!();
    } finally {
      flushing = false;
    }
    // Invariant 4, at once: a subscription on an instance the node no longer holds means a
    // channelLost went missing (turnAway has just run for every one that came).
    for (const c of at(node)) if (c.subscribed !== null) expect(m.channel(c.channel)?.instance).toBe(c.subscribed);
  };

  const settled = (): boolean =>
    NODES.every((n) => mesh(n).members().every((m) => m.state === "alive") && mesh(n).members().length === NODES.length) &&
    CHANNELS.every((name) => NODES.every((n) => mesh(n).channel(name)?.instance === mesh(NODES[0]!).channel(name)?.instance));

  /**
   * Runs until every node has seen every member alive, and the registries agree, for STEADY_MS
   * in a row: longer than the failure detector takes to suspect a member whose links did not
   * survive the cut, and than a tombstone takes to spread. A run that never gets there fails below.
   */
  const settle = (): void => {
    for (let waited = 0, steady = 0; waited < SETTLE_MS && steady < STEADY_MS; waited += 1000) {
      net.run(1000);
      steady = settled() ? steady + 1000 : 0;
    }
  };

  const net = new MiniNet({ schedule: rng(s.seed), maxLatencyMs: 300, observer: { directive, handled } });
  for (const n of NODES) net.add(n, n === "a" ? [] : ["a"]);
  net.run(3000);

  for (const a of s.actions) {
    switch (a.t) {
      case "join":
        join(clients[a.c % clients.length]!);
        break;
      case "rush":
        clients.forEach(join);
        break;
      case "publish":
        publish(clients[a.c % clients.length]!);
        break;
      case "leave":
        unsubscribe(clients[a.c % clients.length]!);
        break;
      case "partition": {
        const one = NODES.filter((_, i) => a.sides[i]);
        net.partition([one, NODES.filter((n) => !one.includes(n))], a.drop);
        break;
      }
      case "heal":
        net.heal();
        break;
      case "wait":
        net.run(a.ms);
        break;
    }
  }
  net.heal();
  settle();
  // Everyone publishes once more, so delivery is checked on the settled registry too.
  for (const c of clients) publish(c);
  settle();

  for (const n of NODES) expect(mesh(n).members().map((m) => `${m.name}:${m.state}`)).toEqual(NODES.map((x) => `${x}:alive`));
  // No open is left without an answer: each gets opened or, at worst, channel_unavailable.
  expect([...opens.keys()]).toEqual([]);
  for (const name of CHANNELS) {
    // Invariant 3: one instance everywhere, the best of all ever bound. A close breaks the
    // "best": a loser forgotten before its winner closed stays forgotten, so there the check is
    // that all agree on one instance that is not closed.
    const bound = [...records.values()].filter((r) => r.name === name);
    const best = bound.reduce<ChannelRecord | undefined>((b, r) => (!b || wins(r, b) ? r : b), undefined);
    const final = mesh(NODES[0]!).channel(name);
    for (const n of NODES) expect(mesh(n).channel(name)).toEqual(final);
    if (bound.some((r) => closed.has(r.instance))) expect(final === undefined || !closed.has(final.instance)).toBe(true);
    else expect(final).toEqual(best);
  }
  for (const n of NODES) {
    // Invariant 4, at the end: every instance a node held and does not hold now was reported lost.
    const now = new Set(CHANNELS.map((name) => mesh(n).channel(name)?.instance));
    for (const i of held.get(n)!) if (!now.has(i)) expect(lost.get(n)!.has(i)).toBe(true);
  }
  out.instances = records.size;
  return out;
}

const arbSides = fc.array(fc.boolean(), { minLength: NODES.length, maxLength: NODES.length });
/** Short waits race opens, answers and password checks against each other. */
const arbShortWait = fc.integer({ min: 1, max: 10 }).map((n) => ({ t: "wait" as const, ms: n * timing.TICK_MS }));
/**
 * One episode: maybe split the network and wait (long enough, or not, for each side to declare
 * the other dead and pick owners of its own), then clients join and publish with short waits in
 * between, then maybe heal. Episodes in a row give partitions that change shape and heal partly.
 */
const arbEpisode = fc.record({
  split: fc.option(fc.record({ sides: arbSides, drop: fc.boolean() }), { freq: 3 }),
  // Most often past the ~10 s a side takes to declare the other dead: then both sides bind.
  wait: fc.oneof({ weight: 1, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 20, max: 100 }) }, { weight: 3, arbitrary: fc.integer({ min: 100, max: 150 }) }).map((n) => n * timing.TICK_MS),
  steps: fc.array(
    fc.oneof(
      { weight: 3, arbitrary: fc.record({ t: fc.constant("join" as const), c: fc.nat() }) },
      { weight: 1, arbitrary: fc.constant({ t: "rush" as const }) },
      { weight: 3, arbitrary: fc.record({ t: fc.constant("publish" as const), c: fc.nat() }) },
      { weight: 1, arbitrary: fc.record({ t: fc.constant("leave" as const), c: fc.nat() }) },
      { weight: 2, arbitrary: arbShortWait },
    ),
    { maxLength: 10 },
  ),
  heal: fc.boolean(),
  // Now and then past CHANNEL_IDLE_MS, so channels everyone left are closed (tombstones, reopens).
  after: fc.oneof({ weight: 4, arbitrary: fc.integer({ min: 0, max: 150 }) }, { weight: 1, arbitrary: fc.integer({ min: 610, max: 750 }) }).map((n) => n * timing.TICK_MS),
});

const arbScenario: fc.Arbitrary<Scenario> = fc.record({
  seed: fc.integer(),
  strict: fc.array(fc.boolean(), { minLength: NODES.length, maxLength: NODES.length }),
  // Mostly one password per name, so clients on different nodes share instances and messages flow;
  // sometimes another, so admission has wrong passwords to refuse.
  clients: fc.array(fc.record({ node: fc.constantFrom(...NODES), channel: fc.constantFrom(...CHANNELS), password: fc.oneof({ weight: 3, arbitrary: fc.constant("p1") }, { weight: 2, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: fc.constant("p2") }) }), { minLength: 3, maxLength: 8 }),
  actions: fc.array(arbEpisode, { minLength: 1, maxLength: 4 }).map((episodes) =>
    episodes.flatMap((e): Action[] => [
      ...(e.split ? [{ t: "partition" as const, ...e.split }] : []),
      { t: "wait" as const, ms: e.wait },
      ...e.steps,
      ...(e.heal ? [{ t: "heal" as const }] : []),
      { t: "wait" as const, ms: e.after },
    ]),
  ),
});

describe("channel registry model: concurrent opens, partitions and heals on real Mesh cores", () => {
  test("a name bound on both sides of a partition: after the heal one instance holds everywhere, the other's clients are told", () => {
    const o = runScenario({
      seed: 1,
      strict: [false, false, false, false],
      clients: [
        { node: "a", channel: "ch", password: "p1" },
        { node: "c", channel: "ch", password: "p2" },
        { node: "b", channel: "ch", password: "p1" },
        { node: "d", channel: "ch", password: "p2" },
      ],
      actions: [
        { t: "partition", sides: [true, true, false, false], drop: true },
        // Long enough for each side to declare the other dead and own every name itself.
        { t: "wait", ms: 15_000 },
        ...[0, 1, 2, 3].map((c) => ({ t: "join" as const, c })),
        { t: "wait", ms: 2000 },
        ...[0, 1, 2, 3].map((c) => ({ t: "publish" as const, c })),
        { t: "wait", ms: 1000 },
        { t: "heal" },
      ],
    });
    // Two instances, each admitting its own side's clients; both nodes of the losing side were told.
    expect(o.instances).toBe(2);
    expect(o.conflicts).toBe(2);
    expect(o.admitted).toBe(4);
    // The losers joined again and met the winner's password: one of each pair is refused.
    expect(o.refused).toBe(2);
    expect(o.delivered).toBeGreaterThanOrEqual(2);
  });

  test("property: no cross-instance delivery, no admission without the password, one instance per name after healing, every loss reported", () => {
    const total: Outcome = { conflicts: 0, closes: 0, admitted: 0, refused: 0, unavailable: 0, delivered: 0, instances: 0 };
    fc.assert(
      // Unbiased: fast-check's bias towards small values would spend most runs on scenarios too
      // short to partition, bind on both sides and heal.
      fc.property(fc.noBias(arbScenario), (s) => {
        const o = runScenario(s);
        for (const k of Object.keys(total) as (keyof Outcome)[]) total[k] += o[k];
      }),
      FC,
    );
    // The runs must reach the paths the invariants are about, or passing them proves little.
    expect(total.conflicts).toBeGreaterThan(0);
    expect(total.closes).toBeGreaterThan(0);
    expect(total.unavailable).toBeGreaterThan(0);
    expect(total.refused).toBeGreaterThan(0);
    expect(total.delivered).toBeGreaterThan(0);
  });
});
