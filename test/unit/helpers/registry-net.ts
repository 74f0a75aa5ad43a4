import { ChannelRegistry, type RegistryHost } from "../../../src/mesh/channels.ts";
import { TICK_MS } from "../../../src/mesh/constants.ts";
import type { CallBody, ChannelRecord, Directive } from "../../../src/mesh/types.ts";

/**
 * ChannelRegistry without a Mesh: a fake RegistryHost that records what the registry asks of the
 * mesh, and a small network of registries that carries calls and floods between them, so the
 * registry's state machine is tested on its own, with time and delivery order in the test's hands.
 */

/** A message between registries, as the mesh would carry it: a routed call, or a record flooding out. */
type Msg = { kind: "call"; from: string; to: string; req: number; body: CallBody } | { kind: "flood"; from: string; record: ChannelRecord };

/** The registry's view of the mesh, recorded for the test; inside a RegistryNet it also carries calls and floods. */
export class FakeHost implements RegistryHost {
  /** Every call the registry made, whether a route existed or not. */
  readonly calls: { to: string; req: number; body: CallBody }[] = [];
  /** Every record it flooded (binds and tombstones). */
  readonly floods: ChannelRecord[] = [];
  /** Every directive it emitted for the shell. */
  readonly directives: Directive[] = [];
  /** Channels some node subscribes to, as hasInterest() answers. */
  readonly interest = new Set<string>();
  /** What quorumBase() answers: members not gone for good, dead ones included. */
  base = 1;
  /** What call() answers: false is "no route to that node yet". */
  routable = true;
  readonly incarnation = 1;

  constructor(
    readonly self: string,
    private readonly net?: RegistryNet,
  ) {}

  call(to: string, req: number, body: CallBody): boolean {
    this.calls.push({ to, req, body });
    if (this.routable) this.net?.queue.push({ kind: "call", from: this.self, to, req, body });
    return this.routable;
  }
  flood(record: ChannelRecord): void {
    this.floods.push(record);
    this.net?.queue.push({ kind: "flood", from: this.self, record });
  }
  hasInterest(channel: string): boolean {
    return this.interest.has(channel);
  }
  quorumBase(): number {
    return this.base;
  }
  emit(d: Directive): void {
    this.directives.push(d);
  }
  /** The directives of one type emitted so far. */
  of<T extends Directive["type"]>(type: T): Extract<Directive, { type: T }>[] {
    return this.directives.filter((d): d is Extract<Directive, { type: T }> => d.type === type);
  }
}

/**
 * Registries of several nodes, each one hop from every other: calls and floods queue and are
 * delivered one at a time, in a seeded order when given one. A node in `cut` neither sends nor
 * receives (the far side of a partition).
 */
export class RegistryNet {
  readonly hosts = new Map<string, FakeHost>();
  readonly regs = new Map<string, ChannelRegistry>();
  /** Messages sent and not yet delivered. */
  readonly queue: Msg[] = [];
  /** Nodes on the far side of a partition. */
  readonly cut = new Set<string>();
  /** The time the test has advanced to (ms); the registries see no other clock. */
  now = 0;

  constructor(readonly names: string[]) {
    for (const n of names) {
      const host = new FakeHost(n, this);
      host.base = names.length;
      const reg = new ChannelRegistry(host);
      // Every node knows every other and is synced (`alone`: nothing to wait for), so opens are answered.
      reg.membershipChanged([...names].sort(), true);
      this.hosts.set(n, host);
      this.regs.set(n, reg);
    }
  }

  reg(n: string): ChannelRegistry {
    return this.regs.get(n)!;
  }
  host(n: string): FakeHost {
    return this.hosts.get(n)!;
  }

  /** Delivers one queued message (a random one when given a source); false when none is left. */
  step(random?: () => number): boolean {
    if (this.queue.length === 0) return false;
    const m = this.queue.splice(random ? Math.floor(random() * this.queue.length) : 0, 1)[0]!;
    if (this.cut.has(m.from)) return true;
    if (m.kind === "call") {
      if (!this.cut.has(m.to)) this.reg(m.to).onCall(m.from, m.req, m.body, this.now);
      return true;
    }
    // As the mesh does: a record that changed a registry floods on from there.
    for (const n of this.names) if (n !== m.from && !this.cut.has(n) && this.reg(n).apply(m.record, this.now)) this.queue.push({ kind: "flood", from: n, record: m.record });
    return true;
  }

  deliver(random?: () => number): void {
    while (this.step(random));
  }

  /** Advances time to `until`, ticking every registry each TICK_MS and delivering what the ticks sent. */
  runUntil(until: number, random?: () => number): void {
    for (; this.now <= until; this.now += TICK_MS) {
      for (const n of this.names) if (!this.cut.has(n)) this.reg(n).tick(this.now);
      this.deliver(random);
    }
  }
}
