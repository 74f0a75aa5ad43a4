import { afterEach, describe, expect, test } from "bun:test";
import type { RawConfig } from "../../src/node/config.ts";
import type { RelayNode } from "../../src/node/server.ts";
import { encodePeerFrame } from "../../src/protocol/peer.ts";
import { RawClient, startTestNode, waitFor } from "../helpers/node.ts";

const KEY = "integration-cluster-key-0123";
const nodes: RelayNode[] = [];
const clients: RawClient[] = [];
function node(settings: RawConfig): RelayNode {
  const n = startTestNode({ clusterKey: KEY, ...settings });
  nodes.push(n);
  return n;
}
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await Promise.all(nodes.splice(0).map((n) => n.stop()));
});

const json = async (n: RelayNode, path: string) => (await fetch(`http://127.0.0.1:${n.port}${path}`)).json() as Promise<any>;
const alive = async (n: RelayNode) => ((await json(n, "/nodes")).nodes as { state: string }[]).filter((m) => m.state === "alive").length;

describe("a mesh of in-process nodes", () => {
  test("three nodes in a chain learn each other, and a message crosses two hops exactly once", async () => {
    const a = node({ name: "a" });
    const b = node({ name: "b", seed: [`127.0.0.1:${a.port}`] });
    const c = node({ name: "c", seed: [`127.0.0.1:${b.port}`] });
    for (const n of [a, b, c]) await waitFor(async () => (await alive(n)) === 3, `full membership at ${n.name}`, 10_000);
    const sub = await RawClient.open(c.url);
    clients.push(sub);
    await sub.request({ op: "sub", channel: "mesh.chain" });
    const pub = await RawClient.open(a.url);
    clients.push(pub);
    // Interest travels to a as gossip; publish until the first arrives, then count what follows.
    await waitFor(async () => {
      await pub.request({ op: "pub", channel: "mesh.chain", data: "probe" });
      return sub.messages().length > 0;
    }, "interest to reach a", 10_000);
    for (let i = 0; i < 20; i++) await pub.request({ op: "pub", channel: "mesh.chain", data: i });
    await waitFor(() => sub.messages().filter((m) => typeof m.data === "number").length === 20, "20 messages");
    await pub.request({ op: "pub", channel: "mesh.chain", data: "end" });
    await waitFor(() => sub.messages().some((m) => m.data === "end"), "the end marker");
    expect(sub.messages().filter((m) => typeof m.data === "number").map((m) => m.data)).toEqual([...Array(20).keys()]);
    expect(sub.messages()[0]!.from).toBe(pub.frames[0]!.client);
    const metrics = await (await fetch(`http://127.0.0.1:${b.port}/metrics`)).text();
    expect(metrics).toMatch(/^relay_peers [1-9]/m);
    expect(metrics).toMatch(/^relay_mesh_duplicates_total 0$/m);
    const nodesView = await json(a, "/nodes");
    expect(nodesView.self).toBe("a");
    expect(nodesView.nodes.map((m: { name: string }) => m.name)).toEqual(["a", "b", "c"]);
    expect(nodesView.nodes.find((m: { name: string }) => m.name === "b").rtt).toBeGreaterThanOrEqual(0);
    expect((await json(a, "/healthz")).peers).toBeGreaterThanOrEqual(1);
    expect((await json(a, "/topology")).links.length).toBeGreaterThanOrEqual(2);
  });

  test("a node with another cluster key is refused, and says why", async () => {
    const a = node({ name: "good" });
    const bad = startTestNode({ name: "bad", clusterKey: "some-other-cluster-key-000", seed: [`127.0.0.1:${a.port}`] });
    nodes.push(bad);
    await waitFor(async () => (await (await fetch(`http://127.0.0.1:${a.port}/metrics`)).text()).includes('relay_peer_refusals_total{code="bad_key"}'), "the refusal counted", 10_000);
    expect(await alive(a)).toBe(1);
    expect(await alive(bad)).toBe(1);
  });

  test("a node without a cluster key refuses peers at the upgrade", async () => {
    const lone = startTestNode({ name: "lone" });
    nodes.push(lone);
    const res = await fetch(`http://127.0.0.1:${lone.port}/peer`, { headers: { Upgrade: "websocket", Connection: "Upgrade", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version": "13" } });
    expect(res.status).toBe(403);
    expect(await res.json()).toMatchObject({ error: { code: "no_cluster_key" } });
  });

  test("an unauthenticated peer socket that skips the handshake is closed, and the node carries on", async () => {
    const a = node({ name: "target" });
    const ws = new WebSocket(`ws://127.0.0.1:${a.port}/peer`);
    ws.binaryType = "arraybuffer";
    const closed = new Promise<number>((resolve) => (ws.onclose = (e) => resolve(e.code)));
    await new Promise((r) => (ws.onopen = r));
    // A data frame before any handshake: must never reach the mesh.
    ws.send(encodePeerFrame({ t: "data", origin: "x", incarnation: 1, seq: 0, hops: 0, channel: "c", instance: "x~1~0", data: "forged" }));
    expect(await closed).toBe(1008);
    expect((await json(a, "/healthz")).status).toBe("ok");
  });
});
