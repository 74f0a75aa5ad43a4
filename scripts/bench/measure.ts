/**
 * A measured window, taken inside the load generator so it lines up exactly with the counters it
 * brackets: wall time, the generator's own CPU (process.cpuUsage, all threads) and the servers' CPU
 * (from /proc, by PID). A mesh has several server processes, so their CPU is summed and also kept
 * per process; a single-node run passes one PID.
 */
import { coreTimes, cpuSeconds, type CoreTime } from "./procfs.ts";
import type { WindowStats } from "./types.ts";

export interface WindowStart {
  wall: number;
  cpu: NodeJS.CpuUsage;
  serverPids: readonly number[];
  servers: number[];
  cores: CoreTime[];
}

export interface MeasuredWindow {
  window: WindowStats;
  /** CPU-seconds of each server over the window, in the order of the PIDs given to startWindow. */
  perServerCpuSeconds: number[];
}

/** Opens a window over the servers `serverPids`. */
export function startWindow(serverPids: readonly number[]): WindowStart {
  return { wall: performance.now(), cpu: process.cpuUsage(), serverPids, servers: serverPids.map(cpuSeconds), cores: coreTimes() };
}

/** Closes a window opened by startWindow. */
export function endWindow(start: WindowStart): MeasuredWindow {
  const servers = start.serverPids.map(cpuSeconds);
  const cpu = process.cpuUsage(start.cpu);
  const cores = coreTimes();
  const perServer = servers.map((s, i) => s - start.servers[i]!);
  return {
    window: {
      wallSeconds: (performance.now() - start.wall) / 1000,
      generatorCpuSeconds: (cpu.user + cpu.system) / 1e6,
      serverCpuSeconds: perServer.reduce((a, b) => a + b, 0),
      cores: cores.map((c, i) => {
        const b = start.cores[i] ?? c;
        const span = c.total - b.total || NaN;
        return { processes: (c.processes - b.processes) / span, irq: (c.irq - b.irq) / span, steal: (c.steal - b.steal) / span };
      }),
    },
    perServerCpuSeconds: perServer,
  };
}
