import type { Config } from "./config.ts";
import type { LiveCounts, MemoryUsage, Metrics, RegistryView } from "./metrics.ts";
import type { PeerLinks } from "./peers.ts";
import { VERSION } from "./version.ts";
import { statusPage } from "./status-page.ts";

/** What the HTTP routes read from the running node. */
export interface HttpContext {
  /** The node's name. */
  name: string;
  config: Config;
  metrics: Metrics;
  /** True once the node stopped accepting clients: /healthz says "draining" with 503. */
  draining: boolean;
  /** Live gauges, read per request so they never drift. */
  live: () => LiveCounts;
  /** Process memory, for /metrics. */
  memory: () => MemoryUsage;
  /** The channel registry's records, for /channels. */
  channels: () => unknown[];
  /** The URL clients should use to reach this node. */
  url: () => string;
  /** The mesh, or null when this node runs alone. */
  mesh: () => PeerLinks | null;
  /** The channel registry's figures, for /metrics. */
  registry: () => RegistryView;
}

const PUBLIC_CORS = { "Access-Control-Allow-Origin": "*" };

/** The node's plain HTTP routes (the WebSocket upgrade at / is handled before this). */
export function handleHttp(req: Request, ctx: HttpContext): Response {
  const { pathname } = new URL(req.url);
  if (req.method !== "GET" && req.method !== "HEAD") {
    return Response.json({ error: { code: "method_not_allowed", message: "only GET is served here" } }, { status: 405, headers: { Allow: "GET, HEAD" } });
  }
  switch (pathname) {
    case "/healthz": {
      const live = ctx.live();
      return Response.json(
        {
          status: ctx.draining ? "draining" : "ok",
          node: ctx.name,
          version: VERSION,
          url: ctx.url(),
          region: ctx.config.region ?? null,
          uptimeSeconds: Math.round(live.uptimeSeconds),
          connections: live.connections,
          subscriptions: live.subscriptions,
          channels: live.channels,
          peers: ctx.mesh()?.peerCount ?? 0,
          members: ctx.mesh()?.mesh.members().filter((m) => m.state === "alive").length ?? 1,
        },
        { status: ctx.draining ? 503 : 200 },
      );
    }
    case "/metrics":
      return new Response(ctx.metrics.render(ctx.live(), ctx.config, ctx.name, ctx.memory(), meshView(ctx.mesh()), ctx.registry()), {
        headers: { "Content-Type": "text/plain; version=0.0.4; charset=utf-8" },
      });
    case "/nodes":
      // The SDK in a page served from elsewhere reads the directory and times /ping: both are
      // public and read-only, so any origin may read them.
      return Response.json(nodes(ctx), { headers: PUBLIC_CORS });
    case "/topology":
      return Response.json(topology(ctx));
    case "/ping":
      // The cheapest answer there is: peers and the SDK time it to measure RTT.
      return new Response(null, { status: 204, headers: { "Cache-Control": "no-store", ...PUBLIC_CORS } });
    case "/channels":
      return Response.json({ node: ctx.name, channels: ctx.channels() });
    case "/events":
      return Response.json({ node: ctx.name, events: ctx.mesh()?.events() ?? [] });
    case "/":
      return new Response(statusPage(ctx.name), { headers: { "Content-Type": "text/html; charset=utf-8" } });
    default:
      return Response.json({ error: { code: "not_found", message: `no route ${pathname}; try /, /healthz, /metrics, /nodes, /topology, /channels, /events` } }, { status: 404 });
  }
}

/** The member table (ARCHITECTURE.md section 6 contract), with this node's RTT to each member. */
function nodes(ctx: HttpContext) {
  const mesh = ctx.mesh();
  const selfRow = { name: ctx.name, url: ctx.url(), state: "alive", region: ctx.config.region ?? null, rtt: 0, linked: false, self: true, connections: ctx.live().connections, draining: ctx.draining };
  if (!mesh) return { self: ctx.name, nodes: [selfRow] };
  return {
    self: ctx.name,
    nodes: mesh.mesh.members().map((m) =>
      m.name === ctx.name
        ? { ...selfRow, incarnation: m.incarnation }
        : { name: m.name, url: m.url, state: m.state, region: m.region || null, incarnation: m.incarnation, rtt: m.rtt === null ? null : Math.round(m.rtt * 100) / 100, linked: m.linked, self: false, connections: m.connections, draining: m.draining },
    ),
  };
}

/** The mesh map for the dashboard: members, and every link both ends report, with its RTT. */
function topology(ctx: HttpContext) {
  const mesh = ctx.mesh();
  if (!mesh) return { self: ctx.name, nodes: [{ name: ctx.name, state: "alive", region: ctx.config.region ?? null }], links: [] };
  return {
    self: ctx.name,
    nodes: mesh.mesh.members().map((m) => ({ name: m.name, state: m.state, region: m.region || null })),
    links: mesh.mesh.topology(),
  };
}

function meshView(peers: PeerLinks | null) {
  if (!peers) return null;
  return { peers: peers.peerCount, memberStates: peers.mesh.members().map((m) => m.state), stats: peers.mesh.stats() };
}
