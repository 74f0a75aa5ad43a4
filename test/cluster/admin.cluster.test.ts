/**
 * The admin API with real `dist/relay` processes on 127.0.0.1 (issue 5): five nodes started with
 * --cluster-key and --admin-token, asked through HTTP (/admin/*) and the CLI (`relay admin`):
 * every query answered from any node; the token enforced; a SIGSTOPped node named as missing
 * within the timeout; a client kicked by id without naming its node; a replayed or expired
 * command refused by its target (sent over a peer link the test opens itself, with the real
 * handshake); and a drain that /healthz shows and that moves clients to other nodes.
 *
 * Every node binds port 0; every wait polls a condition under a deadline; afterAll resumes any
 * stopped node and stops every process, and killAll() reaps whatever a failure left behind. The
 * tests run in file order and share the cluster: the drain (after which that node leaves the
 * mesh) comes late, and a node is SIGCONTed in the same test that SIGSTOPped it.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { answerIsAuthentic, commandKey, signCommand, type SignedCommand } from "../../src/node/admin-auth.ts";
import { DialerHandshake } from "../../src/node/peer-auth.ts";
import { PEER_MAX_FRAME } from "../../src/node/peers.ts";
import { decodePeerMessage, encodePeerFrame } from "../../src/protocol/peer.ts";
import type { PeerFrame } from "../../src/protocol/peer-frames.ts";
import { connect, type Client, type Message } from "../../src/sdk/index.ts";
import { BUILD_TIMEOUT_MS, ensureBuilt } from "../helpers/build.ts";
import { CLUSTER_KEY, getTopology, hopsBetween, pollUntil, seedOf, startMeshNode, stopAll, waitForMembership, waitForMemberState, type MeshNode } from "../helpers/cluster.ts";
import { RawClient } from "../helpers/node.ts";
import { killAll, runCli, startRelay, type RelayProcess } from "../helpers/proc.ts";
import { RawSocket } from "../helpers/raw-socket.ts";
import { waitFor } from "../helpers/wait.ts";

/** Prints one figure line; `bun test` shows stderr of passing tests too. */
function figure(text: string): void {
  process.stderr.write(`[admin] ${text}\n`);
}

const TOKEN = "admin-cluster-test-token-0123";
const SIZE = 5;
const names = Array.from({ length: SIZE }, (_, i) => `adm-${i}`);
const nodes: MeshNode[] = [];
/** Every process started, so afterAll stops them all whatever failed. */
const started: RelayProcess[] = [];
/** Nodes currently SIGSTOPped, resumed in afterAll if a test failed before it could. */
const stopped = new Set<MeshNode>();
/** A standalone node started without --admin-token. */
let plainNode: RelayProcess;
/** Clients to close in afterAll. */
const clients: { close(): unknown }[] = [];

type Outcome = { ok: true; data: unknown } | { ok: false; code: string; message: string };
interface SurveyAnswer {
  query: string;
  asked: string;
  partial: boolean;
  missing: string[];
  nodes: Record<string, Outcome>;
  tookMs: number;
}

