/**
 * The compiled single executable, dist/relay, as users run it: the CLI contracts of
 * ARCHITECTURE.md section 6 (version and help, `sub`/`pub`, every --url form, configuration from
 * flags, environment and file, graceful shutdown on SIGTERM and SIGINT, `serve` as the default).
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pkg from "../../package.json";
import { BUILD_TIMEOUT_MS, ensureBuilt } from "../helpers/build.ts";
import { killAll, runCli, startCli, startRelay, unboundPort, waitForStderrLine, withDeadline, type RelayProcess } from "../helpers/proc.ts";

/** The node's port when nothing sets one. */
const DEFAULT_PORT = 7400;

beforeAll(ensureBuilt, BUILD_TIMEOUT_MS);
afterAll(killAll);

describe("version and help", () => {
  test("--version prints the package version", async () => {
    const r = await runCli(["--version"]);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe(pkg.version);
  });

  test("--help and sub --help exit 0 and describe the commands", async () => {
    const top = await runCli(["--help"]);
    expect(top.code).toBe(0);
    for (const command of ["serve", "pub", "sub"]) expect(top.stdout + top.stderr).toContain(command);
    const sub = await runCli(["sub", "--help"]);
    expect(sub.code).toBe(0);
    expect(sub.stdout + sub.stderr).toContain("--count");
  });
});

describe("sub and pub against one node", () => {
  let node: RelayProcess;
  beforeAll(async () => {
    node = await startRelay({ extraArgs: ["--name", "e2e-binary"] });
  });
  afterAll(async () => {
    expect(await node.stop()).toBe(0);
  });

  test("sub prints exactly the payload lines of three publishes, then exits 0", async () => {
    const sub = startCli(["sub", "e2e.three", "--url", node.url, "--count", "3"]);
    try {
      await waitForStderrLine(sub, "subscribed e2e.three");
      const pubs = [
        ["hello world"],
        ['{"a":1}', "--json"],
        ["42", "--json"],
      ];
      for (const [message, ...flags] of pubs) {
        const r = await runCli(["pub", "e2e.three", message!, ...flags, "--url", node.url]);
        expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: "" });
      }
      expect(await sub.waitExit()).toBe(0);
      expect(sub.stdout.text).toBe('hello world\n{"a":1}\n42\n');
      expect(sub.stderr.lines.filter((l) => l.startsWith("subscribed "))).toEqual(["subscribed e2e.three"]);
    } finally {
      await sub.stop("SIGKILL");
    }
  }, 20_000);

  test("--json sends compact JSON whatever the spacing of MESSAGE", async () => {
    const sub = startCli(["sub", "e2e.json", "--url", node.url, "--count", "1"]);
    try {
      await waitForStderrLine(sub, "subscribed e2e.json");
      const r = await runCli(["pub", "e2e.json", '{ "b" : [1, 2, {"c": null}] }', "--json", "--url", node.url]);
      expect(r.code).toBe(0);
      expect(await sub.waitExit()).toBe(0);
      expect(sub.stdout.text).toBe('{"b":[1,2,{"c":null}]}\n');
    } finally {
      await sub.stop("SIGKILL");
    }
  });

  test("pub to a bad channel name exits non-zero with bad_channel on stderr", async () => {
    const r = await runCli(["pub", "no spaces allowed", "x", "--url", node.url]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("bad_channel");
    expect(r.stdout).toBe("");
  });

  test("sub to a bad channel name exits non-zero with bad_channel on stderr", async () => {
    const r = await runCli(["sub", "bad*name", "--url", node.url, "--count", "1"]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("bad_channel");
    expect(r.stderr).not.toContain("subscribed");
  });

  for (const form of ["ws", "http", "bare"] as const) {
    test(`--url as ${form === "bare" ? "bare host:port" : `${form}://`} works for sub and pub`, async () => {
      const url = form === "bare" ? `127.0.0.1:${node.port}` : `${form}://127.0.0.1:${node.port}`;
      const channel = `e2e.url.${form}`;
      const sub = startCli(["sub", channel, "--url", url, "--count", "1"]);
      try {
        await waitForStderrLine(sub, `subscribed ${channel}`);
        const r = await runCli(["pub", channel, `via ${form}`, "--url", url]);
        expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: "" });
        expect(await sub.waitExit()).toBe(0);
        expect(sub.stdout.text).toBe(`via ${form}\n`);
      } finally {
        await sub.stop("SIGKILL");
      }
    }, 15_000);
  }
});

test("pub to a port with nothing listening gives up after its --timeout and exits non-zero", async () => {
  const port = unboundPort();
  // The contract is only that it gives up and fails; how long start-up and exit take on a loaded
  // machine is not. runCli's own deadline (10 s, far above the 1 s --timeout) is the check that it
  // did give up rather than hang.
  const r = await runCli(["pub", "e2e.nobody", "x", "--url", `ws://127.0.0.1:${port}`, "--timeout", "1"], { timeoutMs: 10_000 });
  expect(r.timedOut).toBe(false);
  expect(r.code).not.toBe(0);
  expect(r.stderr).toContain("timeout");
  expect(r.ms).toBeLessThan(10_000);
}, 15_000);

