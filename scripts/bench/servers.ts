/**
 * Starting one server under test: on a free port, pinned to the server core, ready once its port
 * is listening (read from /proc, so nothing connects to it before the bench does). What to start
 * is the system's business (systems.ts); this file only runs it and stops it by PID.
 */
import type { Subprocess } from "bun";
import { join } from "node:path";
import { CORES } from "./plan.ts";
import { freePort } from "./ports.ts";
import { isListening } from "./procfs.ts";
import { spawnPinned, stop } from "./processes.ts";

export const ROOT = join(import.meta.dir, "..", "..");
export const RELAY_BIN = join(ROOT, "dist", "relay");
const READY_TIMEOUT_MS = 15_000;
/** Server stderr kept per run, for the report: enough for warnings, bounded for chatty servers. */
const MAX_STDERR_CHARS = 64 * 1024;

/** What startServer needs of a system. */
export interface Startable {
  label: string;
  /** The command that makes it listen for WebSocket clients on 127.0.0.1:port. */
  command(port: number): string[];
}

export interface RunningServer {
  pid: number;
  port: number;
  /** Whatever the server wrote to stderr so far (Relay logs warnings such as slow-consumer cuts there). */
  stderr(): string;
  stop(): Promise<void>;
}

/** Starts a server and resolves once it listens; throws with its stderr if it exits or never listens. */
export async function startServer(system: Startable, core: number = CORES.server): Promise<RunningServer> {
  const port = freePort();
  const proc = spawnPinned(system.command(port), { core, stdout: 2, stderr: "pipe" });
  let errText = "";
  void collect(proc, (text) => {
    if (errText.length < MAX_STDERR_CHARS) errText += text;
  });
  const deadline = performance.now() + READY_TIMEOUT_MS;
  while (!isListening(port)) {
    if (proc.exitCode !== null || proc.signalCode !== null) {
      throw new Error(`${system.label} exited (${proc.exitCode ?? proc.signalCode}) before listening on ${port}: ${errText.trim()}`);
    }
    if (performance.now() > deadline) {
      await stop(proc);
      throw new Error(`${system.label} did not listen on ${port} within ${READY_TIMEOUT_MS} ms: ${errText.trim()}`);
    }
    await Bun.sleep(10);
  }
  return { pid: proc.pid, port, stderr: () => errText, stop: () => stop(proc) };
}

/** Reads a child's stderr as it comes, so the pipe never fills and blocks the server. */
async function collect(proc: Subprocess<"ignore", "pipe" | number, "pipe" | number>, sink: (text: string) => void): Promise<void> {
  const stream = proc.stderr;
  if (!(stream instanceof ReadableStream)) return;
  const decoder = new TextDecoder();
  const reader = stream.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return;
    sink(decoder.decode(value, { stream: true }));
  }
}
