/**
 * The dashboard at GET / in real headless Chromium against compiled nodes (dist/relay): three
 * nodes meshed on 127.0.0.1 (one cluster key and one admin token, two seeded from the first), and
 * node 1's page must draw them live in its SVG map: three node circles with their names, links as
 * lines labelled with their RTT, and node 1 highlighted as "this node"; its members table lists all
 * three. A lone node (no cluster key, no admin token) shows itself, the "running alone" hint, and
 * says its admin API is off when a token is entered.
 *
 * The live view (issue 5) on node 1's page: the members table with every node's state and
 * connections, a password-protected channel with its lock and per-node subscriber counts, the
 * join events; then the admin panel: a wrong token is refused, the right one shows every node's
 * stats, and its buttons set a log level, kick a client, and drain node 3 (whose /healthz then says
 * "draining" with 503). A page whose JSON answers are faked in the browser with markup in every
 * string must show that markup as text.
 *
 * Screenshots go to test-results/dashboard.png, dashboard-alone.png and dashboard-admin.png.
 *
 * Every wait has a deadline and waits on a condition. Without /usr/bin/chromium these tests are
 * skipped with a message (CI installs it).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { chromium, type Browser, type Page } from "playwright-core";
import { DASHBOARD_SCRIPT } from "../../src/node/dashboard-script.ts";
import { BUILD_TIMEOUT_MS, ROOT, ensureBuilt } from "../helpers/build.ts";
import { RawClient } from "../helpers/node.ts";
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
/** The mesh's --admin-token (the config wants 16+ characters). */
const ADMIN_TOKEN = "e2e-dashboard-admin-token-0123456789";
/** The protected channel the live view must show, and its password. */
const SECRET_CHANNEL = "dash-secret";
const SECRET_PASSWORD = "e2e-dashboard-channel-password";

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

/** A table row as the page shows it: each cell's text by its column header. */
type Row = Record<string, string>;

/** What the page's live view and admin panel show, read from the DOM. */
interface LiveView {
  /** The members table; `self` is "yes" on the highlighted row. */
  members: Row[];
  /** The channels table; `locked` is "yes" when the row carries the padlock. */
  channels: Row[];
  /** The recent events as shown (time, then message), and their timestamps, top to bottom. */
  events: string[];
  eventTimes: string[];
  adminMsg: string;
  adminOpen: boolean;
  /** The admin stats table; `name` is the node's data-name. */
  stats: Row[];
  /** The "partial: ..." line, or null while it is hidden. */
  partial: string | null;
  result: string;
}

/** Reads the live view and the admin panel out of the page (runs in the browser, so self-contained). */
function readLive(): LiveView {
  const rows = (id: string): { tr: HTMLTableRowElement; row: Row }[] => {
    const table = document.getElementById(id) as HTMLTableElement;
    const heads = Array.from(table.tHead!.rows[0]!.cells, (c) => (c.textContent ?? "").trim());
    return Array.from(table.tBodies[0]!.rows, (tr) => ({ tr, row: Object.fromEntries(Array.from(tr.cells, (c, i) => [heads[i] ?? String(i), cellText(c)])) }));
  };
  // A cell's words, without an icon's tooltip (the padlock's <title>), which the reader sees as a mark instead.
  const cellText = (cell: HTMLTableCellElement) => {
    const copy = cell.cloneNode(true) as HTMLTableCellElement;
    copy.querySelectorAll("svg").forEach((icon) => icon.remove());
    return (copy.textContent ?? "").trim();
  };
  const text = (id: string) => (document.getElementById(id)!.textContent ?? "").trim();
  const partial = document.getElementById("partial")!;
  return {
    members: rows("members-table").map(({ tr, row }) => ({ ...row, self: tr.classList.contains("self") ? "yes" : "no" })),
    channels: rows("channels-table").map(({ tr, row }) => ({ ...row, locked: tr.querySelector("svg.lock") ? "yes" : "no" })),
    events: Array.from(document.querySelectorAll("#events li"), (li) => li.textContent ?? ""),
    eventTimes: Array.from(document.querySelectorAll("#events time"), (t) => t.getAttribute("datetime") ?? ""),
    adminMsg: text("adminmsg"),
    adminOpen: !document.getElementById("adminview")!.hidden,
    stats: rows("stats").map(({ tr, row }) => ({ ...row, name: tr.getAttribute("data-name") ?? "" })),
    partial: partial.hidden ? null : (partial.textContent ?? ""),
    result: text("adminresult"),
  };
}

/** The member row of `name` (its cell reads "NAME" or "NAME this node"). */
const memberRow = (v: LiveView, name: string): Row | undefined => v.members.find((m) => (m.node ?? "").split(" ")[0] === name);

