import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { decode, decodeMulti, encode } from "@msgpack/msgpack";
import type { RelayNode } from "../../src/node/server.ts";
import { RawClient, startTestNode, waitFor, type Frame } from "../helpers/node.ts";

let node: RelayNode;
const clients: RawClient[] = [];
const open = async (protocols?: string | string[], decoder?: (d: unknown) => Frame) => {
  const c = await RawClient.open(node.url, protocols, decoder);
  clients.push(c);
  return c;
};
const msgpackDecode = (d: unknown) => decode(new Uint8Array(d as ArrayBuffer)) as Frame;
const openMsgpack = () => open("relay.v1.msgpack", msgpackDecode);

beforeAll(() => {
  node = startTestNode();
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await node.stop();
});

describe("a single node", () => {
  test("welcome names the node, the client and the limits", async () => {
    const c = await open();
    const welcome = c.frames[0]!;
    expect(welcome).toMatchObject({ op: "welcome", v: 1, node: "test-node", limits: { maxPayload: 65536, maxSubscriptions: 128 } });
    expect(typeof welcome.client).toBe("string");
  });

  test("JSON round trip with acks and the publisher's id", async () => {
    const sub = await open();
    const pub = await open();
    expect(await sub.request({ op: "sub", channel: "json.rt" })).toMatchObject({ op: "ack" });
    expect(await pub.request({ op: "pub", channel: "json.rt", data: { n: 1, s: "é" } })).toMatchObject({ op: "ack" });
    const msg = await sub.next((f) => f.op === "msg");
    expect(msg).toEqual({ op: "msg", channel: "json.rt", from: pub.frames[0]!.client, n: 1, data: { n: 1, s: "é" } });
  });

  test("a JSON client can use the explicit subprotocol, and no frame is acked without an id", async () => {
    const c = await open("relay.v1.json");
    expect(c.ws.protocol).toBe("relay.v1.json");
    c.send({ op: "sub", channel: "noid" });
    c.send({ op: "ping", id: 1 });
    await c.next((f) => f.op === "pong" && f.id === 1);
    expect(c.frames.filter((f) => f.op === "ack")).toHaveLength(0);
  });

  test("MessagePack round trip, bytes stay bytes", async () => {
    const sub = await openMsgpack();
    const pub = await openMsgpack();
    expect(sub.ws.protocol).toBe("relay.v1.msgpack");
    sub.send(encode({ op: "sub", channel: "mp.rt", id: 1 }));
    await sub.next((f) => f.op === "ack" && f.id === 1);
    pub.send(encode({ op: "pub", channel: "mp.rt", data: new Uint8Array([0, 1, 255]), id: 2 }));
    await pub.next((f) => f.op === "ack" && f.id === 2);
    const msg = await sub.next((f) => f.op === "msg");
    expect(msg.data).toEqual(new Uint8Array([0, 1, 255]));
  });

  test("across encodings: bytes reach JSON clients as base64 with bin, JSON values reach MessagePack clients", async () => {
    const js = await open();
    const mp = await openMsgpack();
    await js.request({ op: "sub", channel: "cross" });
    mp.send(encode({ op: "sub", channel: "cross", id: 1 }));
    await mp.next((f) => f.op === "ack");
    mp.send(encode({ op: "pub", channel: "cross", data: new Uint8Array([1, 2, 3]), id: 2 }));
    expect(await js.next((f) => f.op === "msg")).toMatchObject({ channel: "cross", bin: true, data: "AQID" });
    await js.request({ op: "pub", channel: "cross", data: [1, "two", { three: 3 }] });
    expect(await mp.next((f) => f.op === "msg")).toMatchObject({ channel: "cross", data: [1, "two", { three: 3 }] });
    // A JSON client may publish bytes too, as base64 with bin.
    await js.request({ op: "pub", channel: "cross", bin: true, data: "/wA=" });
    expect(await mp.next((f) => f.op === "msg" && f.data instanceof Uint8Array)).toMatchObject({ data: new Uint8Array([255, 0]) });
  });

  test("a publisher does not get its own message unless it subscribed with echo", async () => {
    const quiet = await open();
    const loud = await open();
    await quiet.request({ op: "sub", channel: "echo" });
    await loud.request({ op: "sub", channel: "echo", echo: true });
    await quiet.request({ op: "pub", channel: "echo", data: "from quiet" });
    await loud.request({ op: "pub", channel: "echo", data: "from loud" });
    await loud.next((f) => f.op === "msg" && f.data === "from loud");
    await quiet.next((f) => f.op === "msg" && f.data === "from loud");
    await loud.next((f) => f.op === "msg" && f.data === "from quiet");
    // Ordering per connection is preserved, so a ping answered after both publishes proves nothing else is in flight.
    await quiet.request({ op: "ping" });
    expect(quiet.messages().map((m) => m.data)).toEqual(["from loud"]);
  });

  test("unsubscribe stops delivery, and is acked even when not subscribed", async () => {
    const sub = await open();
    const pub = await open();
    await sub.request({ op: "sub", channel: "unsub" });
    await pub.request({ op: "pub", channel: "unsub", data: 1 });
    await sub.next((f) => f.op === "msg" && f.data === 1);
    expect(await sub.request({ op: "unsub", channel: "unsub" })).toMatchObject({ op: "ack" });
    expect(await sub.request({ op: "unsub", channel: "never" })).toMatchObject({ op: "ack" });
    await pub.request({ op: "pub", channel: "unsub", data: 2 });
    // A second subscriber proves message 2 was delivered; the unsubscribed one must not have it.
    const witness = await open();
    await witness.request({ op: "sub", channel: "unsub" });
    await pub.request({ op: "pub", channel: "unsub", data: 3 });
    await witness.next((f) => f.op === "msg" && f.data === 3);
    await sub.request({ op: "ping" });
    expect(sub.messages().map((m) => m.data)).toEqual([1]);
  });

  test("three subscribers get one copy each, subscribing twice changes nothing", async () => {
    const subs = [await open(), await open(), await openMsgpack()];
    for (const s of subs.slice(0, 2)) {
      await s.request({ op: "sub", channel: "three" });
      await s.request({ op: "sub", channel: "three" });
    }
    subs[2]!.send(encode({ op: "sub", channel: "three", id: 1 }));
    await subs[2]!.next((f) => f.op === "ack");
    const pub = await open();
    for (let i = 0; i < 50; i++) pub.send({ op: "pub", channel: "three", data: i, id: i });
    await pub.next((f) => f.op === "ack" && f.id === 49);
    for (const s of subs) await waitFor(() => s.messages().length >= 50, "50 messages");
    // Anything extra would have arrived by the time a later ping is answered on each connection.
    for (const s of subs.slice(0, 2)) await s.request({ op: "ping" });
    for (const s of subs) expect(s.messages().map((m) => m.data)).toEqual([...Array(50).keys()]);
    const channels = (await (await fetch(`http://127.0.0.1:${node.port}/channels`)).json()) as { channels: { name: string; subscribers: Record<string, number> }[] };
    expect(channels.channels.find((c) => c.name === "three")?.subscribers).toEqual({ [node.name]: 3 });
  });
});

