/**
 * The browser SDK bundle (dist/sdk/relay.js) in real headless Chromium against the compiled node
 * (dist/relay): a page subscribes, the CLI publishes, the page receives; refusals reach the page
 * as RelayError with the node's code; JSON and bytes round-trip page to page in both encodings;
 * and the node's status page renders (screenshot in test-results/status-page.png).
 *
 * The page is served by a Bun.serve on its own port: a different origin from the node, which
 * WebSockets allow. Without /usr/bin/chromium these tests are skipped with a message (CI installs it).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, statSync } from "node:fs";
import { join } from "node:path";
import type { Server } from "bun";
import { chromium, type Browser, type Page } from "playwright-core";
import type * as RelaySdk from "../../src/sdk/index.ts";
import { BUILD_TIMEOUT_MS, ROOT, SDK_BUNDLE, ensureBuilt } from "../helpers/build.ts";
import { killAll, runCli, startRelay, type RelayProcess } from "../helpers/proc.ts";

const CHROMIUM = "/usr/bin/chromium";
const hasChromium = existsSync(CHROMIUM);
if (!hasChromium) console.warn(`browser e2e tests skipped: ${CHROMIUM} is missing (apt-get install chromium; .ci/run does)`);

const NODE_NAME = "e2e-browser-node";
const SCREENSHOT = join(ROOT, "test-results", "status-page.png");
/** Each test's own deadline; its waits inside have shorter ones. */
const TEST_TIMEOUT_MS = 20_000;

/** What the test page keeps on `window`. */
type PageWindow = Window & {
  Relay: typeof RelaySdk;
  received: unknown[];
  client: RelaySdk.Client;
};

