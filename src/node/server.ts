import type { Server } from "bun";
import type { ConsolaInstance } from "consola/core";
import {
  ERRORS,
  FRAME_OVERHEAD,
  PROTOCOL_VERSION,
  SUBPROTOCOL_JSON,
  SUBPROTOCOL_MSGPACK,
  type Encoding,
} from "../protocol/index.ts";
import { ClientHandler } from "./client-handler.ts";
import type { Config } from "./config.ts";
import { Fanout } from "./fanout.ts";
import { handleHttp } from "./http.ts";
import { Metrics } from "./metrics.ts";
import { fullBucket } from "./ratelimit.ts";
import type { ClientSocket, Session } from "./session.ts";
import { LocalSubscriptions } from "./subscriptions.ts";

/** What the shell around a node (the CLI, or a test) passes in: the I/O edges. */
export interface NodeDeps {
  log: ConsolaInstance;
  /** The node's name when --name is not set (the CLI passes the host name). */
  defaultName: string;
  /** Milliseconds clock; defaults to performance.now. */
  now?: () => number;
}

/** A running node. */
export interface RelayNode {
  readonly name: string;
  /** The port actually bound (useful with --port 0). */
  readonly port: number;
  /** ws:// URL clients use to reach this node. */
  readonly url: string;
  readonly metrics: Metrics;
  /** Runs the slow-consumer sweep now (it also runs every 100 ms); returns how many clients it cut. */
  sweepSlowConsumers(): number;
  /** Stops accepting, closes every client with 1001, and stops the server. Idempotent. */
  stop(): Promise<void>;
}

