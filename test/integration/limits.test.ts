import { afterEach, describe, expect, test } from "bun:test";
import { decode, encode } from "@msgpack/msgpack";
import type { RelayNode } from "../../src/node/server.ts";
import type { RawConfig } from "../../src/node/config.ts";
import { RawClient, startTestNode, waitFor } from "../helpers/node.ts";
import { RawSocket } from "../helpers/raw-socket.ts";

const nodes: RelayNode[] = [];
const clients: RawClient[] = [];
const sockets: RawSocket[] = [];
function node(settings: RawConfig = {}, now?: () => number): RelayNode {
  const n = startTestNode(settings, now);
  nodes.push(n);
  return n;
}
async function client(n: RelayNode, protocols?: string | string[]): Promise<RawClient> {
  const c = await RawClient.open(n.url, protocols);
  clients.push(c);
  return c;
}
afterEach(async () => {
  for (const s of sockets.splice(0)) s.end();
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await Promise.all(nodes.splice(0).map((n) => n.stop()));
});

/** The connection still works: a ping is answered. */
async function alive(c: RawClient): Promise<void> {
  expect(await c.request({ op: "ping" })).toMatchObject({ op: "pong" });
  expect(c.closed).toBeNull();
}

describe("bad input gets a stable code and the connection survives", () => {
  test.each([
    ["invalid JSON", "{nope", "bad_frame"],
    ["a JSON array", "[]", "bad_frame"],
    ["an unknown op", '{"op":"explode"}', "unknown_op"],
    ["a frame without op", '{"channel":"x"}', "bad_frame"],
    ["a bad channel", '{"op":"sub","channel":"a b"}', "bad_channel"],
    ["a 256-byte channel", JSON.stringify({ op: "sub", channel: "x".repeat(256) }), "bad_channel"],
    ["a pub without data", '{"op":"pub","channel":"x"}', "bad_frame"],
  ])("%s -> %s", async (_what, text, code) => {
    const n = node();
    const c = await client(n);
    const bystander = await client(n);
    await bystander.request({ op: "sub", channel: "calm" });
    c.send(text);
    expect(await c.next((f) => f.op === "error")).toMatchObject({ op: "error", code, message: expect.any(String) });
    await alive(c);
    await c.request({ op: "pub", channel: "calm", data: "still here" });
    await bystander.next((f) => f.op === "msg" && f.data === "still here");
    expect(await (await fetch(`http://127.0.0.1:${n.port}/metrics`)).text()).toContain(`relay_errors_total{code="${code}"} 1`);
  });

  test("garbage binary frames get bad_frame", async () => {
    const n = node();
    const c = await client(n);
    c.send(new Uint8Array([0xc1, 0xff, 0x00]));
    expect(await c.next((f) => f.op === "error")).toMatchObject({ code: "bad_frame" });
    c.send(new Uint8Array([0xdb, 0xff, 0xff, 0xff, 0xff])); // a str32 length bomb
    await waitFor(() => c.frames.filter((f) => f.op === "error").length === 2, "second error");
    await alive(c);
  });

  test("a payload nested too deeply is refused whole: no subscriber of either encoding gets it", async () => {
    const n = node();
    const pub = await client(n);
    const js = await client(n);
    const mp = await RawClient.open(n.url, "relay.v1.msgpack", (d) => decode(new Uint8Array(d as ArrayBuffer)) as Record<string, unknown>);
    clients.push(mp);
    await js.request({ op: "sub", channel: "deep" });
    mp.send(encode({ op: "sub", channel: "deep", id: 1 }));
    await mp.next((f) => f.op === "ack");
    const deep = `${"[".repeat(200)}${"]".repeat(200)}`;
    pub.send(`{"op":"pub","channel":"deep","id":7,"data":${deep}}`);
    expect(await pub.next((f) => f.id === 7)).toMatchObject({ op: "error", code: "bad_frame" });
    await pub.request({ op: "pub", channel: "deep", data: "after" });
    await js.next((f) => f.op === "msg" && f.data === "after");
    await mp.next((f) => f.op === "msg" && f.data === "after");
    expect(js.messages()).toHaveLength(1);
    expect(mp.messages()).toHaveLength(1);
    expect(await (await fetch(`http://127.0.0.1:${n.port}/metrics`)).text()).not.toContain('code="internal"');
  });

  test("the mesh door delivers to local subscribers and drops what it cannot deliver safely", async () => {
    const n = node();
    const c = await client(n);
    await c.request({ op: "sub", channel: "from.peer" });
    const instance = n.channel("from.peer")!.instance;
    n.deliverFromPeer("from.peer", instance, { hop: 1 }, "zz.9");
    expect(await c.next((f) => f.op === "msg")).toEqual({ op: "msg", channel: "from.peer", from: "zz.9", data: { hop: 1 } });
    n.deliverFromPeer("from.peer", instance, "spoof", 'x","data":"evil');
    n.deliverFromPeer('from.peer","x', instance, "bad channel", undefined);
    // Another instance of the same name (another side of a partition) never reaches this subscriber.
    n.deliverFromPeer("from.peer", "elsewhere~1~0", "leak", undefined);
    n.deliverFromPeer("from.peer", instance, "last", undefined);
    expect(await c.next((f) => f.op === "msg" && f.data === "last")).toEqual({ op: "msg", channel: "from.peer", data: "last" });
    expect(c.messages()).toHaveLength(2);
  });

  test("an error answers the request id it refuses", async () => {
    const n = node();
    const c = await client(n);
    expect(await c.request({ op: "pub", channel: "bad channel", data: 1 })).toMatchObject({ op: "error", code: "bad_channel" });
  });

  test("an unsupported subprotocol is refused at the upgrade with a JSON error", async () => {
    const n = node();
    const res = await fetch(`http://127.0.0.1:${n.port}/`, {
      headers: { Upgrade: "websocket", Connection: "Upgrade", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version": "13", "Sec-WebSocket-Protocol": "mqtt" },
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: { code: "unsupported_protocol" } });
  });
});

describe("limits", () => {
  test("a payload over --max-payload gets payload_too_large and the connection stays", async () => {
    const n = node({ maxPayload: 1024 });
    const c = await client(n);
    expect(await c.request({ op: "pub", channel: "big", data: "x".repeat(1100) })).toMatchObject({ code: "payload_too_large" });
    expect(await c.request({ op: "pub", channel: "big", data: "x".repeat(1000) })).toMatchObject({ op: "ack" });
    await alive(c);
  });

  test("a frame far over the limit closes with 1009", async () => {
    const n = node({ maxPayload: 1024 });
    const c = await client(n);
    const other = await client(n);
    c.send(JSON.stringify({ op: "pub", channel: "big", data: "x".repeat(64 * 1024) }));
    await waitFor(() => c.closed, "close");
    expect(c.closed?.code).toBe(1009);
    await alive(other);
    await waitFor(async () => (await (await fetch(`http://127.0.0.1:${n.port}/metrics`)).text()).includes('relay_errors_total{code="payload_too_large"} 1'), "the cut counted");
  });

  test("publishing over the token bucket gets rate_limited, then recovers", async () => {
    let clock = 0;
    const n = node({ publishRate: 10, publishBurst: 2 }, () => clock);
    const c = await client(n);
    expect(await c.request({ op: "pub", channel: "r", data: 1 })).toMatchObject({ op: "ack" });
    expect(await c.request({ op: "pub", channel: "r", data: 2 })).toMatchObject({ op: "ack" });
    expect(await c.request({ op: "pub", channel: "r", data: 3 })).toMatchObject({ code: "rate_limited" });
    clock += 100; // one token at 10/s
    expect(await c.request({ op: "pub", channel: "r", data: 4 })).toMatchObject({ op: "ack" });
    await alive(c);
  });

  test("--max-subscriptions refuses one more, but re-subscribing an existing one is fine", async () => {
    const n = node({ maxSubscriptions: 2 });
    const c = await client(n);
    await c.request({ op: "sub", channel: "a" });
    await c.request({ op: "sub", channel: "b" });
    expect(await c.request({ op: "sub", channel: "c" })).toMatchObject({ code: "too_many_subscriptions" });
    expect(await c.request({ op: "sub", channel: "a" })).toMatchObject({ op: "ack" });
    await c.request({ op: "unsub", channel: "a" });
    expect(await c.request({ op: "sub", channel: "c" })).toMatchObject({ op: "ack" });
  });

  test("--max-connections turns the next client away with an error and 1013", async () => {
    const n = node({ maxConnections: 2 });
    const a = await client(n);
    await client(n);
    const third = await client(n);
    await waitFor(() => third.closed, "close of the third");
    expect(third.closed?.code).toBe(1013);
    expect(third.frames[0]).toMatchObject({ op: "error", code: "too_many_connections" });
    await alive(a);
  });

  test("a slow consumer is cut with 4008 while a healthy subscriber gets every message", async () => {
    const n = node({ maxBuffered: 256 * 1024, publishRate: 1_000_000, publishBurst: 1_000_000 });
    const slow = await RawSocket.connect(n.port);
    sockets.push(slow);
    slow.sendFrame(JSON.stringify({ op: "sub", channel: "firehose", id: 1 }));
    const healthy = await client(n);
    await healthy.request({ op: "sub", channel: "firehose" });
    await waitFor(async () => ((await (await fetch(`http://127.0.0.1:${n.port}/channels`)).json()) as { channels: { subscribers: Record<string, number> }[] }).channels[0]?.subscribers[n.name] === 2, "two subscribers");
    slow.pause();
    const pub = await client(n);
    const payload = "y".repeat(8 * 1024);
    // Publish in 400 KiB batches and run the node's sweep after each, as its timer does every
    // 100 ms; the kernel's loopback buffers absorb some MiB first, then the node's buffer grows.
    let sent = 0;
    while (n.metrics.slowConsumerCuts === 0) {
      expect(sent).toBeLessThan(4000); // 32 MiB without a cut would be a bug
      for (let i = 0; i < 50; i++, sent++) pub.send({ op: "pub", channel: "firehose", data: `${sent}:${payload}`, id: sent });
      await pub.next((f) => f.op === "ack" && f.id === sent - 1);
      await waitFor(() => healthy.messages().length === sent, "the batch at the healthy subscriber");
      n.sweepSlowConsumers();
    }
    // The paused socket cannot see its own close, so watch the node let go of it instead.
    const connections = async () => ((await (await fetch(`http://127.0.0.1:${n.port}/healthz`)).json()) as { connections: number }).connections;
    await waitFor(async () => (await connections()) === 2, "the node to drop the slow consumer");
    for (let i = 0; i < 50; i++, sent++) pub.send({ op: "pub", channel: "firehose", data: `${sent}:${payload}`, id: sent });
    await waitFor(() => healthy.messages().length === sent, "every message at the healthy subscriber");
    const total = sent;
    const seqs = healthy.messages().map((m) => Number(String(m.data).split(":")[0]));
    expect(seqs).toEqual([...Array(total).keys()]);
    expect(healthy.closed).toBeNull();
    expect(await (await fetch(`http://127.0.0.1:${n.port}/metrics`)).text()).toMatch(/^relay_slow_consumer_cuts_total 1$/m);
  });
});

describe("graceful shutdown", () => {
  test("stop closes clients with 1001 and refuses new ones", async () => {
    const n = startTestNode();
    const c = await RawClient.open(n.url);
    const stopped = n.stop();
    await waitFor(() => c.closed, "close");
    expect(c.closed?.code).toBe(1001);
    await stopped;
    await expect(fetch(`http://127.0.0.1:${n.port}/healthz`)).rejects.toThrow();
  });
});
