import { afterEach, describe, expect, test } from "bun:test";
import type { RelayNode } from "../../src/node/server.ts";
import { connect, RelayError, type Client, type ConnectionState, type Gap, type Message } from "../../src/sdk/index.ts";
import { startTestNode, waitFor } from "../helpers/node.ts";

const nodes: RelayNode[] = [];
const clients: Client[] = [];
const servers: { stop(force?: boolean): unknown }[] = [];
function node(settings: Record<string, unknown> = {}): RelayNode {
  const n = startTestNode(settings);
  nodes.push(n);
  return n;
}
async function client(target: Parameters<typeof connect>[0]): Promise<Client> {
  const c = await connect(target);
  clients.push(c);
  return c;
}
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  for (const s of servers.splice(0)) s.stop(true);
  await Promise.all(nodes.splice(0).map((n) => n.stop()));
});

/** A server that welcomes but never answers: the only way to see the SDK's own deadlines. */
function muteServer(): { port: number } {
  const mute = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    fetch: (req, srv) => (srv.upgrade(req) ? undefined : new Response("")),
    websocket: { open: (ws) => void ws.send(JSON.stringify({ op: "welcome", v: 1, node: "mute", client: "c", limits: { maxPayload: 65536, maxSubscriptions: 128, publishRate: 1, publishBurst: 1 } })), message() {} },
  });
  servers.push(mute);
  return { port: mute.port! };
}

async function rejection(p: Promise<unknown>): Promise<RelayError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(RelayError);
    return err as RelayError;
  }
  throw new Error("expected a rejection");
}

describe("SDK", () => {
  test("subscribe, publish with ack, unsubscribe", async () => {
    const n = node();
    const a = await client(n.url);
    const b = await client(`http://127.0.0.1:${n.port}`);
    expect(a.state).toBe("connected");
    expect(a.node).toBe("test-node");
    const got: Message[] = [];
    const sub = await a.subscribe("sdk.basic", (m) => got.push(m));
    await b.publish("sdk.basic", { hello: "world" });
    await waitFor(() => got.length === 1, "one message");
    expect(got[0]).toEqual({ channel: "sdk.basic", data: { hello: "world" }, from: b.clientId!, n: 1 });
    await sub.unsubscribe();
    await b.publish("sdk.basic", "after");
    await a.publish("sdk.other", "flush"); // an acked round trip on a's connection orders after any stray delivery
    expect(got).toHaveLength(1);
  });

  test("several handlers share one subscription; the last unsubscribe ends it", async () => {
    const n = node();
    const a = await client(n.url);
    const b = await client(n.url);
    const one: unknown[] = [];
    const two: unknown[] = [];
    const s1 = await a.subscribe("shared", (m) => one.push(m.data));
    await a.subscribe("shared", (m) => two.push(m.data));
    await b.publish("shared", 1);
    await waitFor(() => one.length === 1 && two.length === 1, "both handlers");
    await s1.unsubscribe();
    await b.publish("shared", 2);
    await waitFor(() => two.length === 2, "second handler still subscribed");
    expect(one).toEqual([1]);
  });

  test("MessagePack encoding carries bytes", async () => {
    const n = node();
    const a = await client({ url: n.url, encoding: "msgpack" });
    const b = await client({ url: n.url, encoding: "msgpack" });
    const got: unknown[] = [];
    await a.subscribe("bytes", (m) => got.push(m.data));
    await b.publish("bytes", new Uint8Array([9, 8, 7]));
    await waitFor(() => got.length === 1, "bytes");
    expect(got[0]).toEqual(new Uint8Array([9, 8, 7]));
  });

  test("bytes published from a JSON client arrive as bytes at a JSON client", async () => {
    const n = node();
    const a = await client(n.url);
    const b = await client(n.url);
    const got: unknown[] = [];
    await a.subscribe("bytes.json", (m) => got.push(m.data));
    await b.publish("bytes.json", new Uint8Array([1, 2]));
    await waitFor(() => got.length === 1, "bytes");
    expect(got[0]).toEqual(new Uint8Array([1, 2]));
  });

  test("refusals reject with a RelayError carrying the code", async () => {
    const n = node({ maxPayload: 100, maxSubscriptions: 1 });
    const a = await client(n.url);
    expect((await rejection(a.publish("bad channel", 1))).code).toBe("bad_channel");
    expect((await rejection(a.publish("ok", "x".repeat(200)))).code).toBe("payload_too_large");
    expect((await rejection(a.subscribe("no way", () => {}))).code).toBe("bad_channel");
    await a.subscribe("one", () => {});
    expect((await rejection(a.subscribe("two", () => {}))).code).toBe("too_many_subscriptions");
    await a.publish("ok", "still fine");
  });

  test("no answer in time rejects with timeout", async () => {
    const mute = muteServer();
    const a = await client({ url: `ws://127.0.0.1:${mute.port}`, requestTimeoutMs: 200 });
    expect((await rejection(a.publish("x", 1))).code).toBe("timeout");
  });

  test("close rejects what waits, and the client refuses new work with a rejected promise", async () => {
    const mute = muteServer();
    const a = await connect({ url: `ws://127.0.0.1:${mute.port}` });
    const waiting = a.publish("x", 1);
    a.close();
    expect(a.state).toBe("closed");
    expect((await rejection(waiting)).code).toBe("closed");
    const later = a.publish("x", 2); // must not throw synchronously
    expect((await rejection(later)).code).toBe("closed");
    expect((await rejection(a.subscribe("x", () => {}))).code).toBe("closed");
  });

  test("connect gives up after connectTimeoutMs, and can be aborted", async () => {
    const n = node();
    const port = n.port;
    await n.stop();
    const started = Date.now();
    expect((await rejection(connect({ url: `ws://127.0.0.1:${port}`, connectTimeoutMs: 300, backoff: { initialMs: 10, maxMs: 50 } }))).code).toBe("timeout");
    expect(Date.now() - started).toBeLessThan(5000);
    const abort = new AbortController();
    const pending = connect({ url: `ws://127.0.0.1:${port}`, signal: abort.signal, backoff: { initialMs: 10, maxMs: 50 } });
    abort.abort();
    expect((await rejection(pending)).code).toBe("closed");
  });

  test("concurrent subscribes to one channel all wait for the node's answer, and share a refusal", async () => {
    const n = node();
    const a = await client(n.url);
    const results = await Promise.allSettled([a.subscribe("bad chan", () => {}), a.subscribe("bad chan", () => {}, { echo: true })]);
    expect(results.map((r) => r.status)).toEqual(["rejected", "rejected"]);
    const [one, two] = await Promise.all([a.subscribe("good", () => {}), a.subscribe("good", () => {})]);
    expect(one.channel).toBe("good");
    expect(two.channel).toBe("good");
  });

  test("bytes just under --max-payload pass from a JSON client (base64 is larger on the wire)", async () => {
    const n = node({ maxPayload: 60 * 1024 });
    const a = await client(n.url);
    const b = await client(n.url);
    const got: unknown[] = [];
    await a.subscribe("big.bytes", (m) => got.push(m.data));
    await b.publish("big.bytes", new Uint8Array(60 * 1024).fill(7));
    await waitFor(() => got.length === 1, "the large message");
    expect((got[0] as Uint8Array).length).toBe(60 * 1024);
    expect((await rejection(b.publish("big.bytes", new Uint8Array(60 * 1024 + 1)))).code).toBe("payload_too_large");
  });

  test("thousands of queued publishes go out after a reconnect without quadratic cost", async () => {
    const first = node({ publishRate: 1_000_000, publishBurst: 1_000_000 });
    const port = first.port;
    const a = await client({ url: first.url, maxQueued: 20_000, backoff: { initialMs: 20, maxMs: 100 } });
    await first.stop();
    await waitFor(() => a.state === "reconnecting", "reconnecting");
    const queued = Array.from({ length: 20_000 }, (_, i) => a.publish("bulk", i));
    const overflow = a.publish("bulk", "one too many");
    expect((await rejection(overflow)).code).toBe("buffer_full");
    node({ port, publishRate: 1_000_000, publishBurst: 1_000_000 });
    await Promise.all(queued);
  });

  test("a first connection that cannot be made rejects when reconnect is off", async () => {
    const n = node();
    const port = n.port;
    await n.stop();
    expect((await rejection(connect({ url: `ws://127.0.0.1:${port}`, reconnect: false }))).code).toBe("closed");
  });

  test("reconnects and resubscribes after the node restarts on the same port; queued publishes go out", async () => {
    const first = node();
    const port = first.port;
    const states: ConnectionState[] = [];
    const a = await client({ url: first.url, backoff: { initialMs: 20, maxMs: 200 } });
    a.on("state", (s) => states.push(s));
    const got: unknown[] = [];
    await a.subscribe("survive", (m) => got.push(m.data), { echo: true });
    await first.stop();
    await waitFor(() => a.state === "reconnecting", "reconnecting");
    const queued = a.publish("survive", "sent while down");
    const second = node({ port });
    await waitFor(() => a.state === "connected", "reconnected");
    await queued;
    await waitFor(() => got.includes("sent while down"), "queued publish echoed back after resubscribe");
    const b = await client(second.url);
    await b.publish("survive", "after restart");
    await waitFor(() => got.includes("after restart"), "message after restart");
    expect(states).toEqual(["reconnecting", "connected"]);
  });

  test("fails over to the next bootstrap address", async () => {
    const n = node();
    const dead = startTestNode();
    const deadUrl = dead.url;
    await dead.stop();
    const a = await client({ bootstrap: [deadUrl, n.url], backoff: { initialMs: 10, maxMs: 50 } });
    expect(a.node).toBe("test-node");
    expect(a.state).toBe("connected");
  });
});

