/** What machine the figures come from, for the report: they mean little without it. */
import { readFileSync } from "node:fs";
import { availableParallelism, release } from "node:os";
import { TASKSET } from "./processes.ts";

export interface Machine {
  cores: number;
  cpuModel: string;
  memoryGiB: number;
  kernel: string;
  bunVersion: string;
  date: string;
  pinned: boolean;
}

export function describeMachine(): Machine {
  const cpuinfo = readFileSync("/proc/cpuinfo", "utf8");
  const meminfo = readFileSync("/proc/meminfo", "utf8");
  const memKiB = Number(/^MemTotal:\s+(\d+) kB$/m.exec(meminfo)?.[1] ?? NaN);
  return {
    cores: availableParallelism(),
    cpuModel: /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.trim() ?? "unknown",
    memoryGiB: memKiB / 1024 / 1024,
    kernel: release(),
    // The bench runs under the pinned bun, and dist/relay is compiled by the same one.
    bunVersion: Bun.version,
    date: new Date().toISOString().replace(/\.\d+Z$/, "Z"),
    pinned: TASKSET !== null,
  };
}