/** Starts a node: HTTP, client WebSockets and (later) peer links, all on one port. */
export function startNode(config: Config, deps: NodeDeps): RelayNode {
  const { log } = deps;
  const now = deps.now ?? (() => performance.now());
  const name = config.name ?? deps.defaultName;
  const started = now();
  const metrics = new Metrics();
  const subs = new LocalSubscriptions();
  const sessions = new Set<ClientSocket>();
  // A random tag keeps client ids unique across restarts of the same node, so `from` never
  // names an earlier client by mistake.
  const idTag = crypto.getRandomValues(new Uint32Array(1))[0]!.toString(36);
  let nextClient = 0;
  let state: "running" | "stopping" | "stopped" = "running";

  const server: Server<Session> = Bun.serve<Session>({
    hostname: config.host,
    port: config.port,
    // Bun's own idle timeout on HTTP requests; client WebSockets have theirs below.
    idleTimeout: 30,
    fetch(req, srv): Response | undefined {
      if (req.headers.get("upgrade")?.toLowerCase() === "websocket") {
        if (state !== "running") return httpError(503, "shutting_down", ERRORS.shutting_down.message);
        const path = new URL(req.url).pathname;
        if (path !== "/") return httpError(404, "not_found", "clients connect at / (peers use their own path)");
        const picked = pickSubprotocol(req.headers.get("sec-websocket-protocol"));
        if (!picked) {
          metrics.error("unsupported_protocol");
          return httpError(400, "unsupported_protocol", `this node speaks ${SUBPROTOCOL_JSON} and ${SUBPROTOCOL_MSGPACK}`);
        }
        const data: Session = {
          id: `${idTag}.${(nextClient++).toString(36)}`,
          encoding: picked.encoding,
          subs: new Set(),
          echo: null,
          bucket: fullBucket(config.publishBurst, now()),
          remote: srv.requestIP(req)?.address ?? "unknown",
          closing: null,
          backlog: 0,
        };
        const headers = picked.header ? { "Sec-WebSocket-Protocol": picked.header } : undefined;
        if (srv.upgrade(req, { data, headers })) return undefined;
        return httpError(400, "bad_upgrade", "the WebSocket upgrade failed");
      }
      return handleHttp(req, {
        name,
        config,
        metrics,
        draining: state !== "running",
        live: () => ({ connections: sessions.size, subscriptions: subs.total, channels: subs.channels, uptimeSeconds: (now() - started) / 1000 }),
        channels: () => subs.list(),
        url: () => advertisedUrl(),
      });
    },
    websocket: {
      maxPayloadLength: config.maxPayload + FRAME_OVERHEAD,
      // The sweep below cuts at --max-buffered with a close frame; Bun's own cut further up is the
      // hard backstop that bounds memory between sweeps. Never drop silently: close instead.
      backpressureLimit: backstopBytes(config.maxBuffered),
      closeOnBackpressureLimit: true,
      idleTimeout: config.idleTimeout,
      sendPings: true,
      publishToSelf: false,
      open(ws) {
        metrics.connectionsTotal++;
        if (sessions.size >= config.maxConnections || state !== "running") {
          const code = state !== "running" ? "shutting_down" : "too_many_connections";
          ws.data.closing = code;
          handler.sendError(ws, code, code === "too_many_connections" ? `this node holds its limit of ${config.maxConnections} connections` : ERRORS[code].message);
          ws.close(ERRORS[code].close, code);
          return;
        }
        sessions.add(ws);
        log.debug(`client ${ws.data.id} connected from ${ws.data.remote} (${ws.data.encoding})`);
        handler.send(ws, {
          op: "welcome",
          v: PROTOCOL_VERSION,
          node: name,
          client: ws.data.id,
          limits: {
            maxPayload: config.maxPayload,
            maxSubscriptions: config.maxSubscriptions,
            publishRate: config.publishRate,
            publishBurst: config.publishBurst,
          },
        });
      },
      message(ws, raw) {
        handler.onMessage(ws, raw);
      },
      close(ws, code, reason) {
        if (!sessions.delete(ws)) return;
        subs.dropAll(ws);
        // Past the backstop Bun cuts the socket itself (1006, no reason). If the sweep last saw
        // this client backed up, that cut is the backstop for a slow consumer, so count it as one.
        if (ws.data.closing === null && code === 1006 && ws.data.backlog > 0) ws.data.closing = "slow_consumer";
        if (ws.data.closing === "slow_consumer") metrics.slowConsumerCuts++;
        log.debug(`client ${ws.data.id} closed ${code}${reason ? ` ${reason}` : ""}`);
      },
      error(err, ws) {
        log.error(`client ${ws.data.id}: handler failed`, err);
      },
    },
  });

  const handler = new ClientHandler(config, subs, new Fanout(server, metrics), metrics, log, now);
  const port: number = server.port ?? config.port;
  const localHost = config.host === "0.0.0.0" || config.host === "::" ? "127.0.0.1" : config.host;
  const advertisedUrl = (): string => config.advertise ?? `ws://${localHost}:${port}`;

  // Slow consumers: a client's send buffer is filled by native fan-out, so JS cannot see it grow
  // per message. A sweep reads every buffer a few times a second (per client, never per message)
  // and cuts clients past --max-buffered with slow_consumer (4008), leaving everyone else alone.
  const sweepSlowConsumers = (): number => {
    let cuts = 0;
    for (const ws of sessions) {
      const backlog = ws.getBufferedAmount();
      ws.data.backlog = backlog;
      if (backlog > config.maxBuffered && ws.data.closing === null) {
        ws.data.closing = "slow_consumer";
        metrics.error("slow_consumer");
        log.warn(`client ${ws.data.id} (${ws.data.remote}) cut as a slow consumer: ${backlog} bytes unsent`);
        ws.close(ERRORS.slow_consumer.close, "slow_consumer");
        // The close frame waits behind the backlog, and a client that does not read never answers
        // it: give it a moment to read up and see 4008, then drop the socket and free its buffer.
        setTimeout(() => {
          if (sessions.has(ws)) ws.terminate();
        }, SLOW_CONSUMER_GRACE_MS).unref?.();
        cuts++;
      }
    }
    return cuts;
  };
  const sweep = setInterval(sweepSlowConsumers, SLOW_CONSUMER_SWEEP_MS);
  sweep.unref?.();

  let stopping: Promise<void> | null = null;
  return {
    name,
    port,
    get url() {
      return advertisedUrl();
    },
    metrics,
    sweepSlowConsumers,
    stop() {
      stopping ??= (async () => {
        state = "stopping";
        clearInterval(sweep);
        log.info(`stopping: closing ${sessions.size} client(s) with 1001`);
        for (const ws of sessions) {
          ws.data.closing = "shutting_down";
          ws.close(1001, "shutting_down");
        }
        await server.stop(true);
        state = "stopped";
      })();
      return stopping;
    },
  };
}

/** How often send buffers are checked for slow consumers. */
const SLOW_CONSUMER_SWEEP_MS = 100;
/** How long a cut slow consumer may take to read up to its close frame before the socket is dropped. */
const SLOW_CONSUMER_GRACE_MS = 1000;

/**
 * Where Bun cuts a client by itself: far enough above --max-buffered that the sweep normally
 * cuts first (a client would have to fall behind by 8 MiB within one 100 ms sweep), and still a
 * hard bound on the memory one client can pin.
 */
export function backstopBytes(maxBuffered: number): number {
  return maxBuffered * 4 + 8 * 1024 * 1024;
}

/** Chooses the encoding from the client's offered subprotocols; none offered means JSON v1. */
export function pickSubprotocol(header: string | null): { encoding: Encoding; header: string | null } | null {
  if (!header) return { encoding: "json", header: null };
  for (const offered of header.split(",").map((s) => s.trim())) {
    if (offered === SUBPROTOCOL_JSON) return { encoding: "json", header: offered };
    if (offered === SUBPROTOCOL_MSGPACK) return { encoding: "msgpack", header: offered };
  }
  return null;
}

function httpError(status: number, code: string, message: string): Response {
  return Response.json({ error: { code, message } }, { status });
}