describe("SDK gap signal", () => {
  test("a reconnect reports a gap on every resubscribed channel, and a skipped n reports the messages missed", async () => {
    const n = startTestNode();
    const port = n.port;
    const a = await connect({ url: n.url, backoff: { initialMs: 20, maxMs: 100 } });
    const gaps: Gap[] = [];
    a.on("gap", (g) => gaps.push(g));
    try {
      await a.subscribe("gap.one", () => {});
      await n.stop();
      const again = startTestNode({ port });
      try {
        await waitFor(() => gaps.length === 1 && a.state === "connected", "a gap after the reconnect", 5000);
        expect(gaps).toEqual([{ channel: "gap.one", reason: "reconnect" }]);
        // The client reports the gap when it reconnects; the node holds the resubscription a moment later.
        const subscribed = async () => ((await (await fetch(`http://127.0.0.1:${port}/healthz`)).json()) as { subscriptions: number }).subscriptions === 1;
        await waitFor(subscribed, "the resubscription on the restarted node");
        // A publisher's n jumping from 1 to 4 means 2 and 3 never came (delivered through the mesh door with explicit n).
        const instance = again.channel("gap.one")!.instance;
        again.deliverFromPeer("gap.one", instance, "first", "pub.1", 1);
        again.deliverFromPeer("gap.one", instance, "fourth", "pub.1", 4);
        await waitFor(() => gaps.length === 2, "a sequence gap");
        expect(gaps[1]).toEqual({ channel: "gap.one", reason: "sequence", from: "pub.1", missed: 2 });
      } finally {
        await again.stop();
      }
    } finally {
      a.close();
    }
  });
});
