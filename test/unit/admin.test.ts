import { describe, expect, test } from "bun:test";
import { createConsola, type ConsolaInstance, type LogObject } from "consola/core";
import {
  answerIsAuthentic,
  bearerToken,
  COMMAND_TTL_MS,
  CommandVerifier,
  commandKey,
  signAnswer,
  signCommand,
  tokenMatches,
  type SignedCommand,
} from "../../src/node/admin-auth.ts";
import { Admin, AdminFailure, type AdminHandler, type AdminOutcome } from "../../src/node/admin.ts";

/**
 * The admin feature's pure parts (src/node/admin-auth.ts) and the survey logic of
 * src/node/admin.ts over an in-memory "mesh": each Admin's `call` hands the frame to another
 * Admin instance on a later turn of the event loop, as a network would. Clocks are passed in
 * where the code takes them, so expiry and replay windows are tested without waiting.
 */

const KEY = commandKey("unit-test-cluster-key-0123456789");
const OTHER_KEY = commandKey("another-cluster-key-0123456789");
/** What src/node/admin-auth.ts tolerates of clock skew (not exported; the tests pin the rule). */
const MAX_SKEW_MS = 30_000;
/** Its replay window bound (not exported either). */
const REPLAY_WINDOW_SIZE = 100_000;
const T0 = 1_700_000_000_000;

describe("tokenMatches and bearerToken", () => {
  const token = "admin-token-0123456789";

  test("only the exact token matches", () => {
    expect(tokenMatches(token, token)).toBe(true);
    expect(tokenMatches(null, token)).toBe(false);
    expect(tokenMatches("", token)).toBe(false);
    expect(tokenMatches(token.slice(0, -1), token)).toBe(false);
    expect(tokenMatches(`${token}x`, token)).toBe(false);
    expect(tokenMatches(token.toUpperCase(), token)).toBe(false);
  });

  test("bearerToken reads `Bearer <token>` and nothing else", () => {
    expect(bearerToken(`Bearer ${token}`)).toBe(token);
    // The scheme is case-insensitive (RFC 7235) and trailing blanks are tolerated.
    expect(bearerToken(`bearer ${token}`)).toBe(token);
    expect(bearerToken(`BEARER   ${token}  `)).toBe(token);
    expect(bearerToken(null)).toBeNull();
    expect(bearerToken("")).toBeNull();
    expect(bearerToken("Bearer")).toBeNull();
    expect(bearerToken("Bearer ")).toBeNull();
    expect(bearerToken(`Basic ${token}`)).toBeNull();
    expect(bearerToken(`Bearer ${token} extra`)).toBeNull();
    expect(bearerToken(`xBearer ${token}`)).toBeNull();
  });
});

