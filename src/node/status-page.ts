/**
 * The dashboard at GET /: this node's live status, a live map of the mesh (inline SVG), the member
 * table, the mesh's channels, recent membership events, an admin panel (behind the admin token), and
 * a small console to subscribe and publish from the browser. Self-contained: no assets, no fonts, no
 * CDN, no build step. The page is static apart from the node's name; everything live is fetched by
 * the script (dashboard-script.ts) from the node's own JSON routes: /healthz, /topology, /nodes,
 * /channels, /events, and /admin/* once a token is entered.
 */
import { DASHBOARD_SCRIPT } from "./dashboard-script.ts";

/**
 * Colours by member state: `fill` and `stroke` for the node on the map (and its legend key), `pill`
 * behind the white state word in the members table. Dead and left nodes are pale and dashed.
 */
const STATES = {
  alive: { fill: "#12b76a", stroke: "#067647", pill: "#079455" },
  suspect: { fill: "#fdb022", stroke: "#b54708", pill: "#dc6803" },
  dead: { fill: "#fda29b", stroke: "#b42318", pill: "#d92d20" },
  left: { fill: "#d0d5dd", stroke: "#667085", pill: "#667085" },
} as const;

const stateCss = Object.entries(STATES)
  .map(([s, c]) => `#map .node.${s} .dot { fill: ${c.fill}; stroke: ${c.stroke}; } .key.${s}::before { background: ${c.fill}; box-shadow: inset 0 0 0 1.5px ${c.stroke}; } .state.${s} { background: ${c.pill}; }`)
  .join("\n  ");

const STYLE = `
  :root { font: 15px/1.45 system-ui, sans-serif; color: #1d2430; background: #f5f7fa; }
  body { max-width: 960px; margin: 2rem auto; padding: 0 1rem; }
  h1 { font-size: 1.4rem; margin: 0 0 .2rem; } h2 { font-size: 1.05rem; margin: 1.5rem 0 .5rem; }
  .muted { color: #667085; } .ok { color: #067647; } .bad { color: #b42318; }
  .cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(140px, 1fr)); gap: .75rem; }
  .card { background: #fff; border: 1px solid #e4e7ec; border-radius: 8px; padding: .75rem 1rem; }
  .card b { display: block; font-size: 1.5rem; }
  table { width: 100%; border-collapse: collapse; background: #fff; border: 1px solid #e4e7ec; }
  td, th { text-align: left; padding: .35rem .75rem; border-bottom: 1px solid #eef0f3; }
  input, button { font: inherit; padding: .3rem .5rem; }
  #log { height: 10rem; overflow: auto; background: #fff; border: 1px solid #e4e7ec; padding: .5rem; font-family: ui-monospace, monospace; font-size: 13px; }
  .panel { background: #fff; border: 1px solid #e4e7ec; border-radius: 8px; padding: .25rem; }
  #map { display: block; width: 100%; height: auto; transition: opacity .3s; }
  #map.stale { opacity: .45; }
  #map text { font: 13px system-ui, sans-serif; fill: #1d2430; }
  #map .link { stroke: #c3cad5; stroke-width: 1.5; }
  #map .link.mine { stroke: #528bff; stroke-width: 2.5; }
  #map .rtt { font-size: 11.5px; fill: #475467; paint-order: stroke; stroke: #fff; stroke-width: 4px; stroke-linejoin: round; }
  #map .rtt.mine { fill: #1849a9; font-weight: 600; }
  #map .dot { stroke-width: 2; }
  #map .node.dead .dot, #map .node.left .dot { stroke-dasharray: 4 3; }
  #map .node { cursor: default; }
  #map .rtt-bg { fill: #fff; fill-opacity: .85; }
  #map.focus .link:not(.hl), #map.focus .labels .rtt:not(.hl), #map.focus .labels .rtt-bg:not(.hl) { opacity: .12; }
  #map .focus-labels .rtt { fill: #1849a9; font-weight: 600; }
  #map.focus .link.hl { stroke: #1849a9; stroke-width: 2.5; }
  #map .self-ring { fill: none; stroke: #1849a9; stroke-width: 3.5; }
  #map .name { paint-order: stroke; stroke: #fff; stroke-width: 4px; stroke-linejoin: round; }
  #map .self .name { font-weight: 700; }
  #map .self-tag { fill: #1849a9; font-size: 12px; font-weight: 600; paint-order: stroke; stroke: #fff; stroke-width: 4px; }
  #map .region-band { fill: none; stroke: #f2f4f7; stroke-linecap: round; }
  #map .region-label { font-size: 12px; fill: #667085; font-style: italic; paint-order: stroke; stroke: #fff; stroke-width: 4px; stroke-linejoin: round; }
  .legend { display: flex; flex-wrap: wrap; gap: .4rem 1.1rem; font-size: 13px; margin: .4rem .25rem 0; }
  .key::before { content: ""; display: inline-block; width: .75rem; height: .75rem; border-radius: 50%; margin-right: .35rem; vertical-align: -1px; }
  .key.self::before { background: #fff; box-shadow: inset 0 0 0 3px #1849a9; }
  .key.link::before { width: 1.4rem; height: 3px; border-radius: 0; background: #528bff; vertical-align: 3px; }
  .hint { background: #eff8ff; border: 1px solid #b2ddff; border-radius: 8px; padding: .5rem .75rem; margin: .5rem 0 0; }
  .state { display: inline-block; padding: 0 .5rem; border-radius: 999px; color: #fff; font-size: 13px; font-weight: 600; }
  .tag { font-size: 12px; color: #1849a9; font-weight: 600; }
  tr.self td { background: #f5faff; }
  .lock { vertical-align: -1px; color: #b54708; }
  .events { list-style: none; margin: 0; padding: .4rem .75rem; max-height: 11rem; overflow: auto; background: #fff; border: 1px solid #e4e7ec; font-size: 14px; }
  .events time { color: #667085; font-variant-numeric: tabular-nums; margin-right: .4rem; }
  .admin { padding: .75rem 1rem; }
  .admin p { margin: .4rem 0; }
  #stats { font-size: 13px; margin-top: .5rem; } #stats td, #stats th { padding: .3rem .45rem; }
  #stats td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
  #stats td:first-child, #stats .actions { white-space: nowrap; } #stats .tag { display: block; }
  #stats button, #stats select { font-size: 13px; padding: .15rem .4rem; }
  .row { display: flex; flex-wrap: wrap; gap: .5rem 1.5rem; margin: .75rem 0 0; }
  ${stateCss}
`;