describe("HTTP", () => {
  const get = (path: string, init?: RequestInit) => fetch(`http://127.0.0.1:${node.port}${path}`, init);

  test("GET /healthz", async () => {
    const res = await get("/healthz");
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ status: "ok", node: "test-node", version: expect.any(String) });
  });

  test("GET /metrics is Prometheus text with the documented series", async () => {
    const text = await (await get("/metrics")).text();
    for (const name of ["relay_connections", "relay_subscriptions", "relay_channels", "relay_messages_in_total", "relay_messages_out_total", "relay_bytes_in_total", "relay_bytes_out_total", "relay_errors_total", "relay_slow_consumer_cuts_total", "relay_process_resident_memory_bytes"]) {
      expect(text).toContain(`# TYPE ${name} `);
    }
    expect(text).toMatch(/^relay_messages_out_total [1-9]\d*$/m);
  });

  test("GET /nodes follows the directory contract", async () => {
    expect(await (await get("/nodes")).json()).toMatchObject({ self: "test-node", nodes: [{ name: "test-node", url: node.url, state: "alive" }] });
  });

  test("GET / is the status page; unknown paths and methods get JSON errors", async () => {
    const page = await get("/");
    expect(page.headers.get("content-type")).toContain("text/html");
    expect(await page.text()).toContain("test-node");
    const missing = await get("/nope");
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({ error: { code: "not_found" } });
    expect((await get("/healthz", { method: "POST" })).status).toBe(405);
  });
});

