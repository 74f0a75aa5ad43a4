import type { Config } from "./config.ts";
import type { LiveCounts, MemoryUsage, Metrics } from "./metrics.ts";
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
  /** Channels with local subscribers, for /channels. */
  channels: () => { name: string; subscribers: number }[];
  /** The URL clients should use to reach this node. */
  url: () => string;
}

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
        },
        { status: ctx.draining ? 503 : 200 },
      );
    }
    case "/metrics":
      return new Response(ctx.metrics.render(ctx.live(), ctx.config, ctx.name, ctx.memory()), {
        headers: { "Content-Type": "text/plain; version=0.0.4; charset=utf-8" },
      });
    case "/nodes":
      // A lone node's directory; the mesh fills in the other members.
      return Response.json({
        self: ctx.name,
        nodes: [{ name: ctx.name, url: ctx.url(), state: "alive", region: ctx.config.region ?? null, connections: ctx.live().connections, draining: ctx.draining }],
      });
    case "/channels":
      return Response.json({ node: ctx.name, channels: ctx.channels() });
    case "/":
      return new Response(statusPage(ctx.name), { headers: { "Content-Type": "text/html; charset=utf-8" } });
    default:
      return Response.json({ error: { code: "not_found", message: `no route ${pathname}; try /, /healthz, /metrics, /nodes, /channels` } }, { status: 404 });
  }
}
