/**
 * Choosing the closest node (issue 6) from a browser: the SDK bundle (dist/sdk/relay.js) in real
 * headless Chromium reads the directory and times /ping on three `dist/relay` nodes, each behind
 * its own delay proxy (25, 3 and 12 ms each way; test/helpers/delay-cluster.ts), and must land on
 * the lowest-delay one, starting from a bootstrap address that is not it.
 *
 * The page is served by a Bun.serve on its own port, so every request to a node is cross-origin:
 * the directory (GET /nodes) and the probes (GET /ping) are fetch()es the node must allow with
 * Access-Control-Allow-Origin. The page records what the browser saw of them (status, CORS header,
 * failures, console errors), so a failure says exactly what the browser refused.
 *
 * Without /usr/bin/chromium these tests are skipped with a message; no browser is ever downloaded.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import type { Server } from "bun";
import { chromium, type Browser, type Page } from "playwright-core";
import type * as RelaySdk from "../../src/sdk/index.ts";
import { BUILD_TIMEOUT_MS, SDK_BUNDLE, ensureBuilt } from "../helpers/build.ts";
import { DelayCluster } from "../helpers/delay-cluster.ts";
import { killAll } from "../helpers/proc.ts";

const CHROMIUM = "/usr/bin/chromium";
const hasChromium = existsSync(CHROMIUM);
if (!hasChromium) console.warn(`closest-node browser tests skipped: ${CHROMIUM} is missing (apt-get install chromium; .ci/run does)`);

/** Prints one figure line; `bun test` shows stderr of passing tests too. */
function figure(text: string): void {
  process.stderr.write(`[closest-browser] ${text}\n`);
}

/** Delay per direction, as in test/cluster/closest.cluster.test.ts. */
const SPECS = [
  { name: "far", delayMs: 25 },
  { name: "near", delayMs: 3 },
  { name: "mid", delayMs: 12 },
];
const RANKED = ["near", "mid", "far"];
const TEST_TIMEOUT_MS = 30_000;

/** What the test page keeps on `window`. */
type PageWindow = Window & { Relay: typeof RelaySdk };

