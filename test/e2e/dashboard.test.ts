/**
 * The dashboard at GET / in real headless Chromium against compiled nodes (dist/relay): three
 * nodes meshed on 127.0.0.1 (one cluster key, two seeded from the first), and node 1's page must
 * draw them live in its SVG map: three node circles with their names, links as lines labelled with
 * their RTT, and node 1 highlighted as "this node"; its members table lists all three. A lone node
 * (no cluster key) shows itself and the "running alone" hint. Screenshots go to
 * test-results/dashboard.png and test-results/dashboard-alone.png.
 *
 * Every wait has a deadline and waits on a condition. Without /usr/bin/chromium these tests are
 * skipped with a message (CI installs it).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { chromium, type Browser, type Page } from "playwright-core";
import { BUILD_TIMEOUT_MS, ROOT, ensureBuilt } from "../helpers/build.ts";
import { killAll, startRelay, type RelayProcess } from "../helpers/proc.ts";
import { waitFor } from "../helpers/wait.ts";

const CHROMIUM = "/usr/bin/chromium";
const hasChromium = existsSync(CHROMIUM);
if (!hasChromium) console.warn(`dashboard e2e tests skipped: ${CHROMIUM} is missing (apt-get install chromium; .ci/run does)`);

const CLUSTER_KEY = "e2e-dashboard-cluster-key-0123456789";
/** Node 1 (whose page is checked) first; the map orders nodes by name, so it sits at the top. */
const NAMES = ["dash-alpha", "dash-bravo", "dash-charlie"] as const;
const LONE_NAME = "dash-lone";
const RESULTS = join(ROOT, "test-results");
/** How long the mesh may take to converge, and the page to draw it (each). */
const CONVERGE_MS = 20_000;
const TEST_TIMEOUT_MS = 40_000;

/** A row of GET /nodes, as far as this test reads it. */
interface NodeRow {
  name: string;
  state: string;
}

/** What the page's map shows, read from the DOM. */
interface MapView {
  nodes: { name: string; state: string; self: boolean; label: string }[];
  links: number;
  rttLabels: string[];
  selfTag: boolean;
  aloneHintVisible: boolean;
  aloneHint: string;
  memberRows: string[];
}

/** Reads the map and the members table out of the page (runs in the browser). */
function readMap(): MapView {
  const map = document.getElementById("map")!;
  const hint = document.getElementById("alone")!;
  return {
    nodes: Array.from(map.querySelectorAll("g.node"), (g) => ({
      name: g.getAttribute("data-name") ?? "",
      state: g.getAttribute("data-state") ?? "",
      self: g.classList.contains("self"),
      label: g.querySelector("text.name")?.textContent ?? "",
    })),
    links: map.querySelectorAll("line.link").length,
    rttLabels: Array.from(map.querySelectorAll("text.rtt"), (t) => t.textContent ?? ""),
    selfTag: (map.querySelector("g.node.self")?.textContent ?? "").includes("this node") && map.querySelector("g.node.self circle.self-ring") !== null,
    aloneHintVisible: !hint.hidden,
    aloneHint: hint.textContent ?? "",
    memberRows: Array.from(document.querySelectorAll("#memberrows tr"), (tr) => tr.textContent ?? ""),
  };
}

/** An RTT label as the map prints it: "0.42 ms", "1.8 ms", "12 ms" or "<0.01 ms". */
const RTT_LABEL = /^(<0\.01|\d+(\.\d+)?) ms$/;

