/**
 * Memory per idle connection: the server's RSS before any client, then with N subscribed idle
 * connections. The difference over N is what one connection costs, including its share of any
 * one-off growth (JIT code, grown tables) that the first clients trigger, which is a real cost
 * of going from zero clients to N.
 *
 * The same quiet period also gives the server's CPU while it holds N idle connections: a cost
 * that per-connection timers or sweeps would show and that throughput runs cannot.
 */
import { CloseCounter, openSubscribers } from "./connections.ts";
import { ErrorLog } from "./frames.ts";
import { endWindow, startWindow } from "./measure.ts";
import { memory } from "./procfs.ts";
import type { IdleResult, IdleScenario } from "./types.ts";

export async function runIdleConnections(s: IdleScenario): Promise<IdleResult> {
  const errors = new ErrorLog();
  const closes = new CloseCounter();

  await Bun.sleep(s.settleMs);
  const idle = memory(s.serverPid);

  const started = performance.now();
  const channels = Array.from({ length: s.connections }, (_, i) => `bench-${i % s.channels}`);
  const clients = await openSubscribers(s.port, channels, s.batch, errors, closes);
  const setupSeconds = (performance.now() - started) / 1000;

  // Let the server finish whatever the burst of connections started (GC, buffer trimming) before
  // sampling, then use an equal quiet period to measure idle CPU.
  await Bun.sleep(s.idleMs);
  const win = startWindow([s.serverPid]);
  await Bun.sleep(s.idleMs);
  const idleWindow = endWindow(win).window;
  const loaded = memory(s.serverPid);

  const serverCloses = closes.count;
  for (const c of clients) c.close();
  return { kind: "idle-connections", idle, loaded, connections: clients.length, setupSeconds, idleWindow, errors: errors.toJSON(), closes: serverCloses };
}
