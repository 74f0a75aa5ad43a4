/**
 * A measured window, taken inside the load generator so it lines up exactly with the counters it
 * brackets: wall time, the generator's own CPU (process.cpuUsage, all threads) and the server's CPU
 * (from /proc, by PID).
 */
import { coreTimes, cpuSeconds, type CoreTime } from "./procfs.ts";
import type { WindowStats } from "./types.ts";

export interface WindowStart {
  wall: number;
  cpu: NodeJS.CpuUsage;
  server: number;
  cores: CoreTime[];
}

/** Opens a window. */
export function startWindow(serverPid: number): WindowStart {
  return { wall: performance.now(), cpu: process.cpuUsage(), server: cpuSeconds(serverPid), cores: coreTimes() };
}

/** Closes a window opened by startWindow. */
export function endWindow(start: WindowStart, serverPid: number): WindowStats {
  const server = cpuSeconds(serverPid);
  const cpu = process.cpuUsage(start.cpu);
  const cores = coreTimes();
  return {
    wallSeconds: (performance.now() - start.wall) / 1000,
    generatorCpuSeconds: (cpu.user + cpu.system) / 1e6,
    serverCpuSeconds: server - start.server,
    cores: cores.map((c, i) => {
      const b = start.cores[i] ?? c;
      const span = c.total - b.total || NaN;
      return { processes: (c.processes - b.processes) / span, irq: (c.irq - b.irq) / span, steal: (c.steal - b.steal) / span };
    }),
  };
}
