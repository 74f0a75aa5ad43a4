/**
 * The dashboard's browser script, inlined by status-page.ts into the page at GET /. It polls the
 * node's own JSON routes every ~2 s and redraws: the status cards (/healthz), the mesh map as an
 * inline SVG (/topology), the members table (/nodes) and the channels table (/channels); it also
 * runs the "Try it" console over the node's client WebSocket.
 *
 * Invariants:
 * - every string that came from the network reaches the DOM through textContent or an attribute
 *   set with setAttribute on an element made by createElement(NS); never through innerHTML;
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

// ---- status cards and channels ----

async function refreshStatus() {
  const h = await getJson("/healthz");
  set("status", h.status); $("status").className = h.status === "ok" ? "ok" : "bad";
  set("version", h.version); set("uptime", dur(h.uptimeSeconds));
  for (const k of ["connections", "subscriptions", "channels", "peers", "members"]) set(k, h[k] ?? "\u2013");
  const c = await getJson("/channels");
  fillRows($("chanrows"), c.channels.map((ch) => [ch.name, ch.subscribers]), 2, "none yet");
}

// ---- members table ----

async function refreshMembers() {
  const data = await getJson("/nodes");
  const rows = [...data.nodes].sort((a, b) => (b.self === true) - (a.self === true) || byName(a.name, b.name)).map((m) => {
    const name = make("span", {}, m.name);
    if (m.self) name.append(" ", make("span", { class: "tag" }, "this node"));
    return [name, m.region || "\u2013", pill(m.state), m.self ? "\u2013" : m.rtt == null ? "not measured" : ms(m.rtt), m.self ? "\u2013" : m.linked ? "yes" : "no"];
  });
  fillRows($("memberrows"), rows, 5, "no members");
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
  const results = await Promise.allSettled([refreshStatus(), refreshMap(), refreshMembers()]);
  if (results[0].status === "rejected") { set("status", "unreachable"); $("status").className = "bad"; }
  setTimeout(tick, POLL_MS);
}
tick();

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
