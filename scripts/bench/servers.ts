/**
 * The two systems under test and how to start one: on a free port, pinned to core 0, ready once
 * its port is listening (read from /proc, so nothing connects to it before the bench does).
 */
import type { Subprocess } from "bun";
import { join } from "node:path";
import { CORES } from "./plan.ts";
import { isListening } from "./procfs.ts";
import { spawnPinned, stop } from "./processes.ts";

export const ROOT = join(import.meta.dir, "..", "..");
export const RELAY_BIN = join(ROOT, "dist", "relay");
const RAW_SERVER = join(import.meta.dir, "raw-bun-server.ts");
const READY_TIMEOUT_MS = 15_000;

export type SystemKey = "relay" | "raw";

export interface System {
  key: SystemKey;
  /** Name in tables. */
  label: string;
  command(port: number): string[];
}

/**
 * Relay, the compiled binary, with its per-connection limits raised so its own rate limiting does
 * not cap the figures (the defaults allow 1,000 publishes/s per connection).
 */
export const RELAY: System = {
  key: "relay",
  label: "Relay",
  command: (port) => [
    RELAY_BIN,
    "--port", String(port),
    "--host", "127.0.0.1",
    "--log-level", "warn",
    "--publish-rate", "10000000",
    "--publish-burst", "10000000",
    "--max-connections", "1000000",
    "--max-subscriptions", "100000",
  ],
};

/** The ~30-line Bun.serve pub/sub server: the ceiling for our stack. */
export const RAW_BUN: System = {
  key: "raw",
  label: "raw Bun",
  command: (port) => [process.execPath, RAW_SERVER, "--port", String(port)],
};

export interface RunningServer {
  system: System;
  pid: number;
  port: number;
  /** Whatever the server wrote to stderr so far (Relay logs warnings such as slow-consumer cuts there). */
  stderr(): string;
  stop(): Promise<void>;
}

/** A port free right now on 127.0.0.1: bind port 0, read what the kernel gave, release it. */
function freePort(): number {
  const probe = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = probe.port;
  probe.stop(true);
  return port;
}

/** Starts a server and resolves once it listens; throws with its stderr if it exits or never listens. */
export async function startServer(system: System): Promise<RunningServer> {
  const port = freePort();
  const proc = spawnPinned(system.command(port), { core: CORES.server, stdout: 2, stderr: "pipe" });
  let errText = "";
  void collect(proc, (text) => (errText += text));
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
  return { system, pid: proc.pid, port, stderr: () => errText, stop: () => stop(proc) };
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