describe.skipIf(!hasChromium)("dashboard: the live mesh map in headless Chromium", () => {
  const mesh: RelayProcess[] = [];
  let lone: RelayProcess | undefined;
  let browser: Browser | undefined;

  beforeAll(async () => {
    await ensureBuilt();
    const first = await startRelay({ extraArgs: ["--name", NAMES[0], "--cluster-key", CLUSTER_KEY] });
    mesh.push(first);
    const seeded = ["--cluster-key", CLUSTER_KEY, "--seed", `127.0.0.1:${first.port}`];
    mesh.push(...(await Promise.all(NAMES.slice(1).map((name) => startRelay({ extraArgs: ["--name", name, ...seeded] })))));
    lone = await startRelay({ extraArgs: ["--name", LONE_NAME] });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    });
  }, BUILD_TIMEOUT_MS);

  afterAll(async () => {
    // Reap everything first; assert only afterwards, so a failed expectation cannot leave a child running.
    const exits: (number | string)[] = [];
    try {
      await browser?.close();
    } finally {
      try {
        const all = lone ? [...mesh, lone] : mesh;
        exits.push(...(await Promise.all(all.map((n) => n.stop().catch((err: Error) => err.message)))));
      } finally {
        await killAll();
      }
    }
    expect(exits.filter((code) => code !== 0)).toEqual([]);
  });

  /** Opens `url` in a fresh page, recording page errors and every request the page makes. */
  async function open(url: string): Promise<{ page: Page; errors: string[]; requests: string[] }> {
    const page = await browser!.newPage({ viewport: { width: 1024, height: 768 } });
    const errors: string[] = [];
    const requests: string[] = [];
    page.on("pageerror", (err) => errors.push(err.message));
    page.on("request", (req) => requests.push(req.url()));
    await page.goto(url);
    return { page, errors, requests };
  }

  /** Waits until the page's map satisfies `ready`, failing with what the map showed last. */
  async function waitForMap(page: Page, errors: string[], ready: (view: MapView) => boolean, what: string): Promise<MapView> {
    let last: MapView | undefined;
    try {
      return await waitFor(
        async () => {
          last = await page.evaluate(readMap);
          return ready(last) ? last : null;
        },
        what,
        CONVERGE_MS,
      );
    } catch (err) {
      throw new Error(`${(err as Error).message}; the map showed ${JSON.stringify(last)}; page errors: ${errors.join("; ") || "none"}`);
    }
  }

  test("node 1's page draws the three-node mesh with RTTs and itself highlighted (screenshot in test-results/)", async () => {
    const [first] = mesh;
    // The mesh first: node 1 must know all three as alive before its map can show them.
    await waitFor(
      async () => {
        const body = (await (await fetch(`${first!.httpUrl}/nodes`)).json()) as { nodes: NodeRow[] };
        return body.nodes.length === 3 && body.nodes.every((n) => n.state === "alive");
      },
      `${first!.httpUrl}/nodes listing 3 alive members`,
      CONVERGE_MS,
    );

    const { page, errors, requests } = await open(`${first!.httpUrl}/`);
    try {
      const view = await waitForMap(
        page,
        errors,
        (v) =>
          v.nodes.length === 3 &&
          v.nodes.every((n) => n.state === "alive") &&
          v.links >= 2 &&
          v.rttLabels.filter((t) => RTT_LABEL.test(t)).length >= 2 &&
          v.selfTag &&
          v.memberRows.length === 3,
        "the map to show 3 alive nodes, 2+ links with RTT labels and the highlighted self node",
      );
      expect(view.nodes.map((n) => n.name).sort()).toEqual([...NAMES]);
      expect(view.nodes.map((n) => n.label).sort()).toEqual([...NAMES]);
      expect(view.nodes.filter((n) => n.self).map((n) => n.name)).toEqual([NAMES[0]]);
      expect(view.rttLabels.every((t) => RTT_LABEL.test(t))).toBe(true);
      expect(view.aloneHintVisible).toBe(false);
      // The members table: every node once, node 1 marked as this node.
      for (const name of NAMES) expect(view.memberRows.filter((row) => row.startsWith(name))).toHaveLength(1);
      expect(view.memberRows[0]).toStartWith(`${NAMES[0]} this node`);
      // The page is self-contained: it asks nothing of any origin but the node's own.
      const foreign = requests.filter((u) => !u.startsWith(`${first!.httpUrl}/`) && !u.startsWith("data:"));
      expect(foreign).toEqual([]);
      expect(errors).toEqual([]);

      // For the picture only, not a requirement: give the third link a moment to show up.
      await waitFor(async () => (await page.evaluate(readMap)).links >= 3, "the third link", 6_000).catch(() => undefined);
      mkdirSync(RESULTS, { recursive: true });
      const shot = join(RESULTS, "dashboard.png");
      await page.screenshot({ path: shot, fullPage: true });
      expect(statSync(shot).size).toBeGreaterThan(1_000);
    } finally {
      await page.close();
    }
  }, TEST_TIMEOUT_MS);

  test("a lone node's page shows itself and the 'running alone' hint", async () => {
    const { page, errors } = await open(`${lone!.httpUrl}/`);
    try {
      const view = await waitForMap(page, errors, (v) => v.nodes.length === 1 && v.aloneHintVisible && v.selfTag, "the lone node and the running-alone hint");
      expect(view.nodes).toEqual([{ name: LONE_NAME, state: "alive", self: true, label: LONE_NAME }]);
      expect(view.links).toBe(0);
      expect(view.aloneHint.replace(/\s+/g, " ")).toMatch(/running alone: start more nodes with --cluster-key and --seed to form a mesh/i);
      expect(errors).toEqual([]);
      mkdirSync(RESULTS, { recursive: true });
      await page.screenshot({ path: join(RESULTS, "dashboard-alone.png"), fullPage: true });
    } finally {
      await page.close();
    }
  }, TEST_TIMEOUT_MS);
});
