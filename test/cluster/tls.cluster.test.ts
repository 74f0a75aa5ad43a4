/**
 * TLS on the node's one port (issue 8): two `dist/relay` nodes serving https:// and wss:// with a
 * throwaway private CA link over wss:// (the second seeding the first with a bare host:port),
 * /healthz answers over https:// to a client that trusts the CA, a wss:// subscriber on one node
 * gets a publish from the other, a plain ws:// client is refused, and a third node that does not
 * trust the CA (no --tls-ca) fails to join.
 *
 * The CA and the node certificate (SAN IP:127.0.0.1, DNS:localhost) are made with openssl in a
 * temporary directory that afterAll removes; they live one day. Every wait polls a condition
 * under a deadline; afterAll stops every node and killAll() reaps what a failure left.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BUILD_TIMEOUT_MS, ensureBuilt } from "../helpers/build.ts";
import { CLUSTER_KEY, getNodes, pollUntil, seedOf, stopAll, waitForMembership, type MeshNode } from "../helpers/cluster.ts";
import { killAll, startCli, startRelay, unboundPort, type CliProcess, type RelayProcess } from "../helpers/proc.ts";
import { waitFor } from "../helpers/wait.ts";

/** Prints one figure line; `bun test` shows stderr of passing tests too. */
function figure(text: string): void {
  process.stderr.write(`[tls] ${text}\n`);
}

let dir = "";
let caPath = "";
let caPem = "";
let certPath = "";
let keyPath = "";
const started: RelayProcess[] = [];
const clis: CliProcess[] = [];