const TEST_PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>relay closest e2e</title></head>
<body><p id="state">loading</p>
<script type="module">
import * as Relay from "/relay.js";
window.Relay = Relay;
document.getElementById("state").textContent = "ready";
</script></body></html>`;

/** A candidate as the page reports it. */
interface SeenCandidate {
  name: string;
  url: string;
  rtt: number | null;
}

describe.skipIf(!hasChromium)("closest node from headless Chromium", () => {
  const cluster = new DelayCluster(SPECS);
  let pages: Server<undefined> | undefined;
  let browser: Browser | undefined;
  let page: Page;
  /** What the browser saw of the nodes' endpoints and of the page, for failure messages. */
  const seen = { responses: [] as string[], failed: [] as string[], console: [] as string[], errors: [] as string[] };
  const diagnostics = () =>
    [
      `requests that failed: ${seen.failed.join("; ") || "none"}`,
      `console errors: ${seen.console.join("; ") || "none"}`,
      `page errors: ${seen.errors.join("; ") || "none"}`,
      `responses from the nodes (last 12): ${seen.responses.slice(-12).join("; ") || "none"}`,
    ].join("\n");

  beforeAll(async () => {
    await ensureBuilt();
    await cluster.start();
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
    const pageOrigin = `http://127.0.0.1:${pages.port}`;
    page.on("pageerror", (err) => seen.errors.push(err.message));
    page.on("console", (msg) => {
      if (msg.type() === "error" || msg.type() === "warning") seen.console.push(`${msg.type()}: ${msg.text()}`);
    });
    page.on("requestfailed", (req) => seen.failed.push(`${req.method()} ${req.url()}: ${req.failure()?.errorText ?? "?"}`));
    page.on("response", (res) => {
      if (res.url().startsWith(pageOrigin)) return;
      seen.responses.push(`${res.status()} ${res.url()} ACAO=${res.headers()["access-control-allow-origin"] ?? "(none)"}`);
    });
    await page.goto(`${pageOrigin}/`);
    await page.waitForFunction(() => document.getElementById("state")?.textContent === "ready", undefined, { timeout: 10_000 }).catch((err: Error) => {
      throw new Error(`the SDK module did not load: ${err.message}\n${diagnostics()}`);
    });
  }, BUILD_TIMEOUT_MS);

  afterAll(async () => {
    try {
      await browser?.close();
    } finally {
      pages?.stop(true);
      try {
        await cluster.stop();
      } finally {
        await killAll();
      }
    }
  });

  /** Ranked best first as RANKED, each RTT at least its proxy's round trip, URLs as advertised. */
  function expectRanked(candidates: readonly SeenCandidate[], context: string): void {
    const shown = candidates.map((c) => `${c.name}=${c.rtt === null ? "null" : c.rtt.toFixed(2)}`).join(" ");
    expect(candidates.map((c) => c.name), `${context}: ${shown}\n${diagnostics()}`).toEqual(RANKED);
    for (const c of candidates) {
      expect(c.rtt, `${context}: ${c.name} unreachable from the page (${shown})\n${diagnostics()}`).not.toBeNull();
      expect(c.rtt!, `${context}: ${c.name} faster than its proxy's round trip (${shown})`).toBeGreaterThanOrEqual(2 * cluster.get(c.name).delayMs);
      expect(c.url, `${context}: ${c.name}'s URL`).toBe(cluster.get(c.name).url);
    }
    const rtts = candidates.map((c) => c.rtt!);
    expect(rtts, `${context}: RTTs not ascending (${shown})`).toEqual([...rtts].sort((a, b) => a - b));
  }

  test("chooseNode() in the page reads the directory and times every node across origins", async () => {
    const far = cluster.get("far");
    const out = await page.evaluate(async (bootstrap) => {
      const { Relay } = window as unknown as PageWindow;
      try {
        const choice = await Relay.chooseNode([bootstrap]);
        return { ok: true as const, best: choice.best?.name ?? null, candidates: choice.candidates.map((c) => ({ name: c.name, url: c.url, rtt: c.rtt })) };
      } catch (err) {
        return { ok: false as const, error: String(err) };
      }
    }, far.url);
    if (!out.ok) throw new Error(`chooseNode failed in the browser: ${out.error}\n${diagnostics()}`);
    expect(out.best, diagnostics()).toBe("near");
    expectRanked(out.candidates, "chooseNode from far");
    figure(`page chooseNode from far: ${out.candidates.map((c) => `${c.name} ${c.rtt!.toFixed(1)} ms`).join(", ")}`);
    // Both endpoints answered the page with the CORS header that lets it read them.
    expect(seen.responses.some((r) => /^200 .*\/nodes ACAO=\*$/.test(r)), diagnostics()).toBe(true);
    expect(seen.responses.some((r) => /^204 .*\/ping ACAO=\*$/.test(r)), diagnostics()).toBe(true);
    expect(seen.failed, diagnostics()).toEqual([]);
  }, TEST_TIMEOUT_MS);

  test("connect({ bootstrap }) in the page lands on the lowest-delay node every time", async () => {
    for (let i = 0; i < 5; i++) {
      // Bootstrap from far or mid in turn, never from near itself.
      const bootstrap = cluster.get(i % 2 === 0 ? "far" : "mid");
      const out = await page.evaluate(async (address) => {
        const { Relay } = window as unknown as PageWindow;
        const started = performance.now();
        try {
          const client = await Relay.connect({ bootstrap: [address], connectTimeoutMs: 10_000 });
          const result = { ok: true as const, ms: performance.now() - started, node: client.node, url: client.url, candidates: client.candidates.map((c) => ({ name: c.name, url: c.url, rtt: c.rtt })) };
          client.close();
          return result;
        } catch (err) {
          return { ok: false as const, error: String(err) };
        }
      }, bootstrap.url);
      const context = `page connect ${i + 1} from ${bootstrap.name}`;
      if (!out.ok) throw new Error(`${context} failed: ${out.error}\n${diagnostics()}`);
      // connect() falls back to the bootstrap address when the directory cannot be read, so a
      // CORS refusal would show here as client.node === the bootstrap node, with no candidates.
      expect(out.node, `${context}: on ${out.node}\n${diagnostics()}`).toBe("near");
      expect(out.url).toBe(cluster.get("near").url);
      expectRanked(out.candidates, context);
      figure(`${context}: on ${out.node} in ${Math.round(out.ms)} ms; ${out.candidates.map((c) => `${c.name} ${c.rtt!.toFixed(1)} ms`).join(", ")}`);
    }
    expect(seen.failed, diagnostics()).toEqual([]);
    expect(seen.errors, diagnostics()).toEqual([]);
  }, TEST_TIMEOUT_MS);
});
