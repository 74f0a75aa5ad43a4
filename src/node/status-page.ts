/**
 * The page at GET /: this node's live status (polled from /healthz and /channels) and a small
 * console to subscribe and publish from the browser. Self-contained: no assets, no build step.
 * The mesh map and admin views grow here later.
 */
export function statusPage(nodeName: string): string {
  const name = nodeName.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>Relay · ${name}</title>
<style>
  :root { font: 15px/1.45 system-ui, sans-serif; color: #1d2430; background: #f5f7fa; }
  body { max-width: 960px; margin: 2rem auto; padding: 0 1rem; }
  h1 { font-size: 1.4rem; margin: 0 0 .2rem; } h2 { font-size: 1.05rem; margin: 1.5rem 0 .5rem; }
  .muted { color: #667085; } .ok { color: #067647; } .bad { color: #b42318; }
  .cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(150px, 1fr)); gap: .75rem; }
  .card { background: #fff; border: 1px solid #e4e7ec; border-radius: 8px; padding: .75rem 1rem; }
  .card b { display: block; font-size: 1.5rem; }
  table { width: 100%; border-collapse: collapse; background: #fff; border: 1px solid #e4e7ec; }
  td, th { text-align: left; padding: .35rem .75rem; border-bottom: 1px solid #eef0f3; }
  input, button { font: inherit; padding: .3rem .5rem; } #log { height: 10rem; overflow: auto; background: #fff; border: 1px solid #e4e7ec; padding: .5rem; font-family: ui-monospace, monospace; font-size: 13px; }
</style></head>
<body>
<h1>Relay node <span id="node">${name}</span></h1>
<div class="muted"><span id="status">connecting…</span> · version <span id="version">?</span> · up <span id="uptime">?</span></div>
<h2>Now</h2>
<div class="cards">
  <div class="card"><span class="muted">connections</span><b id="connections">–</b></div>
  <div class="card"><span class="muted">subscriptions</span><b id="subscriptions">–</b></div>
  <div class="card"><span class="muted">channels</span><b id="channels">–</b></div>
</div>
<h2>Channels on this node</h2>
<table><thead><tr><th>channel</th><th>subscribers</th></tr></thead><tbody id="chanrows"><tr><td colspan="2" class="muted">none yet</td></tr></tbody></table>
<h2>Try it</h2>
<p class="muted">Subscribe and publish from this page over the node's WebSocket (JSON protocol v1, see docs/protocol.md).</p>
<form id="try"><input id="channel" value="demo" aria-label="channel"> <button id="sub" type="button">subscribe</button>
<input id="payload" value="hello" aria-label="message"> <button id="pub" type="submit">publish</button></form>
<div id="log"></div>
<p class="muted"><a href="/metrics">/metrics</a> · <a href="/healthz">/healthz</a> · <a href="/nodes">/nodes</a> · <a href="/channels">/channels</a></p>
<script type="module">
const $ = (id) => document.getElementById(id);
const text = (id, v) => { $(id).textContent = String(v); };
function dur(s) { return s < 120 ? s + "s" : s < 7200 ? Math.round(s / 60) + "m" : Math.round(s / 3600) + "h"; }
async function refresh() {
  try {
    const h = await (await fetch("/healthz")).json();
    text("status", h.status); $("status").className = h.status === "ok" ? "ok" : "bad";
    text("version", h.version); text("uptime", dur(h.uptimeSeconds));
    text("connections", h.connections); text("subscriptions", h.subscriptions); text("channels", h.channels);
    const c = await (await fetch("/channels")).json();
    const rows = $("chanrows"); rows.replaceChildren();
    for (const ch of c.channels) {
      const tr = document.createElement("tr");
      for (const v of [ch.name, ch.subscribers]) { const td = document.createElement("td"); td.textContent = String(v); tr.append(td); }
      rows.append(tr);
    }
    if (!c.channels.length) rows.innerHTML = '<tr><td colspan="2" class="muted">none yet</td></tr>';
  } catch { text("status", "unreachable"); $("status").className = "bad"; }
}
refresh(); setInterval(refresh, 2000);
const log = (line) => { const d = document.createElement("div"); d.textContent = line; $("log").prepend(d); };
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
</script>
</body></html>`;
}
