/**
 * The compiled `dist/relay` as a child process, for end-to-end tests: a node on a loopback port
 * the OS picked (read from its start-up log line) that a test stops itself, and one-shot or
 * long-running CLI commands (`relay pub`, `relay sub`).
 *
 * Invariants: every wait has a deadline and waits on a condition, never on a fixed sleep; every
 * child is recorded until it has exited, so `killAll()` in an afterAll can reap what a failed test
 * left behind; children get the test's environment minus any RELAY_* variable, so a developer's
 * shell settings never change what a test sees.
 */
import type { Subprocess } from "bun";
import { waitFor } from "./wait.ts";
import { RELAY_BIN } from "./build.ts";

/** A child whose stdin is closed and whose stdout and stderr are piped to the test. */
type Child = Subprocess<"ignore", "pipe", "pipe">;

/** Children not yet known to have exited; see killAll(). */
const live = new Set<Child>();

/** A line matcher: an exact line, a pattern, or a predicate. */
export type LineMatch = string | RegExp | ((line: string) => boolean);

function matches(line: string, match: LineMatch): boolean {
  if (typeof match === "string") return line === match;
  if (match instanceof RegExp) return match.test(line);
  return match(line);
}

function describeMatch(match: LineMatch): string {
  return typeof match === "function" ? "a line matching the predicate" : JSON.stringify(String(match));
}

/**
 * Reads a child's output stream to its end, keeping all of it, and lets a test wait for a line.
 * Reading starts at construction, so the pipe never fills and blocks the child.
 */
export class LineReader {
  /** Everything read so far. */
  text = "";
  /** Resolves when the stream has ended (the child closed it or exited). */
  readonly ended: Promise<void>;
  private isEnded = false;
  private readonly waiters = new Set<() => void>();

  constructor(stream: ReadableStream<Uint8Array>) {
    this.ended = this.pump(stream);
  }

  /** Complete lines read so far (a trailing partial line is left out until its newline comes). */
  get lines(): string[] {
    const parts = this.text.split("\n");
    parts.pop();
    return parts;
  }

  /**
   * Resolves with the first complete line that matches, already read or still to come.
   * Rejects, with everything read so far, when `timeoutMs` passes or the stream ends first.
   */
  waitForLine(match: LineMatch, timeoutMs = 10_000): Promise<string> {
    return new Promise<string>((resolve, reject) => {
      const check = (): boolean => {
        const found = this.lines.find((line) => matches(line, match));
        if (found !== undefined) {
          finish();
          resolve(found);
          return true;
        }
        if (this.isEnded) {
          finish();
          reject(new Error(`stream ended without ${describeMatch(match)}; it held:\n${this.text}`));
          return true;
        }
        return false;
      };
      const timer = setTimeout(() => {
        finish();
        reject(new Error(`no ${describeMatch(match)} within ${timeoutMs} ms; read so far:\n${this.text}`));
      }, timeoutMs);
      const finish = () => {
        clearTimeout(timer);
        this.waiters.delete(onChange);
      };
      const onChange = () => void check();
      if (!check()) this.waiters.add(onChange);
    });
  }

  private async pump(stream: ReadableStream<Uint8Array>): Promise<void> {
    const decoder = new TextDecoder();
    const reader = stream.getReader();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        this.text += decoder.decode(value, { stream: true });
        this.notify();
      }
      this.text += decoder.decode();
    } catch (err) {
      // A broken pipe ends the stream like EOF; the text says why, for the failure message.
      this.text += `\n[reading the stream failed: ${String(err)}]\n`;
    } finally {
      reader.releaseLock();
      this.isEnded = true;
      this.notify();
    }
  }

  private notify(): void {
    for (const waiter of [...this.waiters]) waiter();
  }
}