describe("signed commands", () => {
  const sign = (now = T0, target = "node-b", nonce?: string) => signCommand(KEY, "node-a", target, "loglevel", { level: "debug" }, now, nonce);

  test("a well-signed command for this node is accepted, and carries a fresh nonce and an expiry", () => {
    const c = sign();
    expect(c).toMatchObject({ v: 1, origin: "node-a", target: "node-b", cmd: "loglevel", args: { level: "debug" }, expires: T0 + COMMAND_TTL_MS });
    expect(c.id).toMatch(/^[0-9a-f]{32}$/);
    expect(c.mac).toMatch(/^[0-9a-f]{64}$/);
    expect(sign().id).not.toBe(c.id);
    expect(new CommandVerifier(KEY, "node-b").verify(c, T0)).toEqual({ ok: true });
    // It survives the trip as JSON, which is how it travels.
    expect(new CommandVerifier(KEY, "node-b").verify(JSON.parse(JSON.stringify(c)) as SignedCommand, T0)).toEqual({ ok: true });
  });

  test("changing any field breaks the signature", () => {
    const c = sign();
    const tampered: [string, SignedCommand][] = [
      ["v", { ...c, v: 2 as 1 }],
      ["id", { ...c, id: "0".repeat(32) }],
      ["origin", { ...c, origin: "node-x" }],
      // A command re-addressed to another node: the MAC, checked first, already refuses it.
      ["target", { ...c, target: "node-c" }],
      ["cmd", { ...c, cmd: "drain" }],
      ["args", { ...c, args: { level: "trace" } }],
      ["args (extra key)", { ...c, args: { level: "debug", more: 1 } }],
      ["expires", { ...c, expires: c.expires + 1 }],
      ["mac (one digit)", { ...c, mac: (c.mac[0] === "0" ? "1" : "0") + c.mac.slice(1) }],
      ["mac (upper case)", { ...c, mac: c.mac.toUpperCase() }],
      ["mac (short)", { ...c, mac: c.mac.slice(2) }],
      ["mac (missing)", { ...c, mac: undefined as unknown as string }],
    ];
    for (const [field, t] of tampered) {
      // A fresh verifier each time, so only the signature can be the reason.
      const verifier = new CommandVerifier(KEY, t.target === "node-c" ? "node-c" : "node-b");
      const result = verifier.verify(t, T0);
      expect({ field, result: result.ok ? "ok" : result.code }).toEqual({ field, result: "bad_signature" });
    }
    // Signed with another cluster's key.
    expect(new CommandVerifier(OTHER_KEY, "node-b").verify(c, T0)).toMatchObject({ ok: false, code: "bad_signature" });
  });

  test("a command for another node is refused as wrong_target", () => {
    const c = sign(T0, "node-c");
    const result = new CommandVerifier(KEY, "node-b").verify(c, T0);
    expect(result).toMatchObject({ ok: false, code: "wrong_target" });
    expect((result as { message: string }).message).toContain("node-c");
  });

  test("a command is taken until its expiry and refused from then on", () => {
    const c = sign();
    expect(new CommandVerifier(KEY, "node-b").verify(c, T0 + COMMAND_TTL_MS - 1)).toEqual({ ok: true });
    expect(new CommandVerifier(KEY, "node-b").verify(c, T0 + COMMAND_TTL_MS)).toMatchObject({ ok: false, code: "expired" });
    expect(new CommandVerifier(KEY, "node-b").verify(c, T0 + 10 * COMMAND_TTL_MS)).toMatchObject({ ok: false, code: "expired" });
  });

  test("a command stamped up to the tolerated skew ahead is taken; further ahead it is refused", () => {
    const verifier = new CommandVerifier(KEY, "node-b");
    expect(verifier.verify(sign(T0 + MAX_SKEW_MS), T0)).toEqual({ ok: true });
    expect(verifier.verify(sign(T0 + MAX_SKEW_MS + 1), T0)).toMatchObject({ ok: false, code: "expired" });
    expect(verifier.verify(sign(T0 + 3_600_000), T0)).toMatchObject({ ok: false, code: "expired" });
  });
});