/** A request to a node's admin API with the token (or `token` given: another or none). */
async function admin(node: RelayProcess, path: string, init: { method?: string; body?: unknown; token?: string | null } = {}): Promise<{ status: number; body: Record<string, unknown> }> {
  const token = init.token === undefined ? TOKEN : init.token;
  const res = await fetch(`${node.httpUrl}/admin/${path}`, {
    method: init.method ?? "GET",
    headers: { ...(token !== null ? { Authorization: `Bearer ${token}` } : {}), ...(init.body !== undefined ? { "Content-Type": "application/json" } : {}) },
    body: init.body !== undefined ? JSON.stringify(init.body) : undefined,
    signal: AbortSignal.timeout(15_000),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** GET /admin/<query> answered 200, as a survey. */
async function survey(node: RelayProcess, query: string, timeoutMs?: number): Promise<SurveyAnswer> {
  const { status, body } = await admin(node, `${query}${timeoutMs !== undefined ? `?timeout=${timeoutMs}` : ""}`);
  if (status !== 200) throw new Error(`GET /admin/${query} answered ${status}: ${JSON.stringify(body)}`);
  return body as unknown as SurveyAnswer;
}

/** The `data` of each node's outcome, failing on any ok:false. */
function dataOf<T>(answer: SurveyAnswer): Record<string, T> {
  const out: Record<string, T> = {};
  for (const [node, o] of Object.entries(answer.nodes)) {
    if (!o.ok) throw new Error(`${node} answered ${answer.query} with ${o.code}: ${o.message}`);
    out[node] = o.data as T;
  }
  return out;
}

/** Text of GET /metrics. */
async function metrics(node: RelayProcess): Promise<string> {
  return (await fetch(`${node.httpUrl}/metrics`, { signal: AbortSignal.timeout(5_000) })).text();
}

/** Waits until every node in `among` has a route to every other: then a survey reaches everyone. */
async function waitForRoutes(among: readonly MeshNode[], timeoutMs: number): Promise<void> {
  await pollUntil(
    async () => {
      const views = await Promise.all(among.map(getTopology));
      return views.every((t, i) => t !== null && among.every((other) => other === among[i] || hopsBetween(t, among[i]!.name, other.name) !== null));
    },
    `a route between every pair of ${among.map((n) => n.name).join(", ")}`,
    timeoutMs,
  );
}

function sigstop(node: MeshNode): void {
  stopped.add(node);
  node.proc.kill("SIGSTOP");
}

function sigcont(node: MeshNode): void {
  if (!stopped.delete(node)) return;
  node.proc.kill("SIGCONT");
}

/**
 * A mesh peer of our own: a WebSocket to a node's /peer that completes the real handshake
 * (DialerHandshake with the cluster key), then records every mesh frame the node sends and
 * answers its pings, so the link stays up while the test speaks CALL frames over it.
 */
class FakePeer {
  readonly frames: PeerFrame[] = [];
  private linked = false;
  private failure: string | null = null;
  private closed = false;

  private constructor(
    private readonly ws: WebSocket,
    readonly name: string,
    readonly incarnation: number,
  ) {}

  static async connect(node: RelayProcess, name: string): Promise<FakePeer> {
    const incarnation = Date.now();
    const ws = new WebSocket(`ws://127.0.0.1:${node.port}/peer`);
    ws.binaryType = "arraybuffer";
    const peer = new FakePeer(ws, name, incarnation);
    // An empty URL: nobody dials or probes us, and no drain suggests us to clients.
    const handshake = new DialerHandshake(CLUSTER_KEY, { name, incarnation, region: "", url: "" });
    ws.onopen = () => ws.send(encodePeerFrame(handshake.hello()));
    ws.onclose = () => {
      peer.closed = true;
    };
    ws.onmessage = (ev) => {
      for (const one of decodePeerMessage(new Uint8Array(ev.data as ArrayBuffer), PEER_MAX_FRAME)) {
        if (!one.ok) return void (peer.failure = `undecodable frame: ${one.reason}`);
        const frame = one.frame;
        if (!peer.linked) {
          const step = handshake.onFrame(frame);
          if (!step.ok) return void (peer.failure = `handshake refused: ${step.code}: ${step.message}`);
          ws.send(encodePeerFrame(step.auth));
          peer.linked = true;
          continue;
        }
        if (frame.t === "hello" || frame.t === "welcome" || frame.t === "auth" || frame.t === "refuse") continue;
        peer.frames.push(frame);
        if (frame.t === "ping") ws.send(encodePeerFrame({ t: "pong", ts: frame.ts }));
      }
    };
    // Linked on our side once AUTH is sent; the node's first gossip says it took the link too.
    await waitFor(() => {
      if (peer.failure) throw new Error(peer.failure);
      if (peer.closed) throw new Error("the node closed the peer socket during the handshake");
      return peer.linked && peer.frames.length > 0;
    }, `a peer link to ${node.httpUrl} as ${name}`);
    return peer;
  }

  send(bytes: Uint8Array): void {
    this.ws.send(bytes);
  }

  /** A CALL frame of kind rpc carrying `command`, as src/node/admin.ts sends it. */
  static rpc(from: string, req: number, command: SignedCommand): Uint8Array {
    return encodePeerFrame({ t: "call", to: command.target, from, hops: 0, req, body: { kind: "rpc", body: JSON.stringify({ t: "cmd", command }) } });
  }

  /** The rpcReply answers to request `req` so far, parsed, in arrival order. */
  replies(req: number): { id: string; from: string; result: Outcome; mac: string }[] {
    const out: { id: string; from: string; result: Outcome; mac: string }[] = [];
    for (const f of this.frames) {
      if (f.t !== "call" || f.req !== req || f.to !== this.name || f.body.kind !== "rpcReply") continue;
      const wire = JSON.parse(f.body.body) as { t: string; answer: { id: string; from: string; result: Outcome; mac: string } };
      if (wire.t === "ans") out.push(wire.answer);
    }
    return out;
  }

  /** Leaves like a node does (LEAVE, then close), so the mesh marks us left rather than suspecting us. */
  async leave(): Promise<void> {
    if (this.closed) return;
    this.ws.send(encodePeerFrame({ t: "leave", name: this.name, incarnation: this.incarnation }));
    this.ws.close(1000, "leaving");
    await waitFor(() => this.closed, "the fake peer's socket to close");
  }
}

beforeAll(ensureBuilt, BUILD_TIMEOUT_MS);

beforeAll(async () => {
  const t0 = performance.now();
  const common = ["--admin-token", TOKEN];
  nodes.push(await startMeshNode({ name: names[0]!, extraArgs: common }));
  started.push(nodes[0]!);
  // The rest join through the first, in parallel; a node without --admin-token stands alone.
  const [rest, plain] = await Promise.all([
    Promise.all(names.slice(1).map((name) => startMeshNode({ name, seeds: [seedOf(nodes[0]!)], extraArgs: common }).then((n) => (started.push(n), n)))),
    startRelay({ extraArgs: ["--name", "adm-plain"] }).then((n) => (started.push(n), n)),
  ]);
  nodes.push(...rest);
  plainNode = plain;
  await waitForMembership(nodes, names, 20_000);
  // Membership alone is not enough: a survey's calls follow routes built from link-state adverts.
  await waitForRoutes(nodes, 20_000);
  figure(`${SIZE} nodes up, full membership and routes ${Math.round(performance.now() - t0)} ms after the first start`);
}, 45_000);

afterAll(async () => {
  for (const node of [...stopped]) sigcont(node);
  await Promise.all(clients.map(async (c) => c.close()).map((p) => p.catch(() => undefined)));
  await stopAll(started);
  await killAll();
}, 20_000);

describe("admin API on 5 nodes", () => {
  test("every query is answered from every node, by all 5", async () => {
    // A subscriber, so `channels` and `stats` have something to show.
    const sub = await RawClient.open(nodes[1]!.url);
    clients.push(sub);
    expect((await sub.request({ op: "sub", channel: "admin.query" })).op).toBe("ack");
    // Channel records reach the others by gossip: wait until every node holds the record.
    await pollUntil(
      async () => {
        const lists = await Promise.all(nodes.map((n) => fetch(`${n.httpUrl}/channels`).then((r) => r.json() as Promise<{ channels: { name: string }[] }>).catch(() => null)));
        return lists.every((l) => l?.channels.some((c) => c.name === "admin.query"));
      },
      "every node holding channel admin.query",
      10_000,
    );

    const slowest = { ms: 0, what: "" };
    for (const asked of nodes) {
      for (const query of ["nodes", "topology", "channels", "stats"]) {
        const t = performance.now();
        const answer = await survey(asked, query);
        const took = performance.now() - t;
        if (took > slowest.ms) Object.assign(slowest, { ms: took, what: `${query} at ${asked.name}` });
        expect({ asked: answer.asked, query: answer.query, partial: answer.partial, missing: answer.missing, answered: Object.keys(answer.nodes).sort() }).toEqual({
          asked: asked.name,
          query,
          partial: false,
          missing: [],
          answered: names,
        });
        if (query === "nodes") {
          for (const [node, members] of Object.entries(dataOf<{ name: string; state: string }[]>(answer))) {
            expect({ node, alive: members.filter((m) => m.state === "alive").map((m) => m.name).sort() }).toEqual({ node, alive: names });
          }
        } else if (query === "topology") {
          // Each node reports its own links; together they connect all five.
          const edges = Object.entries(dataOf<{ links: { peer: string }[] }>(answer)).flatMap(([node, t]) => t.links.map((l) => ({ a: node, b: l.peer, rtt: 0 })));
          for (const other of names) expect(hopsBetween({ self: asked.name, nodes: [], links: edges }, asked.name, other)).not.toBeNull();
        } else if (query === "channels") {
          const lists = dataOf<{ name: string; subscribers: Record<string, number | null> }[]>(answer);
          for (const n of names) expect(lists[n]!.some((c) => c.name === "admin.query")).toBe(true);
          // The subscriber's own node knows its exact count.
          expect(lists[names[1]!]!.find((c) => c.name === "admin.query")!.subscribers[names[1]!]).toBe(1);
        } else {
          const stats = dataOf<{ connections: number; subscriptions: number; peers: number; version: string; draining: boolean; uptimeSeconds: number }>(answer);
          for (const n of names) {
            expect(stats[n]).toMatchObject({ draining: false });
            expect(stats[n]!.peers).toBeGreaterThan(0);
            expect(typeof stats[n]!.version).toBe("string");
          }
          expect(stats[names[1]!]).toMatchObject({ connections: 1, subscriptions: 1 });
        }
      }
    }
    figure(`20 surveys (4 queries x 5 nodes) complete; slowest ${Math.round(slowest.ms)} ms (${slowest.what})`);
    await sub.close();
  }, 30_000);

  test("the CLI prints the stats table and, with --json, the API's answer", async () => {
    const url = nodes[2]!.httpUrl;
    const table = await runCli(["admin", "stats", "--url", url, "--token", TOKEN], { timeoutMs: 15_000 });
    expect({ code: table.code, stderr: table.stderr }).toEqual({ code: 0, stderr: "" });
    const lines = table.stdout.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^NODE\s+CONNS\s+SUBS\s+CHANNELS\s+PEERS\s+PUB\/S\s+DELIVER\/S\s+RSS MIB\s+UPTIME S\s+VERSION\s+STATE$/);
    // One row per node, sorted by name, each "ok" (not draining).
    const rows = lines.slice(1, 1 + SIZE);
    expect(rows.map((r) => r.split(/\s+/)[0])).toEqual(names);
    for (const r of rows) expect(r).toMatch(/\sok$/);
    expect(lines[1 + SIZE]).toBe("");
    expect(lines[2 + SIZE]).toMatch(new RegExp(`^${SIZE} node\\(s\\) answered in \\d+ ms \\(asked ${nodes[2]!.name}\\)$`));
    expect(table.stdout).not.toContain("PARTIAL");

    const json = await runCli(["admin", "stats", "--url", url, "--token", TOKEN, "--json"], { timeoutMs: 15_000 });
    expect(json.code).toBe(0);
    const answer = JSON.parse(json.stdout) as SurveyAnswer;
    expect(answer).toMatchObject({ query: "stats", asked: nodes[2]!.name, partial: false, missing: [] });
    expect(Object.keys(answer.nodes).sort()).toEqual(names);
    figure(`relay admin stats: ${Math.round(table.ms)} ms (table), ${Math.round(json.ms)} ms (--json)`);
  }, 30_000);

  test("the token is enforced: none or a wrong one is 401; a node without --admin-token is 403", async () => {
    const node = nodes[3]!;
    const before = /relay_admin_unauthorized_total (\d+)/.exec(await metrics(node))?.[1];
    const none = await admin(node, "stats", { token: null });
    expect(none).toEqual({ status: 401, body: { error: { code: "unauthorized", message: expect.any(String) } } });
    const wrong = await admin(node, "stats", { token: `${TOKEN}-wrong` });
    expect(wrong).toMatchObject({ status: 401, body: { error: { code: "unauthorized" } } });
    // Commands are behind the same door, and a refused one does nothing.
    const drain = await admin(node, "drain", { method: "POST", body: { node: node.name }, token: "x".repeat(TOKEN.length) });
    expect(drain).toMatchObject({ status: 401, body: { error: { code: "unauthorized" } } });
    expect(((await fetch(`${node.httpUrl}/healthz`).then((r) => r.json())) as { status: string }).status).toBe("ok");
    const after = /relay_admin_unauthorized_total (\d+)/.exec(await metrics(node))?.[1];
    expect(Number(after) - Number(before)).toBe(3);

    const plain = await admin(plainNode, "stats");
    expect(plain).toMatchObject({ status: 403, body: { error: { code: "admin_disabled" } } });
    const cli = await runCli(["admin", "stats", "--url", nodes[0]!.httpUrl, "--token", "not-the-token-at-all"], { timeoutMs: 15_000 });
    expect(cli.code).toBe(1);
    expect(cli.stderr).toContain("unauthorized");
  }, 30_000);

  test("a SIGSTOPped node: the survey is partial, names it, and returns within the timeout", async () => {
    const victim = nodes[3]!;
    const asked = nodes[0]!;
    sigstop(victim);
    try {
      const t = performance.now();
      const answer = await survey(asked, "stats", 1_000);
      const took = performance.now() - t;
      figure(`stats at ${asked.name} with ${victim.name} stopped: ${Math.round(took)} ms, partial ${answer.partial}, missing ${answer.missing.join(",")}`);
      expect(answer.partial).toBe(true);
      expect(answer.missing).toEqual([victim.name]);
      expect(Object.keys(answer.nodes).sort()).toEqual(names.filter((n) => n !== victim.name));
      expect(took).toBeGreaterThanOrEqual(950);
      expect(took).toBeLessThan(2_000);
    } finally {
      sigcont(victim);
    }
    // Back: a survey is complete again (the stop was shorter than a link takes to be declared dead).
    await pollUntil(async () => !(await survey(asked, "stats", 1_000)).partial, "a complete survey after SIGCONT", 10_000, 100);
  }, 30_000);

  test("kick: a client is disconnected by id (4010) without naming its node", async () => {
    const holder = nodes[2]!;
    const victim = await RawClient.open(holder.url);
    clients.push(victim);
    const bystander = await RawClient.open(holder.url);
    clients.push(bystander);
    const id = victim.frames.find((f) => f.op === "welcome")!.client as string;
    expect(id).toEqual(expect.any(String));

    const kicked = await admin(nodes[0]!, "kick", { method: "POST", body: { client: id } });
    expect(kicked).toEqual({ status: 200, body: { command: "kick", ok: true, nodes: [holder.name], partial: false, missing: [] } });
    await victim.next((f) => f.op === "error" && f.code === "kicked", "the kicked error frame");
    await waitFor(() => victim.closed, "the kicked client's close");
    expect(victim.closed!.code).toBe(4010);
    // Only that client.
    expect((await bystander.request({ op: "ping" })).op).toBe("pong");

    const again = await admin(nodes[0]!, "kick", { method: "POST", body: { client: id } });
    expect(again).toMatchObject({ status: 404, body: { ok: false, error: { code: "unknown_client" }, partial: false } });
    await bystander.close();
  }, 30_000);

  test("a replayed command is refused by its target, as is an expired one", async () => {
    const target = nodes[1]!;
    const key = commandKey(CLUSTER_KEY);
    const fake = await FakePeer.connect(target, "adm-fake");
    try {
      // A fresh command: carried out.
      const command = signCommand(key, fake.name, target.name, "stats", {}, Date.now());
      const frame = FakePeer.rpc(fake.name, 1, command);
      fake.send(frame);
      const [first] = await waitFor(() => (fake.replies(1).length >= 1 ? fake.replies(1) : null), "the answer to the first command");
      expect(first).toMatchObject({ id: command.id, from: target.name, result: { ok: true, data: { draining: false } } });
      expect(answerIsAuthentic(key, first!)).toBe(true);

      // The very same bytes again: refused as a replay, with a signed answer saying so.
      fake.send(frame);
      const second = (await waitFor(() => (fake.replies(1).length >= 2 ? fake.replies(1) : null), "the answer to the replayed command"))[1]!;
      expect(second).toMatchObject({ id: command.id, from: target.name, result: { ok: false, code: "replayed" } });
      expect(answerIsAuthentic(key, second)).toBe(true);

      // Signed a minute ago: its 30 s lifetime is over.
      const old = signCommand(key, fake.name, target.name, "stats", {}, Date.now() - 60_000);
      fake.send(FakePeer.rpc(fake.name, 2, old));
      const [expired] = await waitFor(() => (fake.replies(2).length >= 1 ? fake.replies(2) : null), "the answer to the expired command");
      expect(expired).toMatchObject({ id: old.id, result: { ok: false, code: "expired" } });

      // Signed with another key: a forgery.
      const forged = signCommand(commandKey(`${CLUSTER_KEY}-other`), fake.name, target.name, "drain", {}, Date.now());
      fake.send(FakePeer.rpc(fake.name, 3, forged));
      const [bad] = await waitFor(() => (fake.replies(3).length >= 1 ? fake.replies(3) : null), "the answer to the forged command");
      expect(bad).toMatchObject({ result: { ok: false, code: "bad_signature" } });
      expect(((await fetch(`${target.httpUrl}/healthz`).then((r) => r.json())) as { status: string }).status).toBe("ok");

      // The node logged each refusal and counted it by reason.
      await target.stderr.waitForLine((l) => l.includes(`refused a command from ${fake.name}: replayed`), 5_000);
      await target.stderr.waitForLine((l) => l.includes(`refused a command from ${fake.name}: expired`), 5_000);
      const text = await metrics(target);
      expect(text).toContain('relay_admin_refused_total{reason="replayed"} 1');
      expect(text).toContain('relay_admin_refused_total{reason="expired"} 1');
      expect(text).toContain('relay_admin_refused_total{reason="bad_signature"} 1');
    } finally {
      await fake.leave();
    }
    // Gone for good: no later survey waits for the fake peer.
    await waitForMemberState(nodes, fake.name, ["left"], 10_000);
  }, 30_000);

  test("drain: /healthz says draining (503), clients are told to move and do, new upgrades get 503", async () => {
    const drained = nodes[4]!;
    const others = nodes.filter((n) => n !== drained);
    const otherNames = others.map((n) => n.name);
    const channel = "admin.drain";

    const raw = await RawClient.open(drained.url);
    clients.push(raw);
    const sdk: Client = await connect({ url: drained.url, backoff: { initialMs: 10, maxMs: 200 } });
    clients.push(sdk);
    expect(sdk.node).toBe(drained.name);
    const got: Message[] = [];
    await sdk.subscribe(channel, (m) => void got.push(m));

    const t0 = performance.now();
    const answer = await admin(nodes[0]!, "drain", { method: "POST", body: { node: drained.name } });
    expect(answer).toMatchObject({ status: 200, body: { command: "drain", node: drained.name, ok: true, data: { clients: 2 } } });
    const suggested = (answer.body.data as { suggested: string[] }).suggested;
    expect(suggested.length).toBeGreaterThan(0);
    for (const s of suggested) expect(otherNames).toContain(s);

    // /healthz: draining, with 503 so a load balancer stops sending clients.
    const health = await fetch(`${drained.httpUrl}/healthz`);
    expect(health.status).toBe(503);
    expect(((await health.json()) as { status: string }).status).toBe("draining");
    // The rest of the mesh sees it draining too, while it is still a member.
    const stats = dataOf<{ draining: boolean }>(await survey(nodes[0]!, "stats"));
    expect(stats[drained.name]!.draining).toBe(true);
    expect(otherNames.every((n) => stats[n]!.draining === false)).toBe(true);

    // The raw client got a goaway naming live nodes, by name and client URL.
    const goaway = await raw.next((f) => f.op === "goaway", "the goaway frame");
    const named = goaway.nodes as { name: string; url: string }[];
    expect(named.map((n) => n.name)).toEqual(suggested);
    for (const n of named) expect(n.url).toBe(nodes.find((x) => x.name === n.name)!.url);

    // A new client is turned away at the upgrade.
    const late = await RawSocket.connect(drained.port);
    try {
      expect(late.bytes.toString("latin1").split("\r\n")[0]).toBe("HTTP/1.1 503 Service Unavailable");
      // The body may come in a later segment than the head.
      await waitFor(() => late.bytes.includes('"code":"draining"'), "the 503 body naming draining");
    } finally {
      late.end();
    }

    // The SDK client moved to another node by itself, and still gets what is published elsewhere.
    await waitFor(() => sdk.node !== null && sdk.node !== drained.name, "the SDK client on another node", 10_000);
    const movedTo = sdk.node!;
    expect(otherNames).toContain(movedTo);
    const moveMs = performance.now() - t0;
    const elsewhere = others.find((n) => n.name !== movedTo)!;
    const publisher = await RawClient.open(elsewhere.url);
    clients.push(publisher);
    // Probes until one arrives: the resubscription and its interest take a moment to reach the publisher's node.
    let i = 0;
    await pollUntil(
      async () => {
        const ack = await publisher.request({ op: "pub", channel, data: { probe: i++ } });
        if (ack.op !== "ack") throw new Error(`publish refused: ${JSON.stringify(ack)}`);
        return got.length > 0;
      },
      `a message from ${elsewhere.name} at the moved SDK client on ${movedTo}`,
      10_000,
    );
    expect(got[0]!.channel).toBe(channel);
    figure(`drain of ${drained.name}: suggested ${suggested.join(",")}; SDK client on ${movedTo} ${Math.round(moveMs)} ms after the command; delivery from ${elsewhere.name} after ${i} probe(s)`);

    // After the grace period the node leaves the mesh and closes whoever stayed, with 1001.
    await waitFor(() => raw.closed, "the raw client closed by the drained node", 10_000);
    expect(raw.closed!.code).toBe(1001);
    await waitForMemberState(others, drained.name, ["left"], 10_000);
    // Then the others' surveys are complete without it.
    const after = await survey(nodes[0]!, "stats");
    expect({ partial: after.partial, answered: Object.keys(after.nodes).sort() }).toEqual({ partial: false, answered: otherNames });
    await publisher.close();
    sdk.close();
  }, 40_000);

  // PRODUCT BUG (fails): see the report. A survey asks only members in state "alive"
  // (server.ts: members: () => ...filter(m => m.state === "alive")), so a member the mesh holds as
  // "suspect" is neither asked nor named in `missing`, and the answer says partial: false.
  test("a member the mesh suspects is named as missing, not silently left out", async () => {
    const victim = nodes[3]!;
    const asked = nodes[0]!;
    const live = nodes.filter((n) => n !== nodes[4]);
    sigstop(victim);
    try {
      // A stopped node's links die after LINK_DEAD_MS of silence, and it is suspect LINK_DEAD_MS later.
      await waitForMemberState([asked], victim.name, ["suspect"], 12_000);
      const members = dataOf<{ name: string; state: string }[]>(await survey(asked, "nodes", 1_000))[asked.name]!;
      expect(members.find((m) => m.name === victim.name)?.state).toBe("suspect");
      const answer = await survey(asked, "stats", 1_000);
      figure(`stats at ${asked.name} with ${victim.name} suspect: partial ${answer.partial}, missing [${answer.missing.join(",")}], answered ${Object.keys(answer.nodes).sort().join(",")}`);
      expect(Object.keys(answer.nodes).sort()).toEqual(live.map((n) => n.name).filter((n) => n !== victim.name));
      expect(answer.partial).toBe(true);
      expect(answer.missing).toEqual([victim.name]);
    } finally {
      sigcont(victim);
    }
  }, 30_000);
});
