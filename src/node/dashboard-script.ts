/**
 * The dashboard's browser script, inlined by status-page.ts into the page at GET /. It polls the
 * node's own JSON routes every ~2 s and redraws: the status cards (/healthz), the mesh map as an
 * inline SVG (/topology), the members table (/nodes), the channels table (/channels) and the recent
 * events (/events). Once an admin token is entered it also polls /admin/stats and offers the admin
 * commands (drain, log level, kick, close a channel). It also runs the "Try it" console over the
 * node's client WebSocket.
 *
 * Invariants:
 * - every string that came from the network reaches the DOM through textContent, a text node, or an
 *   attribute set with setAttribute on an element made by createElement(NS); never through innerHTML;
 * - the admin token lives in one variable only: never in storage, a cookie or the URL, so a reload
 *   forgets it; a refusal of the token (401, or 403 admin_disabled) forgets it too;
 * - the map layout is a pure function of the topology (no randomness, no clock): nodes sit on one
 *   circle ordered by (region, name), with a gap between regions, so the same mesh always draws the
 *   same picture, and a node keeps its place while the others' states change;
 * - the script is plain ES2020 with no backticks or dollar-brace sequences, since it lives in a
 *   template literal on the server side.
 */
export const DASHBOARD_SCRIPT = String.raw`
const $ = (id) => document.getElementById(id);
const SVG_NS = "http://www.w3.org/2000/svg";
const POLL_MS = 2000;
const MAP_WIDTH = 900;
const NAME_MAX = 20;

/** An element (HTML, or SVG when ns is given) with attributes and optional text, all set safely. */
function make(tag, attrs, text, ns) {
  const e = ns ? document.createElementNS(ns, tag) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = String(text);
  return e;
}
const svg = (tag, attrs, text) => make(tag, attrs, text, SVG_NS);
const set = (id, v) => { $(id).textContent = String(v); };
const short = (s) => (s.length > NAME_MAX ? s.slice(0, NAME_MAX - 1) + "\u2026" : s);
const ms = (rtt) => (typeof rtt !== "number" || !isFinite(rtt) ? "?" : rtt < 0.01 ? "<0.01 ms" : (rtt < 1 ? rtt.toFixed(2) : rtt < 10 ? rtt.toFixed(1) : String(Math.round(rtt))) + " ms");
const byName = (a, b) => (a < b ? -1 : a > b ? 1 : 0);
function dur(s) { return s < 120 ? s + "s" : s < 7200 ? Math.round(s / 60) + "m" : Math.round(s / 3600) + "h"; }
async function getJson(path) {
  const res = await fetch(path, { cache: "no-store" });
  if (!res.ok) throw new Error(path + " answered " + res.status);
  return res.json();
}
/** Replaces a tbody's rows: one row per entry of cells (each a string or a ready node), or a placeholder. */
function fillRows(tbody, rows, columns, empty) {
  tbody.replaceChildren();
  for (const cells of rows) {
    const tr = make("tr");
    for (const c of cells) { const td = make("td"); if (c instanceof Node) td.append(c); else td.textContent = String(c); tr.append(td); }
    tbody.append(tr);
  }
  if (!rows.length) { const tr = make("tr"); tr.append(make("td", { colspan: columns, class: "muted" }, empty)); tbody.append(tr); }
}
const pill = (state) => make("span", { class: "state " + state }, state);

// ---- status cards, members, channels, events ----

async function refreshStatus() {
  const h = await getJson("/healthz");
  set("status", h.status); $("status").className = h.status === "ok" ? "ok" : "bad";
  set("version", h.version); set("uptime", dur(h.uptimeSeconds));
  for (const k of ["connections", "subscriptions", "channels", "peers", "members"]) set(k, h[k] ?? "\u2013");
}

/** A name cell, tagged when it is this node. */
function nameCell(name, isSelf) {
  const cell = make("span", {}, name);
  if (isSelf) cell.append(" ", make("span", { class: "tag" }, "this node"));
  return cell;
}
/** A sort order on names: this node (self) first, then by name. */
const selfFirst = (self) => (a, b) => (b === self) - (a === self) || byName(a, b);

async function refreshMembers() {
  const data = await getJson("/nodes");
  const nodes = [...data.nodes].sort((a, b) => selfFirst(data.self)(a.name, b.name));
  const rows = nodes.map((m) => [nameCell(m.name, m.self), m.region || "\u2013", pill(m.state), m.self ? "\u2013" : m.rtt == null ? "not measured" : ms(m.rtt), m.self ? "\u2013" : m.linked ? "yes" : "no", m.connections ?? "?", m.draining ? "draining" : "no"]);
  fillRows($("memberrows"), rows, 7, "no members");
  nodes.forEach((m, i) => { if (m.self) $("memberrows").rows[i].className = "self"; });
}

/** A small padlock (inline SVG: the page ships no fonts, and an emoji font may be missing). */
function lockIcon() {
  const s = svg("svg", { class: "lock", viewBox: "0 0 12 14", width: 11, height: 13, role: "img", "aria-label": "protected" });
  s.append(svg("title", {}, "protected: subscribing and publishing need the channel's password"),
    svg("path", { d: "M3 6.5V4.5a3 3 0 0 1 6 0v2", fill: "none", stroke: "currentColor", "stroke-width": 1.8 }),
    svg("rect", { x: 1, y: 6, width: 10, height: 8, rx: 1.5, fill: "currentColor" }));
  return s;
}

async function refreshChannels() {
  const c = await getJson("/channels");
  const rows = [...c.channels].sort((a, b) => byName(a.name, b.name)).map((ch) => {
    const name = make("span", {}, ch.name);
    if (ch.protected) name.append(" ", lockIcon());
    if (ch.strict) name.append(" ", make("span", { class: "tag", title: "bound only with a majority of the mesh" }, "strict"));
    // A count is exact only for the node that serves this page; the others announce "some" (null).
    const subs = make("span");
    Object.keys(ch.subscribers || {}).sort(selfFirst(c.node)).forEach((node, i) => {
      const n = ch.subscribers[node];
      if (i) subs.append(" \u00b7 ");
      subs.append(make("span", { class: "sub", "data-node": node }, node + ": " + (n === null ? "some" : n)));
    });
    if (!subs.childNodes.length) subs.append(make("span", { class: "muted" }, "none"));
    return [name, ch.owner, subs];
  });
  fillRows($("chanrows"), rows, 3, "no channels open");
}

/** A wall-clock time for an ISO timestamp, or "?" when it does not parse. */
function clock(iso) {
  const d = new Date(iso);
  return isNaN(d.getTime()) ? "?" : d.toLocaleTimeString();
}

async function refreshEvents() {
  const data = await getJson("/events");
  // The node lists them oldest first; the newest matter most here.
  const items = [...data.events].reverse().map((ev) => {
    const li = make("li");
    li.append(make("time", { datetime: ev.at }, clock(ev.at)), " ", document.createTextNode(ev.message));
    return li;
  });
  if (!items.length) items.push(make("li", { class: "muted" }, "none yet"));
  $("events").replaceChildren(...items);
}

// ---- the mesh map ----

/** Above this many links only this node's links carry an RTT label (every line has a tooltip). */
const LABEL_ALL_MAX = 24;
/** The node under the pointer, if any: its links stay bright and the rest fade. */
let focused = null;

/**
 * Where each node goes: on one circle, ordered by (region, name), one empty slot between regions.
 * Returns positions by name, the circle, the node radius, whether names are radial (many nodes),
 * and the region arcs.
 */
function layout(nodes) {
  const key = (n) => n.region || "";
  const sorted = [...nodes].sort((a, b) => byName(key(a) || "\uffff", key(b) || "\uffff") || byName(a.name, b.name));
  const grouped = new Set(sorted.map(key)).size > 1;
  const slots = [];
  sorted.forEach((n, i) => { if (grouped && i > 0 && key(n) !== key(sorted[i - 1])) slots.push(null); slots.push(n); });
  if (grouped) slots.push(null);
  const total = slots.length;
  const radius = sorted.length <= 1 ? 0 : Math.min(250, Math.max(140, total * 15));
  const nodeR = sorted.length <= 1 ? 22 : Math.max(7, Math.min(20, ((2 * Math.PI * radius) / total) * 0.3));
  const radial = total > 14;
  const cx = MAP_WIDTH / 2, cy = 0;
  const start = sorted.length === 2 ? Math.PI : -Math.PI / 2;
  const pos = new Map();
  const arcs = [];
  slots.forEach((n, i) => {
    if (!n) return;
    const angle = start + (2 * Math.PI * i) / total;
    pos.set(n.name, { x: cx + radius * Math.cos(angle), y: cy + radius * Math.sin(angle), angle, node: n });
    const last = arcs[arcs.length - 1];
    if (grouped && last && last.region === key(n)) last.to = angle;
    else if (grouped) arcs.push({ region: key(n), from: angle, to: angle });
  });
  return { pos, cx, cy, radius, nodeR, radial, arcs };
}

/** Where a node's name goes (just outside the circle, reading left to right) and the box it takes. */
function nameSpot(L, p, isSelf) {
  const gap = L.nodeR + (isSelf ? 12 : 8);
  const c = Math.cos(p.angle), s = Math.sin(p.angle);
  const chars = short(p.node.name).length;
  if (L.radius === 0) return { x: p.x, y: p.y + gap, anchor: "middle", baseline: "hanging", tagDy: 18, box: { x: p.x - chars * 3.7, y: p.y + gap, w: chars * 7.4, h: 36 } };
  if (L.radial) {
    // Along the spoke, outwards; the box (for framing only) spans the rotated text's two ends.
    const flip = c < -1e-9, len = (chars + (isSelf ? 12 : 0)) * 7.2;
    const x = p.x + gap * c, y = p.y + gap * s, ex = x + len * c, ey = y + len * s;
    const box = { x: Math.min(x, ex) - 6, y: Math.min(y, ey) - 8, w: Math.abs(ex - x) + 12, h: Math.abs(ey - y) + 16 };
    return { x, y, anchor: flip ? "end" : "start", baseline: "central", flip, box, outside: true, rotate: ((p.angle * 180) / Math.PI + (flip ? 180 : 0)).toFixed(2) + " " + x.toFixed(1) + " " + y.toFixed(1) };
  }
  const level = Math.abs(c) < 0.35;
  const x = p.x + gap * c, y = p.y + gap * s + (level ? (s < 0 ? (isSelf ? -38 : -22) : 6) : -8);
  const anchor = level ? "middle" : c > 0 ? "start" : "end";
  const w = Math.max(chars, isSelf ? 9 : 0) * 7.4, h = isSelf ? 34 : 18;
  return { x, y, anchor, baseline: "hanging", tagDy: 16, box: { x: anchor === "middle" ? x - w / 2 : anchor === "start" ? x : x - w, y: y - 2, w, h } };
}

/** True when box b overlaps any box already taken (axis-aligned, by a label or a node). */
function overlaps(taken, b) {
  return taken.some((t) => b.x < t.x + t.w && t.x < b.x + b.w && b.y < t.y + t.h && t.y < b.y + b.h);
}

/** Region groups: a light band along the circle behind the nodes, and the region's name inside it. */
function drawRegions(bands, labels, L, taken) {
  const band = L.nodeR * 2 + 14;
  const at = (a, r) => (L.cx + r * Math.cos(a)).toFixed(1) + " " + (L.cy + r * Math.sin(a)).toFixed(1);
  for (const arc of L.arcs) {
    const pad = Math.min(0.2, Math.PI / (L.arcs.length * 8));
    const a0 = arc.from - pad, a1 = arc.to + pad;
    bands.append(svg("path", { class: "region-band", d: "M " + at(a0, L.radius) + " A " + L.radius + " " + L.radius + " 0 " + (a1 - a0 > Math.PI ? 1 : 0) + " 1 " + at(a1, L.radius), "stroke-width": band }));
    // The region's name goes inside the circle, stepping inwards until it clears the nodes.
    const mid = (arc.from + arc.to) / 2, name = arc.region || "no region", w = name.length * 6.6;
    const spots = [14, 30, 46].map((d) => L.radius - band / 2 - d).map((r) => ({ x: L.cx + r * Math.cos(mid) - w / 2, y: L.cy + r * Math.sin(mid) - 8, w, h: 16 }));
    const box = spots.find((b) => !overlaps(taken, b)) || spots[0];
    labels.append(svg("text", { class: "region-label", x: box.x + w / 2, y: box.y + 8, "text-anchor": "middle", "dominant-baseline": "central" }, name));
    taken.push(box);
  }
}

/** Links as lines; RTT labels at the first free spot along the line, this node's links first. */
function drawLinks(lines, labels, L, links, self, taken) {
  const mine = (l) => l.a === self || l.b === self;
  const drawable = links.filter((l) => L.pos.has(l.a) && L.pos.has(l.b) && l.a !== l.b)
    .sort((x, y) => (mine(y) - mine(x)) || byName(x.a, y.a) || byName(x.b, y.b));
  const labelAll = drawable.length <= LABEL_ALL_MAX;
  let hidden = 0;
  for (const l of drawable) {
    const a = L.pos.get(l.a), b = L.pos.get(l.b), ends = { "data-a": l.a, "data-b": l.b };
    const line = svg("line", { class: "link" + (mine(l) ? " mine" : ""), x1: a.x, y1: a.y, x2: b.x, y2: b.y, "data-rtt": ms(l.rtt), ...ends });
    line.append(svg("title", {}, l.a + " \u2194 " + l.b + ": " + ms(l.rtt)));
    lines.append(line);
    const text = ms(l.rtt), w = text.length * 6.6 + 6, h = 15;
    const spot = labelAll || mine(l)
      ? [0.5, 0.4, 0.6, 0.32, 0.68].map((t) => ({ x: a.x + (b.x - a.x) * t - w / 2, y: a.y + (b.y - a.y) * t - h / 2, w, h })).find((box) => !overlaps(taken, box))
      : undefined;
    if (!spot) { hidden++; continue; }
    taken.push(spot);
    labels.append(...rttLabel(spot, text, "rtt" + (mine(l) ? " mine" : ""), ends));
    line.setAttribute("data-labelled", "1");
  }
  return hidden;
}

/** An RTT label: its text on a white plate (the box is x, y, w, h). */
function rttLabel(box, text, cls, ends) {
  return [
    svg("rect", { class: "rtt-bg", x: box.x, y: box.y, width: box.w, height: box.h, rx: 4, ...ends }),
    svg("text", { class: cls, x: box.x + box.w / 2, y: box.y + box.h / 2, "text-anchor": "middle", "dominant-baseline": "central", ...ends }, text),
  ];
}

function drawNodes(g, L, self) {
  for (const [name, p] of [...L.pos].sort((x, y) => byName(x[0], y[0]))) {
    const isSelf = name === self, spot = nameSpot(L, p, isSelf);
    const node = svg("g", { class: "node " + p.node.state + (isSelf ? " self" : ""), "data-name": name, "data-state": p.node.state });
    node.append(svg("title", {}, name + (p.node.region ? " \u00b7 " + p.node.region : "") + " \u00b7 " + p.node.state + (isSelf ? " \u00b7 this node" : "")));
    if (isSelf) node.append(svg("circle", { class: "self-ring", cx: p.x, cy: p.y, r: L.nodeR + 5 }));
    node.append(svg("circle", { class: "dot", cx: p.x, cy: p.y, r: L.nodeR }));
    const label = svg("text", { class: "name", x: spot.x, y: spot.y, "text-anchor": spot.anchor, "dominant-baseline": spot.baseline }, short(name));
    if (spot.rotate) label.setAttribute("transform", "rotate(" + spot.rotate + ")");
    node.append(label);
    if (isSelf && spot.rotate) {
      // Radial names: the tag rides on the same line, on the side away from the circle.
      if (spot.flip) label.prepend(svg("tspan", { class: "self-tag" }, "this node \u00b7 "));
      else label.append(svg("tspan", { class: "self-tag" }, " \u00b7 this node"));
    } else if (isSelf) {
      node.append(svg("text", { class: "self-tag", x: spot.x, y: spot.y + spot.tagDy, "text-anchor": spot.anchor, "dominant-baseline": "hanging" }, "this node"));
    }
    node.addEventListener("pointerenter", () => focus(name));
    node.addEventListener("pointerleave", () => focus(null));
    g.append(node);
  }
}

/**
 * Brightens the links of the node under the pointer, with an RTT label on each (also those left off
 * the full map), and fades the rest; null clears it.
 */
function focus(name) {
  focused = name;
  const map = $("map");
  map.querySelector(".focus-labels")?.remove();
  map.classList.toggle("focus", name !== null);
  const touches = (e) => name !== null && (e.getAttribute("data-a") === name || e.getAttribute("data-b") === name);
  for (const e of map.querySelectorAll(".link, .rtt, .rtt-bg")) e.classList.toggle("hl", touches(e));
  if (name === null) return;
  const extra = svg("g", { class: "focus-labels" });
  for (const line of map.querySelectorAll(".link.hl:not([data-labelled])")) {
    const far = line.getAttribute("data-a") === name ? "2" : "1", near = far === "1" ? "2" : "1";
    const at = (k, end) => Number(line.getAttribute(k + end));
    // Two thirds of the way out from the hovered node, so labels fan out instead of meeting in the middle.
    const text = line.getAttribute("data-rtt"), w = text.length * 6.6 + 6, h = 15;
    const x = at("x", near) + (at("x", far) - at("x", near)) * 0.62, y = at("y", near) + (at("y", far) - at("y", near)) * 0.62;
    extra.append(...rttLabel({ x: x - w / 2, y: y - h / 2, w, h }, text, "rtt hl", {}));
  }
  map.querySelector(".nodes").before(extra);
}

function drawMap(topo) {
  const L = layout(topo.nodes);
  const map = $("map");
  const layer = (c) => svg("g", { class: c });
  const bands = layer("regions"), lines = layer("links"), labels = layer("labels"), dots = layer("nodes");
  // Nodes and names take their room first, so that region and RTT labels keep clear of them.
  const taken = [], names = [];
  for (const [name, p] of L.pos) {
    taken.push({ x: p.x - L.nodeR - 6, y: p.y - L.nodeR - 6, w: 2 * L.nodeR + 12, h: 2 * L.nodeR + 12 });
    const spot = nameSpot(L, p, name === topo.self);
    names.push(spot.box);
    if (!spot.outside) taken.push(spot.box);
  }
  // The frame: everything drawn, plus a little air; never narrower than the panel's own width.
  const all = taken.concat(names);
  const x0 = Math.min(0, ...all.map((b) => b.x - 12)), x1 = Math.max(MAP_WIDTH, ...all.map((b) => b.x + b.w + 12));
  const top = Math.min(...all.map((b) => b.y - 12)), bottom = Math.max(...all.map((b) => b.y + b.h + 12));
  const room = Math.max(0, 160 - (bottom - top)) / 2, y0 = top - room, y1 = bottom + room;
  map.setAttribute("viewBox", [x0, y0, x1 - x0, y1 - y0].map(Math.round).join(" "));
  drawRegions(bands, labels, L, taken);
  const hidden = drawLinks(lines, labels, L, topo.links, topo.self, taken);
  drawNodes(dots, L, topo.self);
  map.replaceChildren(bands, lines, labels, dots);
  if (focused !== null && L.pos.has(focused)) focus(focused); else focus(null);
  const n = topo.nodes.length, alive = topo.nodes.filter((x) => x.state === "alive").length, links = topo.links.length;
  set("mapinfo", n + " node" + (n === 1 ? "" : "s") + " (" + alive + " alive), " + links + " link" + (links === 1 ? "" : "s") +
    (hidden ? "; " + hidden + " RTT label" + (hidden === 1 ? "" : "s") + " left off to keep the map readable (hover a node or a line)" : "") + " \u00b7 updated " + new Date().toLocaleTimeString());
  $("alone").hidden = n !== 1;
  map.classList.remove("stale");
}

async function refreshMap() {
  try { drawMap(await getJson("/topology")); }
  catch (err) { $("map").classList.add("stale"); set("mapinfo", "map not updated: " + err.message); throw err; }
}

// ---- polling ----

async function tick() {
  const results = await Promise.allSettled([refreshStatus(), refreshMap(), refreshMembers(), refreshChannels(), refreshEvents()]);
  if (results[0].status === "rejected") { set("status", "unreachable"); $("status").className = "bad"; }
  setTimeout(tick, POLL_MS);
}
tick();

// ---- admin (needs the admin token) ----

/** The admin token: in this variable only (see the invariants above); null while locked. */
let token = null;
/** Bumped whenever the token changes, so an answer to a request sent with an older token is dropped. */
let tokenGen = 0;
/** The stats survey's own deadline: short, so a silent node delays a poll little. */
const SURVEY_MS = 1500;
const LEVELS = ["trace", "debug", "info", "warn", "error", "silent"];
/** The stats table's rows by node name, updated in place so that a poll never closes an open menu. */
const statRows = new Map();

const note = (id, text, cls) => { set(id, text); $(id).className = cls; };

function unlock(t) {
  token = t; tokenGen++;
  $("forget").hidden = false;
  note("adminmsg", "checking the token\u2026", "muted");
  refreshAdmin();
}

function lock(text, cls) {
  token = null; tokenGen++;
  $("forget").hidden = true; $("adminview").hidden = true;
  statRows.clear(); $("statrows").replaceChildren();
  note("adminresult", "", "");
  note("adminmsg", text, cls);
}

/** Why the node refused the token outright (a wrong token, or no admin API at all), or null. */
function refusal(status, body) {
  if (status === 401) return "wrong token: the node refused it (401 unauthorized). Enter the node's --admin-token.";
  if (status === 403 && body && body.error && body.error.code === "admin_disabled") return "no admin API here: this node was started without --admin-token (403 admin_disabled).";
  return null;
}
const failure = (r) => (r.body && r.body.error ? r.body.error.code + ": " + r.body.error.message : "HTTP " + r.status);

/**
 * One request to the admin API with the token. Resolves with {status, body}; or with null when the
 * answer no longer matters (the token changed meanwhile) or refused the token (the panel locks).
 */
async function admin(method, path, payload) {
  const gen = tokenGen;
  const headers = { Authorization: "Bearer " + token };
  if (payload) headers["Content-Type"] = "application/json";
  const res = await fetch(path, { method, headers, cache: "no-store", body: payload ? JSON.stringify(payload) : undefined });
  const body = await res.json().catch(() => null);
  if (gen !== tokenGen) return null;
  const refused = refusal(res.status, body);
  if (refused) { lock(refused, "bad"); return null; }
  return { status: res.status, body };
}

async function refreshAdmin() {
  if (token === null) return;
  let r;
  try { r = await admin("GET", "/admin/stats?timeout=" + SURVEY_MS); }
  catch (err) { note("adminmsg", "admin figures not updated: " + err.message, "bad"); return; }
  if (!r) return;
  if (r.status !== 200) { note("adminmsg", "admin figures not updated: " + failure(r), "bad"); return; }
  note("adminmsg", "unlocked: every node's figures as of " + new Date().toLocaleTimeString() + " (the survey took " + r.body.tookMs + " ms)", "ok");
  $("adminview").hidden = false;
  drawStats(r.body);
}

const mb = (bytes) => (bytes / 1048576).toFixed(1) + " MB";
/** One stats answer's figures, one per data column of the stats table. */
const figures = (d) => [d.connections, d.subscriptions, d.channels, d.peers, d.publishRate, d.deliveryRate, mb(d.rssBytes), mb(d.heapUsedBytes), dur(d.uptimeSeconds), d.version, d.draining ? "draining" : "no"];
const FIGURES = 11;

/** A stats row for a node, made once: its name cell, figure cells and actions (drain, log level). */
function statRow(name) {
  const tr = make("tr", { "data-name": name });
  const cells = [];
  for (let i = 0; i <= FIGURES; i++) cells.push(make("td", i > 0 && i < 9 ? { class: "num" } : {}));
  const drain = make("button", { type: "button", class: "drain" }, "drain");
  drain.onclick = () => {
    if (confirm("Drain " + name + "? It takes no new clients, tells its clients to move, and leaves the mesh a few seconds later.")) command("drain", { node: name }, "drain " + name);
  };
  const level = make("select", { class: "level", "aria-label": "log level of " + name });
  for (const l of LEVELS) level.append(make("option", l === "info" ? { selected: "" } : {}, l));
  const setLevel = make("button", { type: "button", class: "setlevel" }, "set level");
  setLevel.onclick = () => command("loglevel", { node: name, level: level.value }, "log level of " + name);
  const actions = make("td", { class: "actions" });
  actions.append(drain, " ", level, " ", setLevel);
  tr.append(...cells, actions);
  return { tr, cells, drain };
}

function drawStats(s) {
  const names = Object.keys(s.nodes).concat(s.missing).sort(selfFirst(s.asked));
  for (const [name, row] of statRows) if (!names.includes(name)) { row.tr.remove(); statRows.delete(name); }
  for (const name of names) {
    if (!statRows.has(name)) statRows.set(name, statRow(name));
    const row = statRows.get(name), o = s.nodes[name], ok = !!(o && o.ok);
    row.tr.className = name === s.asked ? "self" : "";
    row.cells[0].replaceChildren(nameCell(name, name === s.asked));
    // A node that failed or did not answer gets one wide cell saying so instead of its figures.
    const text = ok ? figures(o.data) : [o ? o.code + ": " + o.message : "no answer within " + SURVEY_MS + " ms"];
    row.cells.slice(1).forEach((td, i) => { td.hidden = i >= text.length; td.textContent = i < text.length ? String(text[i]) : ""; });
    row.cells[1].colSpan = ok ? 1 : FIGURES;
    row.cells[1].className = ok ? "num" : "bad";
    row.drain.disabled = ok && o.data.draining;
  }
  // Reorder only when the order changed: moving a row closes a menu open in it.
  const tbody = $("statrows");
  if (names.some((name, i) => tbody.rows[i] !== statRows.get(name).tr)) tbody.append(...names.map((n) => statRows.get(n).tr));
  $("partial").hidden = !s.partial;
  set("partial", s.partial ? "partial: no answer from " + s.missing.join(", ") : "");
}

/** What a command that succeeded did, in words. */
function done(what, payload, body) {
  const d = body.data || {};
  if (what === "drain") return payload.node + " is draining: " + d.clients + " client(s) told to move" + (d.suggested && d.suggested.length ? " to " + d.suggested.join(", ") : "");
  if (what === "loglevel") return payload.node + " now logs at " + d.level;
  if (what === "kick") return "kicked client " + payload.client + " from " + (body.nodes || []).join(", ");
  return "closed channel " + payload.name + " on every node";
}

/** Sends an admin command and shows its outcome, or its error, under the stats table. */
async function command(what, payload, label) {
  if (token === null) return;
  note("adminresult", label + ": sending\u2026", "muted");
  let r;
  try { r = await admin("POST", "/admin/" + what, payload); }
  catch (err) { note("adminresult", label + " failed: could not reach the node (" + err.message + ")", "bad"); return; }
  if (!r) return;
  if (r.status === 200 && r.body && r.body.ok) note("adminresult", done(what, payload, r.body), "ok");
  else note("adminresult", label + " failed: " + failure(r), "bad");
  refreshAdmin();
}

$("tokenform").onsubmit = (e) => {
  e.preventDefault();
  const t = $("token").value.trim();
  $("token").value = "";
  if (t) unlock(t);
};
$("forget").onclick = () => lock("token forgotten.", "muted");
$("kickform").onsubmit = (e) => {
  e.preventDefault();
  const client = $("kickid").value.trim();
  if (client) command("kick", { client }, "kick " + client);
};
$("closeform").onsubmit = (e) => {
  e.preventDefault();
  const name = $("closename").value.trim();
  if (name && confirm("Close channel " + name + " on every node? Its subscribers lose it.")) command("close-channel", { name }, "close " + name);
};

// Its own loop: a survey waiting on a silent node must not hold back the public view.
async function adminTick() {
  await refreshAdmin().catch(() => undefined);
  setTimeout(adminTick, POLL_MS);
}
adminTick();

// ---- the "Try it" console ----

const log = (line) => { $("log").prepend(make("div", {}, line)); };
const ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/");
let next = 1;
ws.onmessage = (e) => {
  const f = JSON.parse(e.data);
  if (f.op === "msg") log("msg " + f.channel + ": " + JSON.stringify(f.data));
  else if (f.op === "error") log("error " + f.code + ": " + f.message);
  else if (f.op === "welcome") log("connected as client " + f.client);
};
ws.onclose = (e) => log("closed " + e.code + " " + e.reason);
$("sub").onclick = () => { ws.send(JSON.stringify({ op: "sub", channel: $("channel").value, echo: true, id: next++ })); log("subscribed " + $("channel").value); };
$("try").onsubmit = (e) => { e.preventDefault(); ws.send(JSON.stringify({ op: "pub", channel: $("channel").value, data: $("payload").value, id: next++ })); };
`;
