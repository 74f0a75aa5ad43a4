import type { ConsolaInstance } from "consola/core";
import { answerIsAuthentic, CommandVerifier, signAnswer, signCommand, type SignedCommand } from "./admin-auth.ts";

/**
 * Network-wide administration over the mesh (issue 5): a command or query goes to its target
 * node(s) as signed `rpc` calls, which the mesh routes hop by hop along shortest paths; a survey
 * sends one to every live member and collects answers until all answered or the timeout passed,
 * naming who did not. The operator's HTTP edge (admin-http.ts) sits in front of this.
 */

/** What a node does for one admin command; may throw an AdminFailure. */
export type AdminHandler = (args: Record<string, unknown>) => unknown | Promise<unknown>;

/** A command's outcome at one node. */
export type AdminOutcome = { ok: true; data: unknown } | { ok: false; code: string; message: string };

/** Every live member's outcome, and who did not answer in time. */
export interface SurveyResult {
  /** True when some member did not answer. */
  partial: boolean;
  /** Members that did not answer within the timeout. */
  missing: string[];
  /** Outcome per member that answered. */
  nodes: Record<string, AdminOutcome>;
  /** How long the survey took, ms. */
  tookMs: number;
}

/** A refusal with a stable code, thrown by handlers (unknown client, bad level, ...). */
export class AdminFailure extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export interface AdminDeps {
  self: string;
  log: ConsolaInstance;
  /** Wall-clock ms (commands carry expiries other nodes check). */
  now: () => number;
  /** The key commands are signed with (from the cluster key); null on a node without one, which can only administer itself. */
  key: Buffer | null;
  /** Live members, this node included. */
  members: () => string[];
  /** Sends an rpc or rpcReply call to a node over the mesh. */
  call: (to: string, req: number, kind: "rpc" | "rpcReply", body: string) => void;
  handlers: Record<string, AdminHandler>;
  /** Counted in /metrics. */
  counters: { commands: Map<string, number>; refused: Map<string, number> };
}

type Wire = { t: "cmd"; command: SignedCommand } | { t: "ans"; answer: { id: string; from: string; result: AdminOutcome; mac: string } };

export class Admin {
  private readonly verifier: CommandVerifier | null;
  private readonly pending = new Map<number, { id: string; target: string; resolve: (o: AdminOutcome) => void }>();
  private nextReq = 1;

  constructor(private readonly deps: AdminDeps) {
    this.verifier = deps.key ? new CommandVerifier(deps.key, deps.self) : null;
  }

  /**
   * Runs `cmd` on `targets` (default: every live member) and gathers the outcomes. Resolves when
   * every target answered or `timeoutMs` passed; `onProgress` hears each answer.
   */
  async survey(cmd: string, args: Record<string, unknown>, timeoutMs: number, targets: string[] = this.deps.members(), onProgress?: (answered: number, total: number) => void): Promise<SurveyResult> {
    const started = this.deps.now();
    const nodes: Record<string, AdminOutcome> = {};
    let answered = 0;
    await Promise.all(
      targets.map(async (target) => {
        const outcome = await this.command(target, cmd, args, timeoutMs);
        if (outcome === null) return;
        nodes[target] = outcome;
        onProgress?.(++answered, targets.length);
      }),
    );
    const missing = targets.filter((t) => !(t in nodes)).sort();
    return { partial: missing.length > 0, missing, nodes, tookMs: Math.round(this.deps.now() - started) };
  }

  /** Runs `cmd` on one node; null when no answer came within `timeoutMs`. */
  command(target: string, cmd: string, args: Record<string, unknown>, timeoutMs: number): Promise<AdminOutcome | null> {
    this.count(this.deps.counters.commands, cmd);
    if (target === this.deps.self) return this.run(cmd, args);
    if (!this.deps.key) return Promise.resolve({ ok: false, code: "unknown_node", message: `${target} is not reachable: this node has no cluster key` });
    const command = signCommand(this.deps.key, this.deps.self, target, cmd, args, this.deps.now());
    const req = this.nextReq++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.pending.delete(req);
        resolve(null);
      }, timeoutMs);
      this.pending.set(req, {
        id: command.id,
        target,
        resolve: (o) => {
          clearTimeout(timer);
          resolve(o);
        },
      });
      this.deps.call(target, req, "rpc", JSON.stringify({ t: "cmd", command } satisfies Wire));
    });
  }

  /** An rpc call from the mesh: a command to carry out, or the answer to one of ours. */
  onCalled(from: string, req: number, kind: "rpc" | "rpcReply", body: string): void {
    let wire: Wire;
    try {
      wire = JSON.parse(body) as Wire;
    } catch {
      return void this.deps.log.warn(`admin: unreadable ${kind} from ${from}`);
    }
    if (kind === "rpcReply") return this.onAnswer(from, req, wire);
    if (wire?.t !== "cmd" || typeof wire.command !== "object" || wire.command === null) return void this.deps.log.warn(`admin: malformed command from ${from}`);
    void this.onCommand(from, req, wire.command);
  }

  private onAnswer(from: string, req: number, wire: Wire): void {
    const waiting = this.pending.get(req);
    if (!waiting || wire?.t !== "ans" || !this.deps.key) return;
    const a = wire.answer;
    if (typeof a !== "object" || a === null || a.id !== waiting.id || a.from !== waiting.target || from !== waiting.target || !answerIsAuthentic(this.deps.key, a)) {
      return void this.deps.log.warn(`admin: refused a forged or mismatched answer from ${from}`);
    }
    this.pending.delete(req);
    waiting.resolve(a.result);
  }

  private async onCommand(from: string, req: number, command: SignedCommand): Promise<void> {
    if (!this.verifier || !this.deps.key) return;
    const check = this.verifier.verify(command, this.deps.now());
    let result: AdminOutcome;
    if (!check.ok) {
      this.count(this.deps.counters.refused, check.code);
      this.deps.log.warn(`admin: refused a command from ${from}: ${check.code}: ${check.message}`);
      result = { ok: false, code: check.code, message: check.message };
    } else {
      this.deps.log.info(`admin: ${command.cmd} from ${command.origin}`);
      result = await this.run(command.cmd, command.args);
    }
    const answer = signAnswer(this.deps.key, command.id, this.deps.self, result);
    this.deps.call(from, req, "rpcReply", JSON.stringify({ t: "ans", answer } satisfies Wire));
  }

  private async run(cmd: string, args: Record<string, unknown>): Promise<AdminOutcome> {
    const handler = Object.hasOwn(this.deps.handlers, cmd) ? this.deps.handlers[cmd] : undefined;
    if (!handler) return { ok: false, code: "unknown_command", message: `no admin command ${cmd}` };
    try {
      return { ok: true, data: await handler(typeof args === "object" && args !== null ? args : {}) };
    } catch (err) {
      if (err instanceof AdminFailure) return { ok: false, code: err.code, message: err.message };
      this.deps.log.error(`admin: ${cmd} failed`, err);
      return { ok: false, code: "internal", message: "the command failed inside the node" };
    }
  }

  private count(map: Map<string, number>, key: string): void {
    map.set(key, (map.get(key) ?? 0) + 1);
  }
}
