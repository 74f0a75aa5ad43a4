/**
 * The mesh scenarios of the load generator (mesh-types.ts), run by loadgen.ts in the same process
 * as the single-node ones. Their loops are the single-node bench's own (closed-loop.ts and
 * latency.ts), pointed at different nodes and sampling every node's CPU, so a chain figure and a
 * single-node figure come from the same client code.
 *
 * What a mesh adds over a single node: the subscribers' interest must reach the publisher's node
 * before anything is delivered (docs/protocol.md: about 100 ms plus a crossing per hop), so every
 * scenario first publishes probes until every subscriber has one, lets the probes drain, and only
 * then starts counting. And since a publish crosses nodes, the fan-out counts what never arrived.
 *
 * The same scenarios run a NATS cluster for the comparison: only the codec differs.
 */
import { openClosedLoop } from "./closed-loop.ts";
import type { Frame } from "./codecs/index.ts";
import type { Conn } from "./connections.ts";
import type { ErrorLog } from "./error-log.ts";
import { openLatency } from "./latency.ts";
import type { MeasuredWindow } from "./measure.ts";
import { percentile } from "./stats.ts";
import type { HopLatency, MeshFanoutResult, MeshFanoutScenario, MeshHopsResult, MeshHopsScenario, MeshWindow } from "./mesh-types.ts";

const CHANNEL = "bench-mesh";
/** Probe publishes go out this often until every subscriber has one: often enough to see interest arrive within a few ms. */
const PROBE_EVERY_MS = 20;
/** After the last probe, the path is quiet once no delivery came for this long: stray probes must not count as measured deliveries. */
const PROBE_QUIET_MS = 300;
/** After a closed loop stops, time for what is still in flight to arrive before counting anything missing. */
const DRAIN_MS = 2_000;

const log = (line: string): void => void process.stderr.write(`mesh-loadgen: ${line}\n`);

const meshWindow = (m: MeasuredWindow): MeshWindow => ({ ...m.window, perServerCpuSeconds: m.perServerCpuSeconds });

/**
 * Publishes a probe every PROBE_EVERY_MS until every subscriber has received at least one, then
 * waits until every probe is answered (codecs with acks) and no delivery came for PROBE_QUIET_MS.
 * Installs its own handlers; the loop installs the measuring ones afterwards. Probes published
 * before the interest arrived are dropped by the mesh by design (a node with no interested subtree
 * gets nothing).
 */
async function awaitInterest(
  publisher: Conn,
  subscribers: readonly Conn[],
  acks: boolean,
  probe: (n: number) => Frame,
  timeoutMs: number,
  errors: ErrorLog,
): Promise<{ propagationMs: number; probes: number }> {
  const got = new Array<boolean>(subscribers.length).fill(false);
  let missing = subscribers.length;
  let lastDelivery = performance.now();
  let acked = 0;
  subscribers.forEach((sub, i) => {
    sub.sink.msg = () => {
      lastDelivery = performance.now();
      if (!got[i]) {
        got[i] = true;
        missing--;
      }
    };
  });
  publisher.sink.ack = () => void acked++;
  publisher.sink.error = (text) => {
    errors.note(text);
    acked++;
  };
  const started = performance.now();
  let probes = 0;
  while (missing > 0) {
    if (performance.now() - started > timeoutMs) {
      throw new Error(`interest did not reach the publisher's node within ${timeoutMs} ms: ${missing} of ${subscribers.length} subscribers got none of ${probes} probes`);
    }
    publisher.client.send(probe(++probes));
    await Bun.sleep(PROBE_EVERY_MS);
  }
  const propagationMs = performance.now() - started;
  const quietBy = performance.now() + 10_000;
  while ((acks && acked < probes) || performance.now() - lastDelivery < PROBE_QUIET_MS) {
    if (performance.now() > quietBy) throw new Error(`probes did not drain: ${acked} of ${probes} acked`);
    await Bun.sleep(25);
  }
  log(`interest reached the publisher's node after ${propagationMs.toFixed(0)} ms (${probes} probes)`);
  return { propagationMs, probes };
}

export async function runMeshFanout(s: MeshFanoutScenario): Promise<MeshFanoutResult> {
  const loop = await openClosedLoop({ ...s, channels: [CHANNEL] });
  const { propagationMs, probes } = await awaitInterest(loop.publisher, loop.subscribers, loop.acks, loop.frame, s.propagationTimeoutMs, loop.errors);
  const r = await loop.run({ idsUsed: probes, drainMs: DRAIN_MS });
  return {
    kind: "mesh-fanout",
    window: meshWindow(r),
    propagationMs,
    probes,
    deliveries: r.deliveries,
    acks: r.acks,
    missing: r.missing,
    errors: r.errors,
    closes: r.closes,
  };
}

export async function runMeshHops(s: MeshHopsScenario): Promise<MeshHopsResult> {
  const loop = await openLatency({ ...s, channel: CHANNEL });
  const probe = (id: number): Frame => loop.frame(id, performance.now());
  const { propagationMs, probes } = await awaitInterest(loop.publisher, loop.subscribers, loop.acks, probe, s.propagationTimeoutMs, loop.errors);
  const r = await loop.run(probes);
  const perHop: HopLatency[] = r.samples.map((sorted, hops) => ({
    hops,
    received: sorted.length,
    expected: r.published,
    p50Ms: percentile(sorted, 0.5),
    p90Ms: percentile(sorted, 0.9),
    p99Ms: percentile(sorted, 0.99),
    p999Ms: percentile(sorted, 0.999),
    maxMs: sorted.length ? sorted[sorted.length - 1]! : NaN,
  }));
  return { kind: "mesh-hops", window: meshWindow(r), propagationMs, probes, published: r.published, perHop, errors: r.errors, closes: r.closes };
}