/** Runs openssl; throws with its output when it fails. */
async function openssl(args: string[]): Promise<void> {
  const proc = Bun.spawn(["openssl", ...args], { cwd: dir, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const [code, out, err] = await Promise.all([proc.exited, new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
  if (code !== 0) throw new Error(`openssl ${args.join(" ")} exited ${code}\n${out}${err}`);
}

/** A throwaway CA, and a node certificate it signed for 127.0.0.1 and localhost. */
async function makePki(): Promise<void> {
  dir = mkdtempSync(join(tmpdir(), "relay-tls-"));
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  await openssl(["req", "-x509", ...ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "1", "-subj", "/CN=relay throwaway test CA"]);
  await openssl(["req", ...ec, "-keyout", "node.key", "-out", "node.csr", "-subj", "/CN=localhost"]);
  writeFileSync(join(dir, "node.ext"), "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth,clientAuth\n");
  await openssl(["x509", "-req", "-in", "node.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", "node.pem", "-days", "1", "-extfile", "node.ext"]);
  caPath = join(dir, "ca.pem");
  certPath = join(dir, "node.pem");
  keyPath = join(dir, "node.key");
  caPem = await Bun.file(caPath).text();
}

/**
 * Starts a TLS node advertising wss://127.0.0.1:PORT. The advertised URL must name the port, so
 * the port is chosen before the start (unboundPort); if another process takes it in between, the
 * node says "in use" and exits, and we try another port.
 */
async function startTlsNode(name: string, opts: { trustCa: boolean; seeds?: string[]; logLevel?: string }): Promise<MeshNode> {
  for (let attempt = 1; ; attempt++) {
    const port = unboundPort();
    const args = ["serve", "--host", "127.0.0.1", "--port", String(port), "--name", name, "--cluster-key", CLUSTER_KEY];
    args.push("--tls-cert", certPath, "--tls-key", keyPath, "--advertise", `wss://127.0.0.1:${port}`);
    if (opts.trustCa) args.push("--tls-ca", caPath);
    for (const seed of opts.seeds ?? []) args.push("--seed", seed);
    if (opts.logLevel) args.push("--log-level", opts.logLevel);
    try {
      const node = await startRelay({ args, tlsCa: caPem });
      started.push(node);
      return Object.assign(node, { name });
    } catch (err) {
      if (attempt < 5 && /in use/i.test((err as Error).message)) continue;
      throw err;
    }
  }
}

/** A Bun WebSocket client that trusts the CA (Bun's WebSocket takes TLS options; the DOM typings do not say so). */
type TlsWebSocketCtor = new (url: string, options: { tls: { ca: string } }) => WebSocket;
function wssClient(url: string): { ws: WebSocket; frames: Record<string, unknown>[]; opened: Promise<void> } {
  const ws = new (WebSocket as unknown as TlsWebSocketCtor)(url, { tls: { ca: caPem } });
  const frames: Record<string, unknown>[] = [];
  ws.onmessage = (ev) => frames.push(JSON.parse(String(ev.data)) as Record<string, unknown>);
  const opened = new Promise<void>((resolve, reject) => {
    ws.onopen = () => resolve();
    ws.onerror = () => reject(new Error(`${url}: the wss:// connection failed`));
  });
  return { ws, frames, opened };
}

beforeAll(async () => {
  await ensureBuilt();
  await makePki();
}, BUILD_TIMEOUT_MS);

afterAll(async () => {
  await Promise.all(clis.map((c) => c.stop("SIGKILL").catch(() => undefined)));
  await stopAll(started);
  await killAll();
  if (dir) rmSync(dir, { recursive: true, force: true });
}, 20_000);

describe("two nodes over TLS with a private CA", () => {
  let a: MeshNode;
  let b: MeshNode;

  beforeAll(async () => {
    a = await startTlsNode("tls-a", { trustCa: true });
    // A bare host:port seed: a node that serves TLS dials it with wss://.
    b = await startTlsNode("tls-b", { trustCa: true, seeds: [seedOf(a)] });
  }, 30_000);

  test("they link over wss:// and membership converges", async () => {
    const took = await waitForMembership([a, b], ["tls-a", "tls-b"], 15_000);
    figure(`2 TLS nodes: full membership ${Math.round(took)} ms after the second started`);
    // Each lists the other as linked, at the wss:// URL it advertised.
    await pollUntil(async () => {
      const [va, vb] = await Promise.all([getNodes(a), getNodes(b)]);
      return va?.nodes.some((m) => m.name === "tls-b" && m.linked) && vb?.nodes.some((m) => m.name === "tls-a" && m.linked);
    }, "a link between tls-a and tls-b at both ends", 10_000);
    const view = await getNodes(b);
    expect(view?.nodes.find((m) => m.name === "tls-a")?.url).toBe(`wss://127.0.0.1:${a.port}`);
    expect((await getNodes(a))?.nodes.find((m) => m.name === "tls-b")?.url).toBe(`wss://127.0.0.1:${b.port}`);
    // The dialer's log names the wss:// address it dialed, as its seed gave no scheme.
    expect(b.stderr.text).toContain("mesh: link up: tls-a (dialed)");
  }, 30_000);

  test("https:// /healthz answers to a client that trusts the CA, and fails verification for one that does not", async () => {
    const res = await fetch(`${a.httpUrl}/healthz`, { tls: { ca: caPem } });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ status: "ok", node: "tls-a", url: `wss://127.0.0.1:${a.port}` });
    expect(a.httpUrl).toStartWith("https://");
    await expect(fetch(`${a.httpUrl}/healthz`, { signal: AbortSignal.timeout(5_000) })).rejects.toThrow(/certificate|verify|self.signed/i);
  });

  test("a wss:// subscriber on one node receives a publish made on the other", async () => {
    await waitForMembership([a, b], ["tls-a", "tls-b"], 15_000);
    // The CLI trusts the CA through NODE_EXTRA_CA_CERTS, as README tells Bun clients to.
    const sub = startCli(["sub", "tls.chat", "--url", a.url, "--count", "1"], { env: { NODE_EXTRA_CA_CERTS: caPath } });
    clis.push(sub);
    await sub.stderr.waitForLine("subscribed tls.chat", 10_000);
    // The publisher is Bun's WebSocket with the CA; it publishes until the subscriber has one
    // (the subscriber's interest reaches tls-b about 100 ms after its ack).
    const pub = wssClient(`${b.url}/`);
    await pub.opened;
    let i = 0;
    const started = performance.now();
    await waitFor(
      async () => {
        const id = ++i;
        pub.ws.send(JSON.stringify({ op: "pub", channel: "tls.chat", data: `over tls ${id}`, id }));
        await waitFor(() => pub.frames.some((f) => f.id === id && f.op === "ack"), `the ack of publish ${id}`);
        try {
          await sub.stdout.waitForLine(/^over tls \d+$/, 200);
          return true;
        } catch {
          return false;
        }
      },
      "the subscriber on tls-a to print a message published on tls-b",
      15_000,
    );
    figure(`wss:// subscriber on tls-a got a publish from tls-b ${Math.round(performance.now() - started)} ms after the first try`);
    expect(await sub.waitExit(10_000)).toBe(0);
    pub.ws.close();
  }, 30_000);

  test("a plain ws:// client (and plain http://) on the TLS port is refused", async () => {
    const plain = new WebSocket(`ws://127.0.0.1:${a.port}/`);
    const outcome = await new Promise<string>((resolve) => {
      plain.onopen = () => resolve("open");
      plain.onerror = () => resolve("error");
      plain.onclose = () => resolve("close");
    });
    expect(outcome).not.toBe("open");
    await expect(fetch(`http://127.0.0.1:${a.port}/healthz`, { signal: AbortSignal.timeout(5_000) })).rejects.toThrow();
    // The TLS node is unharmed.
    expect((await fetch(`${a.httpUrl}/healthz`, { tls: { ca: caPem } })).status).toBe(200);
  });

  // PRODUCT BUG (issue 8 finding): a dial that fails at TLS verification is silent. The node
  // retries with backoff ("mesh: dialing wss://..." at debug level), but logs no reason at any
  // level (peers.ts dial() sets no onerror, and onClosed reports only dialFailed to the core), so
  // an operator who forgot --tls-ca sees a node that never joins, and nothing says why.
  test("a third node without --tls-ca fails its dial and logs why", async () => {
    const c = await startTlsNode("tls-c", { trustCa: false, seeds: [seedOf(a)], logLevel: "debug" });
    // Two dial attempts logged means the first one failed and was retried.
    const dialing = `mesh: dialing wss://127.0.0.1:${a.port}/peer`;
    await pollUntil(() => c.stderr.lines.filter((l) => l.includes(dialing)).length >= 2, "tls-c to dial tls-a twice", 15_000);
    // It never joined: tls-a does not know it, and it knows nobody.
    expect((await getNodes(a))?.nodes.map((m) => m.name)).not.toContain("tls-c");
    expect((await getNodes(c))?.nodes.map((m) => m.name)).toEqual(["tls-c"]);
    expect(c.stderr.text).not.toContain("link up");
    // What an operator needs: a line naming the seed and the TLS reason, not only the attempts.
    const why = c.stderr.lines.filter((l) => !l.includes("dialing") && l.includes(`127.0.0.1:${a.port}`) && /certificate|verify|tls|ssl|handshake/i.test(l));
    figure(`tls-c stderr (no --tls-ca):\n${c.stderr.text.trimEnd()}`);
    expect(why.length).toBeGreaterThan(0);
  }, 30_000);
});
