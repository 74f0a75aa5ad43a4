/**
 * Memory per idle connection: the server's RSS before any client, then with N subscribed idle
 * connections, for each N of the scenario's steps (5,000, then 15,000 more to reach 20,000). The
 * difference over N is what one connection costs, including its share of any one-off growth (JIT
 * code, grown tables) that the first clients trigger, which is a real cost of going from zero
 * clients to N.
 *
 * The same quiet period also gives the server's CPU while it holds N idle connections: a cost
 * that per-connection timers, sweeps or protocol pings would show and that throughput runs cannot.
 */
import { codecFor } from "./codecs/index.ts";
import { CloseCounter, openSubscribers, type Conn } from "./connections.ts";
import { ErrorLog } from "./error-log.ts";
import { endWindow, startWindow } from "./measure.ts";
import { memory } from "./procfs.ts";
import type { IdleResult, IdleScenario, IdleStep } from "./types.ts";

export async function runIdleConnections(s: IdleScenario): Promise<IdleResult> {
  const codec = codecFor(s.codec);
  const errors = new ErrorLog();
  const closes = new CloseCounter();

  await Bun.sleep(s.settleMs);
  const idle = memory(s.serverPid);

  const conns: Conn[] = [];
  const steps: IdleStep[] = [];
  for (const target of s.steps) {
    const started = performance.now();
    const channels = Array.from({ length: target - conns.length }, (_, i) => `bench-${(conns.length + i) % s.channels}`);
    conns.push(...(await openSubscribers(s.port, codec, channels, s.batch, errors, closes)));
    const setupSeconds = (performance.now() - started) / 1000;
    // Let the server finish whatever the burst of connections started (GC, buffer trimming) before
    // sampling, then use an equal quiet period to measure idle CPU.
    await Bun.sleep(s.idleMs);
    const win = startWindow([s.serverPid]);
    await Bun.sleep(s.idleMs);
    const idleWindow = endWindow(win).window;
    steps.push({ connections: conns.length, loaded: memory(s.serverPid), setupSeconds, idleWindow });
  }

  const serverCloses = closes.count;
  for (const c of conns) c.client.close();
  return { kind: "idle-connections", idle, steps, errors: errors.toJSON(), closes: serverCloses };
}