const TEST_PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>relay sdk e2e</title></head>
<body><p id="state">loading</p>
<script type="module">
import * as Relay from "/relay.js";
window.Relay = Relay;
window.received = [];
document.getElementById("state").textContent = "ready";
</script></body></html>`;

describe.skipIf(!hasChromium)("browser SDK in headless Chromium", () => {
  let node: RelayProcess;
  let pages: Server<undefined>;
  let browser: Browser;
  let page: Page;

  beforeAll(async () => {
    await ensureBuilt();
    node = await startRelay({ extraArgs: ["--name", NODE_NAME] });
    pages = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      fetch(req) {
        const { pathname } = new URL(req.url);
        if (pathname === "/") return new Response(TEST_PAGE, { headers: { "Content-Type": "text/html; charset=utf-8" } });
        if (pathname === "/relay.js") return new Response(Bun.file(SDK_BUNDLE), { headers: { "Content-Type": "text/javascript; charset=utf-8" } });
        if (pathname === "/relay.js.map") return new Response(Bun.file(`${SDK_BUNDLE}.map`), { headers: { "Content-Type": "application/json" } });
        return new Response("not found", { status: 404 });
      },
    });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    });
    page = await browser.newPage();
    const errors: string[] = [];
    page.on("pageerror", (err) => errors.push(err.message));
    await page.goto(`http://127.0.0.1:${pages.port}/`);
    await page.waitForFunction(() => document.getElementById("state")?.textContent === "ready", undefined, { timeout: 10_000 }).catch((err: Error) => {
      throw new Error(`the SDK module did not load: ${err.message}; page errors: ${errors.join("; ")}`);
    });
    // One client for the page, subscribed before any test publishes.
    await page.evaluate(
      async ({ url, channel }) => {
        const w = window as unknown as PageWindow;
        w.client = await w.Relay.connect(url);
        await w.client.subscribe(channel, (msg) => w.received.push(msg.data));
      },
      { url: node.url, channel: "e2e.browser" },
    );
  }, BUILD_TIMEOUT_MS);

  afterAll(async () => {
    // Reap everything first; assert only afterwards, so a failed expectation cannot leave a child running.
    let nodeExit: number | undefined;
    try {
      await browser?.close();
    } finally {
      pages?.stop(true);
      try {
        if (node) nodeExit = await node.stop();
      } finally {
        await killAll();
      }
    }
    if (node) expect(nodeExit).toBe(0);
  });

  test("a message the CLI publishes reaches the page's subscription", async () => {
    const r = await runCli(["pub", "e2e.browser", "hello", "--url", node.url]);
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: "" });
    await page.waitForFunction(() => (window as unknown as PageWindow).received.includes("hello"), undefined, { timeout: 5_000 });
    expect(await page.evaluate(() => (window as unknown as PageWindow).received)).toEqual(["hello"]);
  }, TEST_TIMEOUT_MS);

  test("publishing to an invalid channel rejects with a RelayError coded bad_channel", async () => {
    const outcome = await page.evaluate(async () => {
      const w = window as unknown as PageWindow;
      try {
        await w.client.publish("not a channel!", "x");
        return { rejected: false };
      } catch (err) {
        const e = err as { code?: unknown; name?: unknown };
        return { rejected: true, isRelayError: err instanceof w.Relay.RelayError, name: e.name, code: e.code };
      }
    });
    expect(outcome).toEqual({ rejected: true, isRelayError: true, name: "RelayError", code: "bad_channel" });
  }, TEST_TIMEOUT_MS);

  for (const [sender, receiver] of [
    ["json", "json"],
    ["json", "msgpack"],
    ["msgpack", "json"],
  ] as const) {
    test(`JSON and bytes round-trip page to page (${sender} -> ${receiver})`, async () => {
      const got = await page.evaluate(
        async ({ url, sender, receiver, channel }) => {
          const { Relay } = window as unknown as PageWindow;
          const from = await Relay.connect({ url, encoding: sender });
          const to = await Relay.connect({ url, encoding: receiver });
          try {
            const inbox: unknown[] = [];
            let arrived: () => void = () => {};
            const both = new Promise<void>((resolve) => (arrived = resolve));
            await to.subscribe(channel, (msg) => {
              inbox.push(msg.data);
              if (inbox.length === 2) arrived();
            });
            await from.publish(channel, { text: "hi", n: [1, 2.5, null], nested: { ok: true } });
            await from.publish(channel, new Uint8Array([0, 1, 2, 127, 128, 254, 255]));
            const timeout = new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`only ${inbox.length} of 2 messages arrived`)), 5_000));
            await Promise.race([both, timeout]);
            const [json, bytes] = inbox;
            return { json, bytesIsUint8Array: bytes instanceof Uint8Array, bytes: bytes instanceof Uint8Array ? Array.from(bytes) : bytes };
          } finally {
            from.close();
            to.close();
          }
        },
        { url: node.url, sender, receiver, channel: `e2e.browser.rt.${sender}.${receiver}` },
      );
      expect(got).toEqual({
        json: { text: "hi", n: [1, 2.5, null], nested: { ok: true } },
        bytesIsUint8Array: true,
        bytes: [0, 1, 2, 127, 128, 254, 255],
      });
    }, TEST_TIMEOUT_MS);
  }

  test("the node's status page shows the node's name (screenshot in test-results/)", async () => {
    const status = await browser.newPage({ viewport: { width: 1024, height: 768 } });
    try {
      await status.goto(`${node.httpUrl}/`);
      expect(await status.textContent("#node")).toBe(NODE_NAME);
      expect(await status.title()).toContain(NODE_NAME);
      // The page polls /healthz: wait until it has, so the screenshot shows live numbers.
      await status.waitForFunction(() => document.getElementById("status")?.textContent === "ok", undefined, { timeout: 5_000 });
      mkdirSync(join(ROOT, "test-results"), { recursive: true });
      await status.screenshot({ path: SCREENSHOT, fullPage: true });
      expect(statSync(SCREENSHOT).size).toBeGreaterThan(1_000);
    } finally {
      await status.close();
    }
  }, TEST_TIMEOUT_MS);
});