/** The links under the page: the node's JSON and Prometheus routes. */
const ROUTES = ["/metrics", "/healthz", "/nodes", "/topology", "/channels", "/events"].map((r) => `<a href="${r}">${r}</a>`).join(" · ");

/** The whole page for the node called `nodeName` (escaped here; it is the only server-side value). */
export function statusPage(nodeName: string): string {
  const name = nodeName.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>Relay · ${name}</title><link rel="icon" href="data:,">
<style>${STYLE}</style></head>
<body>
<h1>Relay node <span id="node">${name}</span></h1>
<div class="muted"><span id="status">connecting…</span> · version <span id="version">?</span> · up <span id="uptime">?</span></div>
<h2>Now</h2>
<div class="cards">
  <div class="card"><span class="muted">connections</span><b id="connections">–</b></div>
  <div class="card"><span class="muted">subscriptions</span><b id="subscriptions">–</b></div>
  <div class="card"><span class="muted">channels</span><b id="channels">–</b></div>
  <div class="card"><span class="muted">peer links</span><b id="peers">–</b></div>
  <div class="card"><span class="muted">members alive</span><b id="members">–</b></div>
</div>
<h2>The mesh</h2>
<div class="panel"><svg id="map" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 900 200" role="img" aria-label="map of the mesh: nodes and the links between them with their round-trip times"></svg></div>
<div class="legend"><span class="key alive">alive</span><span class="key suspect">suspect</span><span class="key dead">dead</span><span class="key left">left</span><span class="key self">this node</span><span class="key link">link, labelled with its round-trip time</span></div>
<p id="alone" class="hint" hidden>Running alone: start more nodes with <code>--cluster-key</code> and <code>--seed</code> to form a mesh.</p>
<p id="mapinfo" class="muted">loading the map…</p>
<h2>Members</h2>
<table id="members-table"><thead><tr><th>node</th><th>region</th><th>state</th><th>RTT from this node</th><th>linked</th><th>connections</th><th>draining</th></tr></thead><tbody id="memberrows"><tr><td colspan="7" class="muted">loading…</td></tr></tbody></table>
<h2>Channels</h2>
<p class="muted">Every channel open in the mesh. Subscriber counts are exact for this node; other nodes only say they have "some".</p>
<table id="channels-table"><thead><tr><th>channel</th><th>owner</th><th>subscribers per node</th></tr></thead><tbody id="chanrows"><tr><td colspan="3" class="muted">loading…</td></tr></tbody></table>
<h2>Recent events</h2>
<ol id="events" class="events"><li class="muted">loading…</li></ol>
<h2>Admin</h2>
<div class="panel admin">
<!-- The token input has no name attribute: even a form submitted without the script cannot put it in the URL. -->
<form id="tokenform" autocomplete="off"><input id="token" type="password" autocomplete="off" placeholder="admin token" aria-label="admin token"> <button type="submit">unlock</button> <button id="forget" type="button" hidden>forget the token</button></form>
<p id="adminmsg" class="muted">Enter the node's --admin-token to see every node's figures and to drain, kick or close. The token stays in this page's memory only.</p>
<div id="adminview" hidden>
<p id="partial" class="bad" hidden></p>
<table id="stats"><thead><tr><th>node</th><th>conns</th><th>subs</th><th>chans</th><th>peers</th><th>pub/s</th><th>deliv/s</th><th>RSS</th><th>heap</th><th>up</th><th>version</th><th>draining</th><th>actions</th></tr></thead><tbody id="statrows"></tbody></table>
<div class="row">
<form id="kickform"><input id="kickid" placeholder="client id" aria-label="client id to kick" autocomplete="off"> <button type="submit">kick client</button></form>
<form id="closeform"><input id="closename" placeholder="channel" aria-label="channel to close" autocomplete="off"> <button type="submit">close channel</button></form>
</div>
<p id="adminresult" role="status"></p>
</div>
</div>
<h2>Try it</h2>
<p class="muted">Subscribe and publish from this page over the node's WebSocket (JSON protocol v1, see docs/protocol.md).</p>
<form id="try"><input id="channel" value="demo" aria-label="channel"> <button id="sub" type="button">subscribe</button>
<input id="payload" value="hello" aria-label="message"> <button id="pub" type="submit">publish</button></form>
<div id="log"></div>
<p class="muted">${ROUTES}</p>
<script type="module">${DASHBOARD_SCRIPT}</script>
</body></html>`;
}