describe("protocol version 2: batched messages", () => {
  /** A raw client that keeps each WebSocket message whole, to see how frames were packed. */
  class V2Client {
    readonly messages: (string | Uint8Array)[] = [];
    readonly frames: Frame[] = [];
    closed = false;
    private constructor(readonly ws: WebSocket) {
      ws.binaryType = "arraybuffer";
      ws.onmessage = (ev) => {
        const raw = typeof ev.data === "string" ? ev.data : new Uint8Array(ev.data as ArrayBuffer);
        this.messages.push(raw);
        if (typeof raw === "string") for (const line of raw.split("\n")) this.frames.push(JSON.parse(line) as Frame);
        else for (const f of decodeMulti(raw)) this.frames.push(f as Frame);
      };
      ws.onclose = () => {
        this.closed = true;
      };
    }
    static async open(protocols: string | string[]): Promise<V2Client> {
      const c = new V2Client(new WebSocket(node.url, protocols));
      await waitFor(() => c.frames.some((f) => f.op === "welcome"), "welcome");
      return c;
    }
    send(frame: Record<string, unknown>): void {
      this.ws.send(this.ws.protocol.endsWith("msgpack") ? encode(frame) : JSON.stringify(frame));
    }
    async subscribe(channel: string, extra: Record<string, unknown> = {}): Promise<void> {
      this.send({ op: "sub", channel, id: 1, ...extra });
      await waitFor(() => this.frames.some((f) => f.op === "ack" && f.id === 1), `the ack of sub ${channel}`);
    }
    msgs(): Frame[] {
      return this.frames.filter((f) => f.op === "msg");
    }
    async close(): Promise<void> {
      this.ws.close();
      await waitFor(() => this.closed, "close");
    }
  }

  test("a burst reaches a v2 client in fewer WebSocket messages, every frame in order; v1 clients get one frame per message", async () => {
    const v2 = await V2Client.open(["relay.v2.json", "relay.v1.json"]);
    const v2m = await V2Client.open("relay.v2.msgpack");
    const v1 = await V2Client.open("relay.v1.json");
    const pub = await open();
    try {
      expect(v2.ws.protocol).toBe("relay.v2.json");
      expect(v2.frames[0]).toMatchObject({ op: "welcome", v: 2 });
      expect(v1.frames[0]).toMatchObject({ op: "welcome", v: 1 });
      for (const c of [v2, v2m, v1]) await c.subscribe("burst");
      const count = 500;
      // Sent back to back: they reach the node in a few reads, and each read's messages leave together.
      for (let i = 0; i < count; i++) pub.send({ op: "pub", channel: "burst", data: { i, text: "x".repeat(50) } });
      for (const c of [v2, v2m, v1]) await waitFor(() => c.msgs().length === count, `${count} messages on ${c.ws.protocol}`);
      for (const c of [v2, v2m, v1]) expect(c.msgs().map((m) => (m.data as { i: number }).i)).toEqual([...Array(count).keys()]);
      const v2Messages = (c: V2Client) => c.messages.length - 2; // less the welcome and the ack
      console.log(`[v2] ${count} frames: v2 JSON in ${v2Messages(v2)} WebSocket messages, v2 MessagePack in ${v2Messages(v2m)}, v1 in ${v2Messages(v1)}`);
      expect(v2Messages(v2)).toBeLessThan(count);
      expect(v2Messages(v2m)).toBeLessThan(count);
      expect(v2Messages(v1)).toBe(count);
      // A batch stays near 64 KiB: no message is much larger than one batch plus one frame.
      expect(Math.max(...v2.messages.map((m) => m.length))).toBeLessThan(64 * 1024 + 200);
    } finally {
      await Promise.all([v2.close(), v2m.close(), v1.close()]);
    }
  });

  test("a v2 publisher subscribed without echo never gets its own messages, and the others' order holds", async () => {
    const a = await V2Client.open("relay.v2.json");
    const b = await V2Client.open("relay.v2.json");
    const watcher = await V2Client.open("relay.v2.json");
    try {
      for (const c of [a, b, watcher]) await c.subscribe("mixed");
      for (let i = 0; i < 200; i++) {
        a.send({ op: "pub", channel: "mixed", data: `a${i}` });
        b.send({ op: "pub", channel: "mixed", data: `b${i}` });
      }
      await waitFor(() => watcher.msgs().length === 400 && a.msgs().length === 200 && b.msgs().length === 200, "every delivery");
      const from = (c: V2Client, who: string) => c.msgs().map((m) => m.data as string).filter((d) => d.startsWith(who));
      const expected = (who: string) => [...Array(200).keys()].map((i) => `${who}${i}`);
      expect(from(watcher, "a")).toEqual(expected("a"));
      expect(from(watcher, "b")).toEqual(expected("b"));
      expect(from(a, "a")).toEqual([]);
      expect(from(a, "b")).toEqual(expected("b"));
      expect(from(b, "a")).toEqual(expected("a"));
      expect(from(b, "b")).toEqual([]);
    } finally {
      await Promise.all([a.close(), b.close(), watcher.close()]);
    }
  });

  test("an unknown subprotocol names the four the node speaks", async () => {
    const res = await fetch(node.url.replace("ws://", "http://"), { headers: { upgrade: "websocket", connection: "upgrade", "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==", "sec-websocket-version": "13", "sec-websocket-protocol": "relay.v9.json" } });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe("unsupported_protocol");
    for (const p of ["relay.v2.json", "relay.v2.msgpack", "relay.v1.json", "relay.v1.msgpack"]) expect(body.error.message).toContain(p);
  });
});