describe("the replay window", () => {
  test("the same command twice: the second is refused as replayed, even later within its lifetime", () => {
    const verifier = new CommandVerifier(KEY, "node-b");
    const c = signCommand(KEY, "node-a", "node-b", "stats", {}, T0);
    expect(verifier.verify(c, T0)).toEqual({ ok: true });
    expect(verifier.verify(c, T0)).toMatchObject({ ok: false, code: "replayed" });
    expect(verifier.verify(c, T0 + COMMAND_TTL_MS - 1)).toMatchObject({ ok: false, code: "replayed" });
    // Another nonce from the same origin is a new command.
    expect(verifier.verify(signCommand(KEY, "node-a", "node-b", "stats", {}, T0), T0)).toEqual({ ok: true });
  });

  test("a refused forgery does not use up the nonce of the real command", () => {
    const verifier = new CommandVerifier(KEY, "node-b");
    const c = signCommand(KEY, "node-a", "node-b", "stats", {}, T0);
    // Otherwise anyone who saw the nonce in flight could block the command with a bad MAC.
    expect(verifier.verify({ ...c, cmd: "drain" }, T0)).toMatchObject({ ok: false, code: "bad_signature" });
    expect(verifier.verify(c, T0)).toEqual({ ok: true });
  });

  test("after its expiry a command's nonce is forgotten, and the expiry check alone refuses a replay", () => {
    const verifier = new CommandVerifier(KEY, "node-b");
    const first = signCommand(KEY, "node-a", "node-b", "stats", {}, T0, "aa".repeat(16));
    expect(verifier.verify(first, T0)).toEqual({ ok: true });
    expect(verifier.verify(first, T0 + COMMAND_TTL_MS)).toMatchObject({ ok: false, code: "expired" });
    // The nonce is no longer remembered: the same nonce, signed afresh (only a key holder can), is taken.
    const again = signCommand(KEY, "node-a", "node-b", "stats", {}, T0 + COMMAND_TTL_MS, "aa".repeat(16));
    expect(verifier.verify(again, T0 + COMMAND_TTL_MS)).toEqual({ ok: true });
  });

  describe(`the window holds at most ${REPLAY_WINDOW_SIZE} nonces`, () => {
    /*
     * One verifier filled to its bound once (about a second of HMACs), then probed at three
     * times, in order. Its first entry is a command stamped MAX_SKEW_MS ahead (a node whose clock
     * runs ahead, within the tolerated skew), so it expires MAX_SKEW_MS after all the others.
     */
    const verifier = new CommandVerifier(KEY, "node-b");
    const fresh = (now: number) => signCommand(KEY, "node-a", "node-b", "stats", {}, now);
    let filled = false;
    const fill = () => {
      if (filled) return;
      filled = true;
      expect(verifier.verify(fresh(T0 + MAX_SKEW_MS), T0)).toEqual({ ok: true });
      for (let i = 1; i < REPLAY_WINDOW_SIZE; i++) {
        const result = verifier.verify(signCommand(KEY, "node-a", "node-b", "stats", {}, T0, i.toString(16).padStart(32, "0")), T0);
        if (!result.ok) throw new Error(`command ${i} of the fill was refused: ${result.code}`);
      }
    };

    test("full: a new command is refused until the window drains", () => {
      fill();
      const result = verifier.verify(fresh(T0), T0);
      expect(result).toMatchObject({ ok: false, code: "replayed" });
      expect((result as { message: string }).message).toContain("too many commands in flight");
    }, 10_000);

    // A purge that stops at the first live entry in insertion order would keep every expired
    // nonce behind the skewed one, and the window would stay "full" after all but one of its
    // commands expired (it did at HEAD when this test was written).
    test("once all but one of its commands expired, a new command is taken again", () => {
      fill();
      expect(verifier.verify(fresh(T0 + COMMAND_TTL_MS), T0 + COMMAND_TTL_MS)).toEqual({ ok: true });
    }, 10_000);

    test("once every command in it expired, a new command is taken and an old one is refused as expired", () => {
      fill();
      const later = T0 + COMMAND_TTL_MS + MAX_SKEW_MS;
      expect(verifier.verify(fresh(later), later)).toEqual({ ok: true });
      const old = signCommand(KEY, "node-a", "node-b", "stats", {}, T0, (5).toString(16).padStart(32, "0"));
      expect(verifier.verify(old, later)).toMatchObject({ ok: false, code: "expired" });
    }, 10_000);
  });
});

describe("signed answers", () => {
  test("an answer is authentic only as signed, by the cluster key", () => {
    const result: AdminOutcome = { ok: true, data: { connections: 3 } };
    const a = signAnswer(KEY, "c0ffee", "node-b", result);
    expect(answerIsAuthentic(KEY, a)).toBe(true);
    expect(answerIsAuthentic(KEY, JSON.parse(JSON.stringify(a)) as typeof a)).toBe(true);
    expect(answerIsAuthentic(OTHER_KEY, a)).toBe(false);
    expect(answerIsAuthentic(KEY, { ...a, result: { ok: true, data: { connections: 4 } } })).toBe(false);
    expect(answerIsAuthentic(KEY, { ...a, from: "node-c" })).toBe(false);
    expect(answerIsAuthentic(KEY, { ...a, id: "c0ffef" })).toBe(false);
    expect(answerIsAuthentic(KEY, { ...a, mac: a.mac.toUpperCase() })).toBe(false);
    expect(answerIsAuthentic(KEY, { ...a, mac: a.mac.slice(2) })).toBe(false);
    expect(answerIsAuthentic(KEY, { ...a, mac: 42 as unknown as string })).toBe(false);
    // A command's MAC is not an answer's: the two texts signed never coincide.
    const c = signCommand(KEY, "node-a", "node-b", "stats", {}, T0);
    expect(answerIsAuthentic(KEY, { id: c.id, from: "node-b", result, mac: c.mac })).toBe(false);
  });
});

