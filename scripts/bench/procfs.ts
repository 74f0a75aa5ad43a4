/**
 * Readings from Linux /proc about another process: CPU time, resident memory, and whether a port
 * is listening. Reading /proc touches nothing in the server, so sampling does not disturb it (an
 * HTTP probe or a TCP connect would allocate in the very process being measured).
 */
import { spawnSync } from "bun";
import { readFileSync } from "node:fs";
import type { Memory } from "./types.ts";

let clockTicks: number | null = null;

/** Clock ticks per second for /proc/PID/stat times (CLK_TCK, 100 on Linux x86-64). */
export function clkTck(): number {
  if (clockTicks === null) {
    const out = spawnSync(["getconf", "CLK_TCK"], { stdout: "pipe", stderr: "ignore" });
    const n = Number(out.stdout?.toString().trim());
    clockTicks = Number.isFinite(n) && n > 0 ? n : 100;
  }
  return clockTicks;
}

/** User + system CPU seconds a process has used so far, over all its threads. */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // The command name (field 2) is in parentheses and may hold spaces: count fields after the last ")".
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // fields[0] is field 3 (state), so utime (field 14) is fields[11] and stime (field 15) fields[12].
  const ticks = Number(fields[11]) + Number(fields[12]);
  if (!Number.isFinite(ticks)) throw new Error(`cannot read CPU time from /proc/${pid}/stat`);
  return ticks / clkTck();
}

/** VmRSS and RssAnon of a process. */
export function memory(pid: number): Memory {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kib = (key: string): number => {
    const m = new RegExp(`^${key}:\\s+(\\d+) kB$`, "m").exec(status);
    if (!m) throw new Error(`no ${key} in /proc/${pid}/status`);
    return Number(m[1]) * 1024;
  };
  return { rssBytes: kib("VmRSS"), rssAnonBytes: kib("RssAnon") };
}

/** Time a core spent, in seconds, split by who used it. */
export interface CoreTime {
  /** user + nice + system: processes, ours and anyone else's. */
  processes: number;
  /** irq + softirq: interrupt work, much of it loopback TCP for our own sockets. */
  irq: number;
  /** Taken by the hypervisor for other guests. */
  steal: number;
  total: number;
}

/** Every core's times so far (index = core number), from /proc/stat. */
export function coreTimes(): CoreTime[] {
  const out: CoreTime[] = [];
  for (const line of readFileSync("/proc/stat", "utf8").split("\n")) {
    const m = /^cpu(\d+) (.*)$/.exec(line);
    if (!m) continue;
    // user nice system idle iowait irq softirq steal (guest time is already inside user).
    const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = m[2]!.trim().split(/\s+/).map(Number);
    const t = clkTck();
    out[Number(m[1])] = {
      processes: (user + nice + system) / t,
      irq: (irq + softirq) / t,
      steal: steal / t,
      total: (user + nice + system + idle + iowait + irq + softirq + steal) / t,
    };
  }
  return out;
}

/** True when some socket listens on 127.0.0.1:port (IPv4), per /proc/net/tcp. */
export function isListening(port: number): boolean {
  const want = `0100007F:${port.toString(16).toUpperCase().padStart(4, "0")}`;
  for (const line of readFileSync("/proc/net/tcp", "utf8").split("\n")) {
    const cols = line.trim().split(/\s+/);
    // cols: sl, local_address, rem_address, st, ...; state 0A is LISTEN.
    if (cols[1] === want && cols[3] === "0A") return true;
  }
  return false;
}
