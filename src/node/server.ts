import type { Server } from "bun";
import type { ConsolaInstance } from "consola/core";
import {
  ERRORS,
  maxFrameBytes,
  PROTOCOL_VERSION,
  SUBPROTOCOL_JSON,
  SUBPROTOCOL_MSGPACK,
  type Encoding,
  type Payload,
} from "../protocol/index.ts";
import { ClientHandler } from "./client-handler.ts";
import type { Config } from "./config.ts";
import { Fanout } from "./fanout.ts";
import { handleHttp } from "./http.ts";
import { Metrics, type MemoryUsage } from "./metrics.ts";
import { fullBucket } from "./ratelimit.ts";
import type { ClientSocket, Session } from "./session.ts";
import { backstopBytes, SLOW_CONSUMER_SWEEP_MS, SlowConsumerGuard } from "./slow-consumers.ts";
import { LocalSubscriptions } from "./subscriptions.ts";

/** What the shell around a node (the CLI, or a test) passes in: the I/O edges. */
export interface NodeDeps {
  log: ConsolaInstance;
  /** The node's name when --name is not set (the CLI passes the host name). */
  defaultName: string;
  /** Milliseconds clock; defaults to performance.now. */
  now?: () => number;
  /** Process memory for /metrics; defaults to process.memoryUsage. */
  memory?: () => MemoryUsage;
}

/** A running node. */
export interface RelayNode {
  /** The node's name (--name, or the host name). */
  readonly name: string;
  /** The port actually bound (useful with --port 0). */
  readonly port: number;
  /** ws:// URL clients use to reach this node. */
  readonly url: string;
  /** Live counters, as /metrics renders them. */
  readonly metrics: Metrics;
  /** Runs the slow-consumer sweep now (it also runs every 100 ms); returns how many clients it cut. */
  sweepSlowConsumers(): number;
  /**
   * The mesh's door into this node: delivers a message from another node to local subscribers.
   * A message with an invalid channel or publisher id is dropped and logged.
   */
  deliverFromPeer(channel: string, data: Payload, from: string | undefined): void;
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
  /** Counter behind client ids. */
  let nextClient = 0;
  /** "running" accepts clients; anything else refuses them (503 at the upgrade, 1001 if they slip in). */
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
        memory: deps.memory ?? (() => process.memoryUsage()),
        channels: () => subs.list(),
        url: () => advertisedUrl(),
      });
    },
    websocket: {
      maxPayloadLength: maxFrameBytes(config.maxPayload),
      // The sweep below cuts at --max-buffered with a close frame; Bun's own cut further up is the
      // hard backstop that bounds memory between sweeps. Never drop silently: close instead.
      backpressureLimit: backstopBytes(config.maxBuffered),
      closeOnBackpressureLimit: true,
      idleTimeout: config.idleTimeout,
      sendPings: true,
      publishToSelf: false,
      open(ws) {
        if (sessions.size >= config.maxConnections || state !== "running") {
          const code = state !== "running" ? "shutting_down" : "too_many_connections";
          ws.data.closing = code;
          handler.sendError(ws, code, code === "too_many_connections" ? `this node holds its limit of ${config.maxConnections} connections` : ERRORS[code].message);
          ws.close(ERRORS[code].close, code);
          return;
        }
        sessions.add(ws);
        metrics.connectionsTotal++;
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
        // Bun cuts a frame over maxPayloadLength before any handler sees it: the client gets 1009,
        // while this handler sees 1006 with Bun's reason, which is all there is to recognise it by.
        if (ws.data.closing === null && (code === 1009 || reason === "Received too big message")) metrics.error("payload_too_large");
        guard.onClose(ws, code);
        log.debug(`client ${ws.data.id} closed ${code}${reason ? ` ${reason}` : ""}`);
      },
      error(err, ws) {
        log.error(`client ${ws.data.id}: handler failed`, err);
      },
    },
  });

  const fanout = new Fanout(server, metrics);
  const handler = new ClientHandler(config, subs, fanout, metrics, log, now);
  const guard = new SlowConsumerGuard(sessions, config.maxBuffered, metrics, log);
  const port: number = server.port ?? config.port;
  const localHost = config.host === "0.0.0.0" || config.host === "::" ? "127.0.0.1" : config.host;
  const advertisedUrl = (): string => config.advertise ?? `ws://${localHost}:${port}`;

  const sweep = setInterval(() => guard.sweep(), SLOW_CONSUMER_SWEEP_MS);
  sweep.unref?.();

  /** The one shutdown in progress, so stop() is idempotent. */
  let stopping: Promise<void> | null = null;
  return {
    name,
    port,
    get url() {
      return advertisedUrl();
    },
    metrics,
    sweepSlowConsumers: () => guard.sweep(),
    deliverFromPeer(channel, data, from) {
      if (!fanout.deliverFromPeer(channel, data, from)) log.warn(`dropped a peer message with an invalid channel or publisher id`);
    },
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

