/**
 * Every child process of the bench: started pinned to a core with a raised fd limit, tracked by
 * PID, and killed when the bench ends, however it ends (normal exit, error, Ctrl-C).
 *
 * Pinning (see CORES in plan.ts) keeps the server and the generator from stealing each other's
 * cycles. `taskset` and `sh` both exec, so the PID we hold is the server's own.
 */
import type { Subprocess } from "bun";

/** Whether taskset exists; without it the bench still runs, unpinned, and says so. */
export const TASKSET = Bun.which("taskset");

/**
 * Raises the fd limit before exec: 5,000 connections need 5,000 fds on each side. 65536 is asked
 * for; where the container forbids raising the hard limit, the soft limit is raised to it.
 */
const FD_LIMIT_SH = 'ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"; exec "$@"';

const live = new Set<Subprocess>();

export interface SpawnOptions {
  /** CPU core to pin to. */
  core: number;
  /** Where the child's stdout goes: a pipe to read, or our stderr (fd 2) so our stdout stays clean. */
  stdout: "pipe" | 2;
  stderr: "pipe" | 2;
}

/** Starts `cmd` pinned to a core, with a raised fd limit, and tracks it until it exits. */
export function spawnPinned(cmd: string[], opts: SpawnOptions): Subprocess<"ignore", "pipe" | number, "pipe" | number> {
  const pin = TASKSET ? [TASKSET, "-c", String(opts.core)] : [];
  const proc = Bun.spawn([...pin, "sh", "-c", FD_LIMIT_SH, "sh", ...cmd], {
    stdin: "ignore",
    stdout: opts.stdout,
    stderr: opts.stderr,
  });
  live.add(proc);
  void proc.exited.then(() => live.delete(proc));
  return proc;
}

/** Stops a child: SIGTERM, then SIGKILL if it has not exited after `graceMs`. */
export async function stop(proc: Subprocess, graceMs = 3000): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  proc.kill("SIGTERM");
  const exited = await Promise.race([proc.exited.then(() => true), Bun.sleep(graceMs).then(() => false)]);
  if (!exited) {
    proc.kill("SIGKILL");
    await proc.exited;
  }
}

/** Stops every child still running. */
export async function stopAll(): Promise<void> {
  await Promise.all([...live].map((p) => stop(p)));
}

/** Last resort, synchronous (for process exit and signals): SIGKILL every child still running. */
function killAllNow(): void {
  for (const p of live) {
    try {
      p.kill("SIGKILL");
    } catch {
      // Already gone.
    }
  }
}

process.on("exit", killAllNow);
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
  process.on(signal, () => {
    process.stderr.write(`\nbench: ${signal}, killing ${live.size} child process(es)\n`);
    killAllNow();
    process.exit(130);
  });
}
