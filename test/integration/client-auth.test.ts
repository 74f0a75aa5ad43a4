import { afterEach, describe, expect, test } from "bun:test";
import { exportSPKI, generateKeyPair, SignJWT, type KeyLike } from "jose";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { RelayNode } from "../../src/node/server.ts";
import { connect, RelayError } from "../../src/sdk/index.ts";
import { channelMatcher } from "../../src/node/client-auth.ts";
import { startTestNode, waitFor } from "../helpers/node.ts";

// Client tokens on a real node (Bun.serve on port 0, real WebSocket clients): checked at the
// upgrade, channel permissions from the token, and the session closed when the token expires.

const SECRET = "an-hs256-secret-of-at-least-32-characters";
const nodes: RelayNode[] = [];
afterEach(async () => {
  await Promise.all(nodes.splice(0).map((n) => n.stop()));
});

function sign(key: Uint8Array | KeyLike, alg: "HS256" | "EdDSA", claims: Record<string, unknown>, expiresInSeconds: number): Promise<string> {
  return new SignJWT(claims)
    .setProtectedHeader({ alg })
    .setSubject("alice")
    .setExpirationTime(Math.floor(Date.now() / 1000) + expiresInSeconds)
    .sign(key);
}
const hs = (claims: Record<string, unknown>, seconds = 60) => sign(new TextEncoder().encode(SECRET), "HS256", claims, seconds);

/** The HTTP answer to a WebSocket upgrade, so the refusal's status and body can be read. */
async function upgradeStatus(port: number, query = ""): Promise<{ status: number; body: string }> {
  const res = await fetch(`http://127.0.0.1:${port}/${query}`, {
    headers: { Upgrade: "websocket", Connection: "Upgrade", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version": "13" },
  });
  return { status: res.status, body: await res.text() };
}

describe("client tokens", () => {
  test("without a valid token the upgrade is refused with 401 and a reason", async () => {
    const n = startTestNode({ jwtSecret: SECRET });
    nodes.push(n);
    expect(await upgradeStatus(n.port)).toMatchObject({ status: 401, body: expect.stringContaining("unauthorized") });
    expect(await upgradeStatus(n.port, "?token=garbage")).toMatchObject({ status: 401, body: expect.stringContaining("invalid token") });
    const wrongKey = await sign(new TextEncoder().encode("x".repeat(40)), "HS256", {}, 60);
    expect(await upgradeStatus(n.port, `?token=${wrongKey}`)).toMatchObject({ status: 401, body: expect.stringContaining("signature") });
    expect(await upgradeStatus(n.port, `?token=${await hs({}, -10)}`)).toMatchObject({ status: 401, body: expect.stringContaining("exp") });
  });

  test("the token's channel patterns decide what a client may subscribe to and publish on", async () => {
    const n = startTestNode({ jwtSecret: SECRET });
    nodes.push(n);
    const token = await hs({ relay: { subscribe: ["chat.*", "user/alice/>"], publish: ["chat.*"] } });
    const c = await connect({ url: n.url, token });
    try {
      const got: unknown[] = [];
      await c.subscribe("chat.lobby", (m) => got.push(m.data), { echo: true });
      await c.subscribe("user/alice/inbox/2", () => {});
      const refusedSub = await c.subscribe("chat.lobby.deeper", () => {}).catch((e: unknown) => e);
      expect((refusedSub as RelayError).code).toBe("forbidden");
      const refusedPub = await c.publish("user/alice/inbox/2", "x").catch((e: unknown) => e);
      expect((refusedPub as RelayError).code).toBe("forbidden");
      await c.publish("chat.lobby", "hello");
      await waitFor(() => got.length === 1, "the permitted message");
    } finally {
      c.close();
    }
  });

  test("EdDSA tokens verify with the public key file; the session closes with 4011 at expiry and the SDK asks for a fresh token", async () => {
    const { publicKey, privateKey } = await generateKeyPair("EdDSA", { crv: "Ed25519" });
    const dir = mkdtempSync(join(tmpdir(), "relay-jwt-"));
    const pem = join(dir, "public.pem");
    writeFileSync(pem, await exportSPKI(publicKey));
    const n = startTestNode({ jwtPublicKey: pem });
    nodes.push(n);
    let issued = 0;
    const errors: string[] = [];
    // The first token lives 1 s; the function gives the reconnect a fresh one.
    const c = await connect({ url: n.url, token: () => sign(privateKey, "EdDSA", {}, issued++ === 0 ? 1 : 60), backoff: { initialMs: 20, maxMs: 100 } });
    c.on("error", (e) => errors.push(e.code));
    try {
      const first = c.clientId;
      await waitFor(() => errors.includes("token_expired"), "the expiry", 5000);
      await waitFor(() => c.state === "connected" && c.clientId !== first, "a reconnect with a fresh token", 5000);
      expect(issued).toBeGreaterThanOrEqual(2);
      await c.publish("after-refresh", 1);
    } finally {
      c.close();
    }
  });
});

describe("channel patterns", () => {
  test.each([
    ["chat.*", "chat.lobby", true],
    ["chat.*", "chat.lobby.x", false],
    ["chat.*", "chat.", false],
    ["user/alice/>", "user/alice/a/b", true],
    ["user/alice/>", "user/alice/", false],
    ["a+b", "a+b", true],
    ["a+b", "aab", false],
    ["x:*:y", "x:1:y", true],
  ] as const)("%s matches %s: %p", (pattern, channel, expected) => {
    const m = channelMatcher([pattern]);
    expect(typeof m).toBe("function");
    expect((m as (c: string) => boolean)(channel)).toBe(expected);
  });

  test("no list allows all, an empty list allows none, a bad list is an error", () => {
    expect((channelMatcher(undefined) as (c: string) => boolean)("anything")).toBe(true);
    expect((channelMatcher([]) as (c: string) => boolean)("anything")).toBe(false);
    expect(typeof channelMatcher("chat.*")).toBe("string");
    expect(typeof channelMatcher(new Array(257).fill("a"))).toBe("string");
  });
});