/** Resolves with `promise`, or rejects with `message` once `ms` have passed. */
export async function withDeadline<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${message} (deadline ${ms} ms)`)), ms);
  });
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * A loopback port with nothing listening on it, for a test that wants a refused connection: the OS
 * picks it for port 0 and we let it go. Never use it to start a node (another process may take it
 * in between); startRelay() has the node bind port 0 itself and reads back the port it got.
 */
export function unboundPort(): number {
  const listener = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = listener.port;
  listener.stop(true);
  return port;
}

/** The test's environment without RELAY_* variables, plus `extra`. */
function childEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (value !== undefined && !key.startsWith("RELAY_")) env[key] = value;
  }
  return { ...env, ...extra };
}

function spawnRelay(args: string[], env: Record<string, string> = {}): Child {
  const proc = Bun.spawn([RELAY_BIN, ...args], { stdin: "ignore", stdout: "pipe", stderr: "pipe", env: childEnv(env) });
  live.add(proc);
  void proc.exited.then(() => live.delete(proc));
  return proc;
}

/**
 * Sends `signal` (unless the child already exited) and resolves with its exit code.
 * If it has not exited within `timeoutMs`, it is killed with SIGKILL and this rejects.
 */
async function signalAndWait(proc: Child, signal: NodeJS.Signals, timeoutMs: number, label: string): Promise<number> {
  if (proc.exitCode !== null) return proc.exitCode;
  if (proc.signalCode === null) proc.kill(signal);
  try {
    return await withDeadline(proc.exited, timeoutMs, `${label} did not exit after ${signal}`);
  } catch (err) {
    proc.kill("SIGKILL");
    await proc.exited;
    throw err;
  }
}

/** SIGKILLs every child still running and waits for them; for afterAll, after a test failed midway. */
export async function killAll(): Promise<void> {
  const left = [...live];
  for (const proc of left) proc.kill("SIGKILL");
  await Promise.all(left.map((p) => p.exited));
}

/** A running node started by startRelay(). */
export interface RelayProcess {
  /** ws://127.0.0.1:PORT, the address clients use. */
  readonly url: string;
  /** http://127.0.0.1:PORT, for /healthz and the status page. */
  readonly httpUrl: string;
  /** The port the node bound, as its start-up log line reported it. */
  readonly port: number;
  readonly proc: Child;
  readonly stdout: LineReader;
  readonly stderr: LineReader;
  /** Sends `signal` (default SIGTERM) and resolves with the exit code; idempotent. */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<number>;
  /** PEM of the CA to trust for this node's https:// and wss:// (set when it serves TLS; see StartRelayOptions.tlsCa). */
  readonly tlsCa?: string;
}

/** Options for startRelay(). */
export interface StartRelayOptions {
  /**
   * The whole command line. Default: `serve --host 127.0.0.1 --port 0` plus `extraArgs`.
   * Whatever it is, the node must end up on 127.0.0.1, port 0, and log at level info or lower,
   * since the port is read from its start-up line (a config-file test writes `"port": 0`).
   */
  args?: string[];
  /** Appended to the default command line. */
  extraArgs?: string[];
  /** Extra environment variables for the node. */
  env?: Record<string, string>;
  /** How long the node may take to log its port and then answer /healthz (each). */
  startTimeoutMs?: number;
  /**
   * The node serves TLS (its args carry --tls-cert and --tls-key): PEM text of the CA that signed
   * its certificate. `url` and `httpUrl` become wss:// and https://, and /healthz is checked
   * trusting this CA (and only it).
   */
  tlsCa?: string;
}

/**
 * The node's start-up line on stderr, for example
 * `2026-11-30T00:07:04.704Z INFO  [relay] node NAME listening on 127.0.0.1:PORT; dashboard at ...`.
 */
const LISTENING = /listening on 127\.0\.0\.1:(\d+)/;

/**
 * Starts `dist/relay` on port 0 of 127.0.0.1, reads the port the OS gave it from its start-up log
 * line, and resolves once GET /healthz there answers 200. Binding port 0 in the node itself leaves
 * no window for another process to take the port first.
 */
export async function startRelay(opts: StartRelayOptions = {}): Promise<RelayProcess> {
  const args = opts.args ?? ["serve", "--host", "127.0.0.1", "--port", "0", ...(opts.extraArgs ?? [])];
  const timeoutMs = opts.startTimeoutMs ?? 10_000;
  const proc = spawnRelay(args, opts.env);
  const stdout = new LineReader(proc.stdout);
  const stderr = new LineReader(proc.stderr);
  let port: number;
  let httpUrl: string;
  try {
    // Rejects at the deadline, or as soon as stderr ends (the node exited without listening).
    const line = await stderr.waitForLine(LISTENING, timeoutMs);
    port = Number(LISTENING.exec(line)![1]);
    if (!(port > 0 && port < 65536)) throw new Error(`the start-up line names no usable port: ${JSON.stringify(line)}`);
    httpUrl = `${opts.tlsCa === undefined ? "http" : "https"}://127.0.0.1:${port}`;
    await waitHealthy(httpUrl, proc, timeoutMs, opts.tlsCa);
  } catch (err) {
    await signalAndWait(proc, "SIGKILL", 5_000, "relay").catch(() => undefined);
    await withDeadline(stderr.ended, 5_000, "relay stderr did not close").catch(() => undefined);
    throw new Error(`relay ${args.join(" ")} did not start: ${(err as Error).message}\nrelay stderr:\n${stderr.text}`);
  }
  return {
    url: `${opts.tlsCa === undefined ? "ws" : "wss"}://127.0.0.1:${port}`,
    httpUrl,
    port,
    proc,
    stdout,
    stderr,
    stop: (signal = "SIGTERM", timeoutMs = 10_000) => signalAndWait(proc, signal, timeoutMs, "relay node"),
    ...(opts.tlsCa === undefined ? {} : { tlsCa: opts.tlsCa }),
  };
}

