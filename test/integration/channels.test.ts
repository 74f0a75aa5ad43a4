import { afterEach, describe, expect, test } from "bun:test";
import type { RelayNode } from "../../src/node/server.ts";
import type { RawConfig } from "../../src/node/config.ts";
import { connect, RelayError } from "../../src/sdk/index.ts";
import { RawClient, startTestNode, waitFor } from "../helpers/node.ts";

// Channel admission on one real node (Bun.serve on port 0, real WebSocket clients): who may
// subscribe and publish to a protected channel, and what every refusal looks like.

const nodes: RelayNode[] = [];
const clients: RawClient[] = [];
function node(settings: RawConfig = {}): RelayNode {
  const n = startTestNode(settings);
  nodes.push(n);
  return n;
}
async function client(n: RelayNode): Promise<RawClient> {
  const c = await RawClient.open(n.url);
  clients.push(c);
  return c;
}
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await Promise.all(nodes.splice(0).map((n) => n.stop()));
});

const channels = async (n: RelayNode) => ((await (await fetch(`http://127.0.0.1:${n.port}/channels`)).json()) as { channels: Record<string, unknown>[] }).channels;

describe("protected channels on one node", () => {
  test("the opener's password protects the channel; others need it, and it shows nowhere", async () => {
    const n = node();
    const owner = await client(n);
    expect(await owner.request({ op: "sub", channel: "vault", password: "pw-open-sesame" })).toMatchObject({ op: "ack" });

    const stranger = await client(n);
    expect(await stranger.request({ op: "sub", channel: "vault" })).toMatchObject({ op: "error", code: "wrong_password" });
    expect(await stranger.request({ op: "sub", channel: "vault", password: "guess" })).toMatchObject({ op: "error", code: "wrong_password" });
    expect(await stranger.request({ op: "pub", channel: "vault", data: "spam" })).toMatchObject({ op: "error", code: "wrong_password" });
    expect(await stranger.request({ op: "pub", channel: "vault", data: "spam", password: "guess" })).toMatchObject({ op: "error", code: "wrong_password" });

    const friend = await client(n);
    expect(await friend.request({ op: "pub", channel: "vault", data: "hello", password: "pw-open-sesame" })).toMatchObject({ op: "ack" });
    // Admitted once per connection: later frames need no password.
    expect(await friend.request({ op: "pub", channel: "vault", data: "again" })).toMatchObject({ op: "ack" });
    await waitFor(() => owner.messages().length === 2, "two messages at the owner");
    expect(owner.messages().map((m) => m.data)).toEqual(["hello", "again"]);
    expect(stranger.messages()).toEqual([]);

    const [record] = await channels(n);
    expect(record).toMatchObject({ name: "vault", protected: true, creator: n.name, owner: n.name });
    const everything = JSON.stringify(await channels(n)) + (await (await fetch(`http://127.0.0.1:${n.port}/metrics`)).text());
    expect(everything).not.toContain("pw-open-sesame");
    expect(everything).not.toContain("argon2");
    expect(await (await fetch(`http://127.0.0.1:${n.port}/metrics`)).text()).toMatch(/^relay_errors_total\{code="wrong_password"\} 4$/m);
  });

  test("a public channel refuses a password, so nobody publishes into it believing it private", async () => {
    const n = node();
    const a = await client(n);
    expect(await a.request({ op: "sub", channel: "lobby" })).toMatchObject({ op: "ack" });
    const b = await client(n);
    expect(await b.request({ op: "pub", channel: "lobby", data: "secret", password: "pw" })).toMatchObject({ op: "error", code: "wrong_password" });
    expect(await b.request({ op: "pub", channel: "lobby", data: "hi" })).toMatchObject({ op: "ack" });
    await waitFor(() => a.messages().length === 1, "the public message");
    expect(a.messages()[0]?.data).toBe("hi");
    expect((await channels(n))[0]).toMatchObject({ name: "lobby", protected: false });
  });

  test("frames on a channel being admitted keep their order", async () => {
    const n = node();
    const sub = await client(n);
    expect(await sub.request({ op: "sub", channel: "ordered", password: "pw-order" })).toMatchObject({ op: "ack" });
    const pub = await client(n);
    // The first frame starts an argon2 check; the next 20 arrive while it runs and must wait their turn.
    pub.send({ op: "pub", channel: "ordered", data: 0, password: "pw-order", id: 0 });
    for (let i = 1; i <= 20; i++) pub.send({ op: "pub", channel: "ordered", data: i, id: i });
    await pub.next((f) => f.op === "ack" && f.id === 20);
    await waitFor(() => sub.messages().length === 21, "21 messages");
    expect(sub.messages().map((m) => m.data)).toEqual([...Array(21).keys()]);
  });

  test("two clients opening one name at once with different passwords: exactly one is admitted", async () => {
    const n = node();
    for (let i = 0; i < 10; i++) {
      const [a, b] = [await client(n), await client(n)];
      const [ra, rb] = await Promise.all([a.request({ op: "sub", channel: `race-${i}`, password: "pw-a" }), b.request({ op: "sub", channel: `race-${i}`, password: "pw-b" })]);
      const acks = [ra, rb].filter((r) => r.op === "ack").length;
      expect(acks).toBe(1);
      expect([ra, rb].find((r) => r.op === "error")).toMatchObject({ code: "wrong_password" });
    }
  });

  test("the SDK passes the password on subscribe and publish, and a refusal rejects with the code", async () => {
    const n = node();
    const c = await connect(n.url);
    try {
      const got: unknown[] = [];
      await c.subscribe("sdk-vault", (m) => got.push(m.data), { password: "pw-sdk", echo: true });
      await c.publish("sdk-vault", "ok", { password: "pw-sdk" });
      const err = await c.publish("sdk-vault", "no", { password: "wrong" }).then(
        () => null,
        (e: unknown) => e,
      );
      // Admitted once per connection: a later wrong password on the same connection is not re-checked.
      expect(err).toBeNull();
      const other = await connect(n.url);
      try {
        const refused = await other.subscribe("sdk-vault", () => {}, { password: "wrong" }).catch((e: unknown) => e);
        expect(refused).toBeInstanceOf(RelayError);
        expect((refused as RelayError).code).toBe("wrong_password");
      } finally {
        other.close();
      }
      await waitFor(() => got.length === 2, "the admitted messages");
      expect(got).toEqual(["ok", "no"]);
    } finally {
      c.close();
    }
  });
});