// ---- surveys over an in-memory mesh ----

/** A logger that records warnings and errors, for checking what a node said. */
function recordingLog(): { log: ConsolaInstance; lines: string[] } {
  const lines: string[] = [];
  const log = createConsola({ level: 5, reporters: [{ log: (r: LogObject) => void lines.push(`${r.type}: ${r.args.map(String).join(" ")}`) }] });
  return { log, lines };
}

type Wire = { t: "cmd"; command: SignedCommand } | { t: "ans"; answer: { id: string; from: string; result: AdminOutcome; mac: string } };

interface MeshOptions {
  /** Frames to these nodes are dropped: they never hear a command, so never answer. */
  silent?: string[];
  /** Sees every frame and may rewrite it (return the new body) or drop it (return null). */
  tamper?: (from: string, to: string, req: number, kind: "rpc" | "rpcReply", body: string) => string | null;
  /** Per node key; default KEY for all. */
  keys?: Record<string, Buffer | null>;
  handlers?: (self: string) => Record<string, AdminHandler>;
}

/** Admins named `names` that call each other through setTimeout(0), like a network that takes a turn. */
function inMemoryMesh(names: string[], opts: MeshOptions = {}) {
  const admins = new Map<string, Admin>();
  const logs = new Map<string, string[]>();
  const counters = new Map<string, { commands: Map<string, number>; refused: Map<string, number> }>();
  const silent = new Set(opts.silent ?? []);
  for (const self of names) {
    const { log, lines } = recordingLog();
    logs.set(self, lines);
    const c = { commands: new Map<string, number>(), refused: new Map<string, number>() };
    counters.set(self, c);
    admins.set(
      self,
      new Admin({
        self,
        log,
        now: () => Date.now(),
        key: opts.keys && self in opts.keys ? opts.keys[self]! : KEY,
        members: () => [...names],
        call: (to, req, kind, body) => {
          setTimeout(() => {
            if (silent.has(to)) return;
            const out = opts.tamper ? opts.tamper(self, to, req, kind, body) : body;
            if (out !== null) admins.get(to)?.onCalled(self, req, kind, out);
          }, 0);
        },
        handlers: opts.handlers?.(self) ?? {
          stats: () => ({ node: self, connections: names.indexOf(self) }),
          fails: () => {
            throw new AdminFailure("unknown_client", `no client here on ${self}`);
          },
          crashes: () => {
            throw new Error("boom");
          },
          slow: async () => {
            await new Promise((r) => setTimeout(r, 10));
            return "late";
          },
        },
        counters: c,
      }),
    );
  }
  return { admin: (n: string) => admins.get(n)!, logs, counters };
}

const NAMES = ["n1", "n2", "n3", "n4"];

/** Waits for a condition of the in-memory mesh, a turn at a time, under a deadline. */
async function waitUntil(check: () => boolean, timeoutMs = 1_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!check()) {
    if (performance.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 1));
  }
}
/** Survey timeout: long against setTimeout(0) hops, short for the test's wall time. */
const TIMEOUT_MS = 200;