/** Polls GET /healthz until it answers 200, failing early if the process exits; `tlsCa` (PEM) is trusted for https://. */
async function waitHealthy(httpUrl: string, proc: Child, timeoutMs: number, tlsCa?: string): Promise<void> {
  await waitFor(
    async () => {
      if (proc.exitCode !== null || proc.signalCode !== null) throw new Error(`relay exited (${proc.exitCode ?? proc.signalCode}) before /healthz answered`);
      try {
        const res = await fetch(`${httpUrl}/healthz`, { signal: AbortSignal.timeout(1_000), ...(tlsCa === undefined ? {} : { tls: { ca: tlsCa } }) });
        return res.status === 200;
      } catch {
        return false;
      }
    },
    `GET ${httpUrl}/healthz answering 200`,
    timeoutMs,
  );
}

/** The outcome of a finished CLI command. */
export interface CliResult {
  /** The exit code, or null when it was killed at the deadline. */
  code: number | null;
  stdout: string;
  stderr: string;
  /** Wall time from spawn to exit. */
  ms: number;
  timedOut: boolean;
}

/** Runs `dist/relay ARGS...` to completion (SIGKILL at the deadline) and captures its output. */
export async function runCli(args: string[], opts: { env?: Record<string, string>; timeoutMs?: number } = {}): Promise<CliResult> {
  const started = performance.now();
  const proc = spawnRelay(args, opts.env);
  const stdout = new Response(proc.stdout).text();
  const stderr = new Response(proc.stderr).text();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    proc.kill("SIGKILL");
  }, opts.timeoutMs ?? 15_000);
  const code = await proc.exited;
  const ms = performance.now() - started;
  clearTimeout(timer);
  return { code: timedOut ? null : code, stdout: await stdout, stderr: await stderr, ms, timedOut };
}

/** A long-running CLI command, such as `relay sub`. */
export interface CliProcess {
  readonly proc: Child;
  readonly stdout: LineReader;
  readonly stderr: LineReader;
  /** Resolves with the exit code once it exits by itself; rejects at the deadline (and kills it). */
  waitExit(timeoutMs?: number): Promise<number>;
  /** Sends `signal` (default SIGTERM) unless it already exited, and resolves with the exit code. */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<number>;
}

/** Starts `dist/relay ARGS...` in the background; the test must stop it or wait for its exit. */
export function startCli(args: string[], opts: { env?: Record<string, string> } = {}): CliProcess {
  const proc = spawnRelay(args, opts.env);
  const stdout = new LineReader(proc.stdout);
  const stderr = new LineReader(proc.stderr);
  const label = `relay ${args[0] ?? ""}`.trim();
  return {
    proc,
    stdout,
    stderr,
    async waitExit(timeoutMs = 10_000) {
      try {
        const code = await withDeadline(proc.exited, timeoutMs, `${label} did not exit`);
        await Promise.all([stdout.ended, stderr.ended]);
        return code;
      } catch (err) {
        proc.kill("SIGKILL");
        await proc.exited;
        throw new Error(`${(err as Error).message}\nstdout:\n${stdout.text}\nstderr:\n${stderr.text}`);
      }
    },
    stop: (signal = "SIGTERM", timeoutMs = 10_000) => signalAndWait(proc, signal, timeoutMs, label),
  };
}

/** Waits for a line on a child's stderr; rejects with what it printed if the deadline passes or it exits first. */
export function waitForStderrLine(child: { stderr: LineReader }, match: LineMatch, timeoutMs = 10_000): Promise<string> {
  return child.stderr.waitForLine(match, timeoutMs);
}