describe.skipIf(!hasChromium)("dashboard: the live mesh map in headless Chromium", () => {
  const mesh: RelayProcess[] = [];
  let lone: RelayProcess | undefined;
  let browser: Browser | undefined;
  /** WebSocket clients the tests open; closed in afterAll whatever happened. */
  const clients: RawClient[] = [];

  beforeAll(async () => {
    await ensureBuilt();
    const keys = ["--cluster-key", CLUSTER_KEY, "--admin-token", ADMIN_TOKEN];
    const first = await startRelay({ extraArgs: ["--name", NAMES[0], ...keys] });
    mesh.push(first);
    const seeded = [...keys, "--seed", `127.0.0.1:${first.port}`];
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
      for (const c of clients) c.ws.close();
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

  /**
   * Opens `url` in a fresh page, recording page errors, every request the page makes, and the
   * confirmation dialogs it shows (all accepted). `before` runs before the page loads (routes).
   */
  async function open(url: string, before?: (page: Page) => Promise<void>): Promise<{ page: Page; errors: string[]; requests: string[]; dialogs: string[] }> {
    const page = await browser!.newPage({ viewport: { width: 1024, height: 768 } });
    page.setDefaultTimeout(CONVERGE_MS);
    const errors: string[] = [];
    const requests: string[] = [];
    const dialogs: string[] = [];
    page.on("pageerror", (err) => errors.push(err.message));
    page.on("request", (req) => requests.push(req.url()));
    page.on("dialog", (d) => {
      dialogs.push(`${d.type()}: ${d.message()}`);
      void d.accept();
    });
    await before?.(page);
    await page.goto(url);
    return { page, errors, requests, dialogs };
  }

  /** Waits until the page's live view satisfies `ready`, failing with what it showed last. */
  async function waitForLive(page: Page, errors: string[], ready: (view: LiveView) => boolean, what: string, timeoutMs = CONVERGE_MS): Promise<LiveView> {
    let last: LiveView | undefined;
    try {
      return await waitFor(
        async () => {
          last = await page.evaluate(readLive);
          return ready(last) ? last : null;
        },
        what,
        timeoutMs,
      );
    } catch (err) {
      throw new Error(`${(err as Error).message}; the page showed ${JSON.stringify(last)}; page errors: ${errors.join("; ") || "none"}`);
    }
  }

  /** Waits until node 1 knows all three nodes as alive. */
  async function meshConverged(): Promise<void> {
    const [first] = mesh;
    await waitFor(
      async () => {
        const body = (await (await fetch(`${first!.httpUrl}/nodes`)).json()) as { nodes: NodeRow[] };
        return body.nodes.length === 3 && body.nodes.every((n) => n.state === "alive");
      },
      `${first!.httpUrl}/nodes listing 3 alive members`,
      CONVERGE_MS,
    );
  }

  /**
   * A client of `node` subscribed to the protected channel. The first open may meet an owner that
   * is not ready yet (channel_unavailable), so it retries until the deadline.
   */
  async function secretSubscriber(node: RelayProcess): Promise<RawClient> {
    const client = await RawClient.open(node.url);
    clients.push(client);
    let last: Record<string, unknown> | undefined;
    await waitFor(
      async () => {
        last = await client.request({ op: "sub", channel: SECRET_CHANNEL, password: SECRET_PASSWORD });
        if (last.op === "error" && last.code !== "channel_unavailable") throw new Error(`sub ${SECRET_CHANNEL} refused: ${JSON.stringify(last)}`);
        return last.op === "ack";
      },
      `an ack for sub ${SECRET_CHANNEL} on ${node.url} (last answer ${JSON.stringify(last)})`,
      CONVERGE_MS,
    );
    return client;
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
    await meshConverged();

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
      mkdirSync(RESULTS, { recursive: true });
      await page.screenshot({ path: join(RESULTS, "dashboard-alone.png"), fullPage: true });

      // This node has no --admin-token: a token entered here is answered 403 admin_disabled, and the page says why.
      await page.fill("#token", ADMIN_TOKEN);
      await page.press("#token", "Enter");
      const admin = await waitForLive(page, errors, (v) => v.adminMsg.includes("admin_disabled"), "the admin_disabled message");
      expect(admin.adminMsg).toContain("started without --admin-token");
      expect(admin.adminOpen).toBe(false);
      expect(errors).toEqual([]);
    } finally {
      await page.close();
    }
  }, TEST_TIMEOUT_MS);

  test("every string from the network is shown as text, never as markup (answers faked in the browser)", async () => {
    // Also by construction: the script has no way to parse data as HTML, and keeps the token nowhere but in memory.
    expect(DASHBOARD_SCRIPT).not.toMatch(/innerHTML|outerHTML|insertAdjacentHTML|document\.write|localStorage|sessionStorage|document\.cookie/);
    const evil = `<img src=x onerror="window.pwned=1">&amp;"'`;
    const sad = "<i>sad</i>";
    const answers: Record<string, unknown> = {
      "/nodes": { self: evil, nodes: [{ name: evil, url: "ws://x", state: "alive", region: evil, rtt: 0, linked: false, self: true, connections: 7, draining: false }] },
      "/channels": { node: evil, channels: [{ name: evil, instance: "i1", creator: evil, owner: evil, createdAt: new Date().toISOString(), protected: true, strict: false, subscribers: { [evil]: 3, [sad]: null } }] },
      "/events": { node: evil, events: [{ at: new Date().toISOString(), message: `${evil} joined` }] },
      "/admin/stats": {
        query: "stats",
        asked: evil,
        partial: true,
        missing: ["<b>gone</b>"],
        nodes: {
          [evil]: { ok: true, data: { connections: 7, subscriptions: 1, channels: 1, peers: 0, publishRate: 0, deliveryRate: 0, rssBytes: 50e6, heapUsedBytes: 5e6, uptimeSeconds: 60, version: evil, draining: false } },
          [sad]: { ok: false, code: "<u>code</u>", message: "<s>boom</s>" },
        },
        tookMs: 1500,
      },
    };
    const { page, errors } = await open(`${lone!.httpUrl}/`, async (p) => {
      await p.route(/\/(nodes|channels|events|admin\/stats)(\?.*)?$/, (route) => route.fulfill({ json: answers[new URL(route.request().url()).pathname] }));
    });
    try {
      const view = await waitForLive(page, errors, (v) => v.members[0]?.connections === "7" && v.channels[0]?.owner !== undefined && v.eventTimes.length === 1, "the faked member, channel and event");
      expect(view.members[0]).toMatchObject({ node: `${evil} this node`, region: evil, connections: "7", self: "yes" });
      expect(view.channels[0]).toMatchObject({ channel: evil, owner: evil, "subscribers per node": `${evil}: 3 · ${sad}: some`, locked: "yes" });
      expect(view.events[0]).toEndWith(`${evil} joined`);

      await page.fill("#token", "any-token-the-fake-accepts");
      await page.click("#tokenform button[type=submit]");
      const admin = await waitForLive(page, errors, (v) => v.adminOpen && v.stats.length === 3, "the faked admin stats");
      expect(admin.partial).toBe("partial: no answer from <b>gone</b>");
      expect(admin.stats.map((r) => r.name)).toEqual([evil, "<b>gone</b>", sad]);
      expect(admin.stats[0]).toMatchObject({ node: `${evil} this node`, conns: "7", version: evil });
      expect(admin.stats[1]!.conns).toBe("no answer within 1500 ms");
      expect(admin.stats[2]!.conns).toBe("<u>code</u>: <s>boom</s>");

      // None of it became an element (the page's own <b>s are in the status cards), and no handler in it ran.
      const injected = await page.evaluate(() => ({ elements: document.querySelectorAll("img, :is(#memberrows, #chanrows, #events, #adminview) :is(b, i, u, s)").length, pwned: "pwned" in window }));
      expect(injected).toEqual({ elements: 0, pwned: false });
      expect(errors).toEqual([]);
    } finally {
      await page.close();
    }
  }, TEST_TIMEOUT_MS);

  test("node 1's live view: members, a protected channel, join events; the admin panel refuses a wrong token, shows every node's stats, and drains node 3 (screenshot)", async () => {
    const [first, second, third] = mesh;
    await meshConverged();
    // One subscriber on node 1 (counted exactly there) and one on node 2 (only "some", seen from node 1).
    await secretSubscriber(first!);
    const onSecond = await secretSubscriber(second!);
    const secondClientId = String(onSecond.frames.find((f) => f.op === "welcome")!.client);

    const { page, errors, requests, dialogs } = await open(`${first!.httpUrl}/`);
    try {
      // Node 1 holds two connections (the test's client and the page's own console), node 2 one, node 3 none.
      const connections = { [NAMES[0]]: "2", [NAMES[1]]: "1", [NAMES[2]]: "0" };
      const view = await waitForLive(
        page,
        errors,
        (v) =>
          v.members.length === 3 &&
          NAMES.every((n) => memberRow(v, n)?.state === "alive" && memberRow(v, n)?.connections === connections[n]) &&
          v.channels.some((c) => c.channel === SECRET_CHANNEL && (c["subscribers per node"] ?? "").includes(`${NAMES[1]}: some`)) &&
          v.events.some((e) => e.includes(`${NAMES[1]} joined`)),
        "3 alive members with their connections, the protected channel with both subscribers, and a join event",
      );
      expect(view.members.map((m) => m.self)).toEqual(["yes", "no", "no"]);
      expect(view.members[0]!.node).toBe(`${NAMES[0]} this node`);
      expect(view.members.map((m) => m.draining)).toEqual(["no", "no", "no"]);
      const secret = view.channels.find((c) => c.channel === SECRET_CHANNEL)!;
      expect(secret.locked).toBe("yes");
      expect(NAMES as readonly (string | undefined)[]).toContain(secret.owner);
      expect(secret["subscribers per node"]).toBe(`${NAMES[0]}: 1 · ${NAMES[1]}: some`);
      // Newest first.
      expect(view.eventTimes).toEqual([...view.eventTimes].sort().reverse());
      expect(view.adminOpen).toBe(false);

      // A wrong token: refused with 401, said plainly, and the panel stays shut.
      await page.fill("#token", "not-the-admin-token-0123456789");
      await page.press("#token", "Enter");
      const refused = await waitForLive(page, errors, (v) => v.adminMsg.startsWith("wrong token"), "the wrong-token message");
      expect(refused.adminMsg).toContain("401 unauthorized");
      expect(refused.adminOpen).toBe(false);

      // The right token: every node's stats.
      await page.fill("#token", ADMIN_TOKEN);
      await page.press("#token", "Enter");
      const admin = await waitForLive(page, errors, (v) => v.adminOpen && v.stats.length === 3 && v.stats.every((r) => /^\d+$/.test(r.conns ?? "")), "the admin stats of all three nodes");
      expect(admin.stats.map((r) => r.name)).toEqual([...NAMES]);
      expect(admin.stats[0]!.node).toBe(`${NAMES[0]} this node`);
      expect(admin.stats.map((r) => r.draining)).toEqual(["no", "no", "no"]);
      expect(admin.partial).toBeNull();
      expect(admin.adminMsg).toStartWith("unlocked");
      // The token stayed in memory: not in the URL, any request's URL, storage or cookies.
      expect(page.url()).not.toContain(ADMIN_TOKEN);
      expect(requests.filter((u) => u.includes(ADMIN_TOKEN))).toEqual([]);
      expect(await page.evaluate(() => localStorage.length + sessionStorage.length + document.cookie.length)).toBe(0);

      // Log level of node 2.
      const row = (name: string) => page.locator(`#statrows tr[data-name="${name}"]`);
      await row(NAMES[1]).locator("select.level").selectOption("debug");
      await row(NAMES[1]).locator("button.setlevel").click();
      await waitForLive(page, errors, (v) => v.result === `${NAMES[1]} now logs at debug`, "the log level result");

      // Kick: an unknown client is an error shown as such; node 2's client is found and closed.
      await page.fill("#kickid", "no-such-client");
      await page.press("#kickid", "Enter");
      await waitForLive(page, errors, (v) => v.result.startsWith("kick no-such-client failed: unknown_client"), "the unknown_client error");
      await page.fill("#kickid", secondClientId);
      await page.press("#kickid", "Enter");
      await waitForLive(page, errors, (v) => v.result === `kicked client ${secondClientId} from ${NAMES[1]}`, "the kick result");
      await waitFor(() => onSecond.closed, "node 2's client to be closed", CONVERGE_MS);

      // Drain node 3, which this page is not served by: confirmed, then its /healthz says so.
      await row(NAMES[2]).locator("button.drain").click();
      expect(dialogs).toEqual([`confirm: Drain ${NAMES[2]}? It takes no new clients, tells its clients to move, and leaves the mesh a few seconds later.`]);
      await waitForLive(page, errors, (v) => v.result.startsWith(`${NAMES[2]} is draining`), "the drain result");
      const health = await waitFor(
        async () => {
          const res = await fetch(`${third!.httpUrl}/healthz`);
          const body = (await res.json()) as { status: string };
          return res.status === 503 && body.status === "draining" ? body : null;
        },
        `${third!.httpUrl}/healthz to answer 503 draining`,
        CONVERGE_MS,
      );
      expect(health.status).toBe("draining");

      // For the picture only, not a requirement: node 3's row showing "draining" before it leaves the mesh.
      await waitForLive(page, errors, (v) => v.stats.find((r) => r.name === NAMES[2])?.draining === "draining", "node 3 draining in the stats", 4_000).catch(() => undefined);
      mkdirSync(RESULTS, { recursive: true });
      const shot = join(RESULTS, "dashboard-admin.png");
      await page.screenshot({ path: shot, fullPage: true });
      expect(statSync(shot).size).toBeGreaterThan(1_000);
      const foreign = requests.filter((u) => !u.startsWith(`${first!.httpUrl}/`) && !u.startsWith("data:"));
      expect(foreign).toEqual([]);
      expect(errors).toEqual([]);
    } finally {
      await page.close();
    }
  }, 60_000);
});