describe("surveys", () => {
  test("every member answers: not partial, one outcome per member, well before the timeout", async () => {
    const mesh = inMemoryMesh(NAMES);
    const progress: [number, number][] = [];
    const started = performance.now();
    const s = await mesh.admin("n1").survey("stats", {}, 5_000, undefined, (a, t) => progress.push([a, t]));
    const took = performance.now() - started;
    expect(s.partial).toBe(false);
    expect(s.missing).toEqual([]);
    expect(s.nodes).toEqual(Object.fromEntries(NAMES.map((n, i) => [n, { ok: true, data: { node: n, connections: i } }])));
    // Resolves on the last answer, not at the timeout.
    expect(took).toBeLessThan(1_000);
    expect(s.tookMs).toBeLessThan(1_000);
    expect(progress.map(([a]) => a)).toEqual([1, 2, 3, 4]);
    expect(progress.every(([, t]) => t === 4)).toBe(true);
    // Counted once per target at the asking node, and the others logged carrying it out.
    expect(mesh.counters.get("n1")!.commands.get("stats")).toBe(4);
    expect(mesh.logs.get("n2")!.some((l) => l.includes("stats from n1"))).toBe(true);
  });

  test("a silent member: partial, named in `missing`, resolved at the timeout", async () => {
    const mesh = inMemoryMesh(NAMES, { silent: ["n3"] });
    const started = performance.now();
    const s = await mesh.admin("n1").survey("stats", {}, TIMEOUT_MS);
    const took = performance.now() - started;
    expect(s.partial).toBe(true);
    expect(s.missing).toEqual(["n3"]);
    expect(Object.keys(s.nodes).sort()).toEqual(["n1", "n2", "n4"]);
    expect(took).toBeGreaterThanOrEqual(TIMEOUT_MS - 5);
    expect(took).toBeLessThan(TIMEOUT_MS + 500);
  });

  test("several silent members are all named, sorted", async () => {
    const mesh = inMemoryMesh(NAMES, { silent: ["n4", "n2"] });
    const s = await mesh.admin("n1").survey("stats", {}, TIMEOUT_MS);
    expect(s).toMatchObject({ partial: true, missing: ["n2", "n4"] });
  });

  test("an explicit target list is surveyed instead of the members", async () => {
    const mesh = inMemoryMesh(NAMES);
    const s = await mesh.admin("n1").survey("stats", {}, TIMEOUT_MS, ["n2", "n4"]);
    expect(s.partial).toBe(false);
    expect(Object.keys(s.nodes).sort()).toEqual(["n2", "n4"]);
  });

  test("an unknown command: every member answers ok:false unknown_command", async () => {
    const mesh = inMemoryMesh(NAMES);
    const s = await mesh.admin("n2").survey("reboot", {}, TIMEOUT_MS);
    expect(s.partial).toBe(false);
    for (const n of NAMES) expect(s.nodes[n]).toMatchObject({ ok: false, code: "unknown_command" });
    // Inherited object keys are not commands either.
    const proto = await mesh.admin("n2").survey("constructor", {}, TIMEOUT_MS);
    for (const n of NAMES) expect(proto.nodes[n]).toMatchObject({ ok: false, code: "unknown_command" });
  });

  test("a handler's AdminFailure keeps its code; any other throw is `internal` and logged", async () => {
    const mesh = inMemoryMesh(NAMES);
    const fails = await mesh.admin("n1").survey("fails", {}, TIMEOUT_MS);
    expect(fails.nodes.n3).toEqual({ ok: false, code: "unknown_client", message: "no client here on n3" });
    const crashes = await mesh.admin("n1").survey("crashes", {}, TIMEOUT_MS);
    expect(crashes.nodes.n3).toMatchObject({ ok: false, code: "internal" });
    expect((crashes.nodes.n3 as { message: string }).message).not.toContain("boom");
    expect(mesh.logs.get("n3")!.some((l) => l.startsWith("error:") && l.includes("crashes failed"))).toBe(true);
    const slow = await mesh.admin("n1").survey("slow", {}, TIMEOUT_MS);
    expect(slow.nodes.n4).toEqual({ ok: true, data: "late" });
  });

  test("a forged answer is refused: the survey counts the member as missing", async () => {
    // Whoever sits on the path rewrites n3's answer without the key: the MAC no longer holds.
    const mesh = inMemoryMesh(NAMES, {
      tamper: (from, _to, _req, kind, body) => {
        if (kind !== "rpcReply" || from !== "n3") return body;
        const wire = JSON.parse(body) as Extract<Wire, { t: "ans" }>;
        wire.answer.result = { ok: true, data: { node: "n3", connections: 999 } };
        return JSON.stringify(wire);
      },
    });
    const s = await mesh.admin("n1").survey("stats", {}, TIMEOUT_MS);
    expect(s).toMatchObject({ partial: true, missing: ["n3"] });
    expect(mesh.logs.get("n1")!.some((l) => l.includes("refused a forged or mismatched answer from n3"))).toBe(true);
  });

  test("an answer re-signed by another member for a target it is not is refused", async () => {
    // n2 holds the key, but the answer to n3's command must come from n3 and name n3: n3's real
    // answer is dropped and n2 sends one of its own under the same request number.
    const mesh = inMemoryMesh(NAMES, {
      tamper: (from, to, req, kind, body) => {
        if (kind !== "rpcReply" || from !== "n3") return body;
        const wire = JSON.parse(body) as Extract<Wire, { t: "ans" }>;
        const forged = signAnswer(KEY, wire.answer.id, "n2", { ok: true, data: "from n2" });
        setTimeout(() => mesh.admin(to).onCalled("n2", req, "rpcReply", JSON.stringify({ t: "ans", answer: forged })), 0);
        return null;
      },
    });
    const s = await mesh.admin("n1").survey("stats", {}, TIMEOUT_MS);
    expect(s).toMatchObject({ partial: true, missing: ["n3"] });
  });

  test("a replayed command is refused by its target, which answers `replayed` and counts it", async () => {
    let captured: string | null = null;
    const answers: string[] = [];
    const mesh = inMemoryMesh(NAMES, {
      tamper: (from, to, _req, kind, body) => {
        if (kind === "rpc" && to === "n2") captured ??= body;
        if (kind === "rpcReply" && from === "n2" && to === "n4") answers.push(body);
        return body;
      },
    });
    expect(await mesh.admin("n1").command("n2", "stats", {}, TIMEOUT_MS)).toMatchObject({ ok: true });
    expect(captured).not.toBeNull();
    // The same frame again, sent by n4, which recorded it: n2 answers n4 with a refusal.
    mesh.admin("n2").onCalled("n4", 77, "rpc", captured!);
    await waitUntil(() => answers.length > 0);
    const answer = (JSON.parse(answers[0]!) as Extract<Wire, { t: "ans" }>).answer;
    expect(answer.result).toMatchObject({ ok: false, code: "replayed" });
    expect(answer.from).toBe("n2");
    expect(answerIsAuthentic(KEY, answer)).toBe(true);
    expect(mesh.counters.get("n2")!.refused.get("replayed")).toBe(1);
    expect(mesh.logs.get("n2")!.some((l) => l.startsWith("warn:") && l.includes("refused a command from n4: replayed"))).toBe(true);
  });

  test("a command from a node with another cluster key is refused as bad_signature, and its answer is not believed", async () => {
    const mesh = inMemoryMesh(["n1", "n2"], { keys: { n1: OTHER_KEY, n2: KEY } });
    const s = await mesh.admin("n1").survey("stats", {}, TIMEOUT_MS);
    // n2 refuses (and says so, under its own key), so n1 cannot authenticate even the refusal.
    expect(s).toMatchObject({ partial: true, missing: ["n2"] });
    expect(mesh.counters.get("n2")!.refused.get("bad_signature")).toBe(1);
  });

  test("a node without a cluster key administers itself only", async () => {
    const mesh = inMemoryMesh(["n1", "n2"], { keys: { n1: null } });
    expect(await mesh.admin("n1").command("n1", "stats", {}, TIMEOUT_MS)).toMatchObject({ ok: true });
    expect(await mesh.admin("n1").command("n2", "stats", {}, TIMEOUT_MS)).toMatchObject({ ok: false, code: "unknown_node" });
  });

  test("garbage on the wire is logged and dropped", () => {
    const mesh = inMemoryMesh(NAMES);
    mesh.admin("n2").onCalled("n1", 1, "rpc", "{not json");
    mesh.admin("n2").onCalled("n1", 2, "rpc", JSON.stringify({ t: "cmd", command: null }));
    // An answer nobody waits for is dropped without a word (it may be a late one after a timeout).
    mesh.admin("n2").onCalled("n1", 3, "rpcReply", JSON.stringify({ t: "ans", answer: null }));
    const lines = mesh.logs.get("n2")!;
    expect(lines.some((l) => l.includes("unreadable rpc from n1"))).toBe(true);
    expect(lines.some((l) => l.includes("malformed command from n1"))).toBe(true);
  });
});