test("pub to a node that never acknowledges gives up after its --timeout and exits non-zero", async () => {
  // A server that welcomes but never answers: the ack wait, not the connect, must hit --timeout.
  const mute = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    fetch: (req, srv) => (srv.upgrade(req) ? undefined : new Response("")),
    websocket: { open: (ws) => void ws.send('{"op":"welcome","v":1,"node":"mute","client":"c","limits":{"maxPayload":65536,"maxSubscriptions":1,"publishRate":1,"publishBurst":1}}'), message() {} },
  });
  try {
    const r = await runCli(["pub", "e2e.mute", "x", "--url", `ws://127.0.0.1:${mute.port}`, "--timeout", "1"], { timeoutMs: 8_000 });
    expect(r.timedOut).toBe(false);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("timeout: no answer to pub");
  } finally {
    mute.stop(true);
  }
}, 15_000);

test("a misspelt command or flag is refused with exit 2 instead of starting a node", async () => {
  for (const args of [["pubb", "chan", "msg"], ["--prot", "1234"]]) {
    const r = await runCli(args, { timeoutMs: 8_000 });
    expect(r.timedOut).toBe(false);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/unexpected argument "pubb"|unknown flag --prot/);
  }
}, 20_000);

describe("configuration", () => {
  const dir = mkdtempSync(join(tmpdir(), "relay-e2e-config-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test("--port notanumber exits non-zero and names --port", async () => {
    const r = await runCli(["--host", "127.0.0.1", "--port", "notanumber"], { timeoutMs: 10_000 });
    expect(r.timedOut).toBe(false);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("--port");
  });

  test("RELAY_MAX_PAYLOAD=abc exits non-zero and names the setting", async () => {
    // Port 0: should the value be ignored by mistake, the node binds a port nobody else wants.
    const r = await runCli(["--host", "127.0.0.1", "--port", "0"], { env: { RELAY_MAX_PAYLOAD: "abc" }, timeoutMs: 10_000 });
    expect(r.timedOut).toBe(false);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("RELAY_MAX_PAYLOAD");
  });

  test("a --config JSON file sets the port (and the name)", async () => {
    // Port 0 in the file: were the file's port ignored, the node would bind the default, 7400,
    // which is below the range the OS picks ephemeral ports from.
    const file = join(dir, "port-and-name.json");
    writeFileSync(file, JSON.stringify({ host: "127.0.0.1", port: 0, name: "from-config" }));
    const node = await startRelay({ args: ["--config", file] });
    try {
      expect(node.port).not.toBe(DEFAULT_PORT);
      const health = (await (await fetch(`${node.httpUrl}/healthz`)).json()) as { node: string; url: string };
      expect(health.node).toBe("from-config");
      expect(health.url).toBe(`ws://127.0.0.1:${node.port}`);
    } finally {
      expect(await node.stop()).toBe(0);
    }
  });

  test("flags win over the config file", async () => {
    const file = join(dir, "name-only.json");
    writeFileSync(file, JSON.stringify({ name: "from-file" }));
    const node = await startRelay({ extraArgs: ["--config", file, "--name", "from-flag"] });
    try {
      const health = (await (await fetch(`${node.httpUrl}/healthz`)).json()) as { node: string };
      expect(health.node).toBe("from-flag");
    } finally {
      expect(await node.stop()).toBe(0);
    }
  });
});

describe("graceful shutdown", () => {
  let node: RelayProcess | undefined;
  afterEach(async () => {
    await node?.stop("SIGKILL");
    node = undefined;
  });

  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    test(`${signal}: exits 0 within 5 s and closes a connected client with 1001`, async () => {
      node = await startRelay();
      const ws = new WebSocket(node.url, "relay.v1.json");
      const welcomed = new Promise<string>((resolve, reject) => {
        ws.onmessage = (ev) => resolve(String(ev.data));
        ws.onerror = () => reject(new Error("the WebSocket failed before the welcome"));
      });
      const closed = new Promise<{ code: number; reason: string }>((resolve) => {
        ws.onclose = (ev) => resolve({ code: ev.code, reason: ev.reason });
      });
      const welcome = JSON.parse(await withDeadline(welcomed, 5_000, "no welcome frame")) as { op: string };
      expect(welcome.op).toBe("welcome");

      // Timed from the signal (stop() sends it first thing), not from the process's start.
      const signalled = performance.now();
      const code = await node.stop(signal, 10_000);
      const elapsed = performance.now() - signalled;
      expect(code).toBe(0);
      expect(elapsed).toBeLessThan(5_000);
      const close = await withDeadline(closed, 5_000, "the client saw no close");
      expect(close.code).toBe(1001);
      expect(close.reason).toBe("shutting_down");
    }, 20_000);
  }
});

test("serve is the default command: `relay --seed host:port` with flags only starts a node", async () => {
  const node = await startRelay({ args: ["--host", "127.0.0.1", "--port", "0", "--seed", "127.0.0.1:1", "--cluster-key", "e2e-cluster-key-0123456789", "--name", "default-cmd"] });
  try {
    const res = await fetch(`${node.httpUrl}/healthz`);
    expect(res.status).toBe(200);
    const health = (await res.json()) as { status: string; node: string };
    expect(health).toMatchObject({ status: "ok", node: "default-cmd" });
  } finally {
    expect(await node.stop()).toBe(0);
  }
});
