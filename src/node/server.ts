import type { Server, ServerWebSocket } from "bun";
import type { ConsolaInstance } from "consola/core";
import {
  ERRORS,
  maxFrameBytes,
  PROTOCOL_VERSION,
  SUBPROTOCOL_JSON,
  SUBPROTOCOL_MSGPACK,
  SUBPROTOCOL_JSON_V2,
  SUBPROTOCOL_MSGPACK_V2,
  type Encoding,
  type Payload,
} from "../protocol/index.ts";
import { ChannelAdmission } from "./admission.ts";
import { ChannelMap } from "./channel-map.ts";
import { timing, type ChannelRecord } from "../mesh/index.ts";
import { ClientHandler } from "./client-handler.ts";
import type { Config } from "./config.ts";
import { Fanout } from "./fanout.ts";
import { handleHttp } from "./http.ts";
import { Metrics, type MemoryUsage } from "./metrics.ts";
import { AddressThrottle } from "./ratelimit.ts";
import { PEER_PATH } from "../protocol/peer.ts";
import { PEER_MAX_FRAME, PeerLinks, type PeerSocketData } from "./peers.ts";
import type { ClientSocket, Session } from "./session.ts";

import { backstopBytes, SLOW_CONSUMER_SWEEP_MS, SlowConsumerGuard } from "./slow-consumers.ts";
import { LocalSubscriptions } from "./subscriptions.ts";
import { Admin } from "./admin.ts";
import { commandKey } from "./admin-auth.ts";
import { adminHandlers } from "./admin-handlers.ts";
import { handleAdmin } from "./admin-http.ts";
import { VERSION } from "./version.ts";
import { ClientAuth, tokenOf, type ClientGrant } from "./client-auth.ts";
import { readFileSync } from "node:fs";

/** What a socket of the shared Bun.serve carries: a client session or a peer link. */
type SocketData = Session | PeerSocketData;

/** Clients of a draining node get this long to move after the goaway frame before it closes them. */
const DRAIN_GRACE_MS = 5000;
/** `stats` rates are per second over this interval. */
const RATE_SAMPLE_MS = 5000;

/** What the shell around a node (the CLI, or a test) passes in: the I/O edges. */
export interface NodeDeps {
  log: ConsolaInstance;
  /** The node's name when --name is not set (the CLI passes the host name). */
  defaultName: string;
  /** Milliseconds clock; defaults to performance.now. */
  now?: () => number;
  /** Process memory for /metrics; defaults to process.memoryUsage. */
  memory?: () => MemoryUsage;
  /** This start's incarnation in the mesh; defaults to the wall clock in ms, so a restart is newer. */
  incarnation?: number;
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
  deliverFromPeer(channel: string, instance: string, data: Payload, from: string | undefined, n?: number): void;
  /** The channel registry's live record of a name. */
  channel(name: string): ChannelRecord | undefined;
  /** The mesh shell, or null when the node runs alone (no --cluster-key). */
  readonly peers: PeerLinks | null;
  /** Stops accepting, closes every client with 1001, and stops the server. Idempotent. */
  stop(): Promise<void>;
}

/** Starts a node: HTTP, client WebSockets and (later) peer links, all on one port. */
export function startNode(config: Config, deps: NodeDeps): RelayNode {
  const { log } = deps;
  // Wall-clock milliseconds from a monotonic source: channel records carry creation times other
  // nodes compare, and intervals must not jump with the system clock.
  // timeOrigin is read once: reading it per call showed up at 1.7% of a publish's CPU.
  const origin = performance.timeOrigin;
  const now = deps.now ?? (() => origin + performance.now());
  const name = config.name ?? deps.defaultName;
  const started = now();
  const metrics = new Metrics();
  // Interest crossings (a channel's first or last local subscriber) go to the mesh.
  const subs = new LocalSubscriptions((channel, interested) => mesh.handle({ type: "interest", channel, interested }));
  const sessions = new Set<ClientSocket>();
  // A random tag keeps client ids unique across restarts of the same node, so `from` never
  // names an earlier client by mistake.
  const idTag = crypto.getRandomValues(new Uint32Array(1))[0]!.toString(36);
  /** Counter behind client ids. */
  let nextClient = 0;
  /** "running" accepts clients; anything else refuses them (503 at the upgrade, 1001 if they slip in). */
  let state: "running" | "draining" | "stopping" | "stopped" = "running";

  const connects = new AddressThrottle(config.connectRate, config.connectRate * 10);
  // Many clients share an address (a NAT, a proxy, a load balancer): their sessions share one string.
  const remotes = new Interner(1024);
  // The key file is read once, at start: a node that requires tokens must not start without its key.
  const clientAuth = ClientAuth.create(config.jwtSecret, config.jwtPublicKey === undefined ? undefined : readFileSync(config.jwtPublicKey, "utf8"));
  const server: Server<SocketData> = Bun.serve<SocketData>({
    hostname: config.host,
    port: config.port,
    // One port for https:// and wss:// when a certificate is given; peers and clients alike.
    ...(config.tlsCert && config.tlsKey ? { tls: { cert: Bun.file(config.tlsCert), key: Bun.file(config.tlsKey) } } : {}),
    // Bun's own idle timeout on HTTP requests; client WebSockets have theirs below.
    idleTimeout: 30,
    fetch(req, srv): Response | Promise<Response | undefined> | undefined {
      if (req.headers.get("upgrade")?.toLowerCase() === "websocket") {
        if (state === "draining") return httpError(503, "draining", ERRORS.draining.message);
        if (state !== "running") return httpError(503, "shutting_down", ERRORS.shutting_down.message);
        const remote = remotes.of(srv.requestIP(req)?.address ?? "unknown");
        if (!connects.allow(remote, now())) {
          metrics.error("too_many_connects");
          return httpError(429, "too_many_connects", `more than ${config.connectRate} connections a second from this address; slow down`);
        }
        const path = pathOf(req.url);
        if (path === PEER_PATH) {
          if (!peers) return httpError(403, "no_cluster_key", "this node has no cluster key (--cluster-key), so it takes no peers");
          const peerData: PeerSocketData = { kind: "peer", conn: null, remote };
          return srv.upgrade(req, { data: peerData }) ? undefined : httpError(400, "bad_upgrade", "the WebSocket upgrade failed");
        }
        if (path !== "/") return httpError(404, "not_found", `clients connect at / (peers at ${PEER_PATH})`);
        const picked = pickSubprotocol(req.headers.get("sec-websocket-protocol"));
        if (!picked) {
          metrics.error("unsupported_protocol");
          return httpError(400, "unsupported_protocol", `this node speaks ${SUBPROTOCOL_JSON_V2}, ${SUBPROTOCOL_MSGPACK_V2}, ${SUBPROTOCOL_JSON} and ${SUBPROTOCOL_MSGPACK}`);
        }
        const upgrade = (grant: ClientGrant | null): Response | undefined => {
          const data: Session = {
            kind: "client",
            id: `${idTag}.${(nextClient++).toString(36)}`,
            encoding: picked.encoding,
            batch: picked.batch,
            subs: new ChannelMap(),
            admitted: null,
            admitting: null,
            echo: null,
            tokens: config.publishBurst,
            at: now(),
            remote,
            closing: null,
            backlog: 0,
            grant,
            expiry: null,
          };
          const headers = picked.header ? { "Sec-WebSocket-Protocol": picked.header } : undefined;
          if (srv.upgrade(req, { data, headers })) return undefined;
          return httpError(400, "bad_upgrade", "the WebSocket upgrade failed");
        };
        if (!clientAuth) return upgrade(null);
        // Tokens are checked once, here, before the socket exists: a client without a valid one never gets a session.
        const token = tokenOf(req, new URL(req.url));
        if (!token) {
          metrics.error("unauthorized");
          return httpError(401, "unauthorized", "this node requires a token: connect with ?token=JWT (or Authorization: Bearer JWT)");
        }
        return clientAuth.verify(token, Date.now()).then((outcome) => {
          if (!outcome.ok) {
            metrics.error("unauthorized");
            log.debug(`refused a client from ${srv.requestIP(req)?.address ?? "unknown"}: ${outcome.message}`);
            return httpError(401, "unauthorized", outcome.message);
          }
          return upgrade(outcome.grant);
        });
      }
      if (new URL(req.url).pathname.startsWith("/admin/")) {
        return handleAdmin(req, {
          token: config.adminToken,
          admin,
          self: name,
          knows: (node) => node === name || mesh.mesh.members().some((m) => m.name === node && (m.state === "alive" || m.state === "suspect")),
          log,
          onUnauthorized: () => void metrics.adminUnauthorized++,
        });
      }
      return handleHttp(req, {
        name,
        config,
        metrics,
        draining: state !== "running",
        live: () => ({ connections: sessions.size, subscriptions: subs.total, channels: subs.channels, uptimeSeconds: (now() - started) / 1000 }),
        memory: deps.memory ?? (() => process.memoryUsage()),
        channels: () => channelList(),
        url: () => advertisedUrl(),
        mesh: () => peers,
        registry: () => {
          const records = mesh.mesh.channels();
          const { synced, hash: _hash, ...stats } = mesh.mesh.registryStats();
          return { live: records.length, protectedLive: records.filter((c) => c.record.verifier !== null).length, synced, stats };
        },
      });
    },
    websocket: {
      // Peers need larger frames (gossip of big meshes) than clients; the client edge enforces the
      // client limit itself, closing with 1009 as Bun would.
      maxPayloadLength: config.clusterKey ? Math.max(PEER_MAX_FRAME, maxFrameBytes(config.maxPayload)) : maxFrameBytes(config.maxPayload),
      // The sweep below cuts at --max-buffered with a close frame; Bun's own cut further up is the
      // hard backstop that bounds memory between sweeps. Never drop silently: close instead.
      backpressureLimit: backstopBytes(config.maxBuffered),
      closeOnBackpressureLimit: true,
      idleTimeout: config.idleTimeout,
      sendPings: true,
      publishToSelf: false,
      open(socket) {
        if (socket.data.kind === "peer") return peers?.onOpen(socket as ServerWebSocket<PeerSocketData>);
        const ws = socket as ClientSocket;
        if (sessions.size >= config.maxConnections || state !== "running") {
          const code = state === "draining" ? "draining" : state !== "running" ? "shutting_down" : "too_many_connections";
          ws.data.closing = code === "too_many_connections" ? code : "shutting_down";
          handler.sendError(ws, code, code === "too_many_connections" ? `this node holds its limit of ${config.maxConnections} connections` : ERRORS[code].message);
          // A draining node closes like a stopping one (1001): the client reconnects elsewhere.
          ws.close(ERRORS[code].close ?? 1001, code);
          return;
        }
        sessions.add(ws);
        metrics.connectionsTotal++;
        const grant = ws.data.grant;
        if (grant) {
          // The session lives as long as its token: at expiry the client is told and closed.
          ws.data.expiry = setTimeout(() => {
            if (ws.data.closing !== null) return;
            handler.sendError(ws, "token_expired", `the token of ${grant.user} expired; connect again with a fresh one`);
            ws.data.closing = "token_expired";
            ws.close(ERRORS.token_expired.close, "token_expired");
          }, Math.max(0, grant.expiresAt - Date.now()));
        }
        // Guarded: the message would be built for every connection even with debug off.
        if (log.level >= LOG_DEBUG) log.debug(`client ${ws.data.id} connected from ${ws.data.remote} (${ws.data.encoding}${ws.data.batch ? " v2" : ""})`);
        handler.send(ws, {
          op: "welcome",
          v: ws.data.batch ? PROTOCOL_VERSION : 1,
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
      message(socket, raw) {
        if (socket.data.kind === "peer") return peers?.onMessage(socket as ServerWebSocket<PeerSocketData>, raw);
        handler.onMessage(socket as ClientSocket, raw);
      },
      close(socket, code, reason) {
        if (socket.data.kind === "peer") return peers?.onClose(socket as ServerWebSocket<PeerSocketData>);
        const ws = socket as ClientSocket;
        if (ws.data.expiry) clearTimeout(ws.data.expiry);
        if (!sessions.delete(ws)) return;
        subs.dropAll(ws);
        // Bun cuts a frame over maxPayloadLength before any handler sees it: the client gets 1009,
        // while this handler sees 1006 with Bun's reason, which is all there is to recognise it by.
        if (ws.data.closing === null && (code === 1009 || reason === "Received too big message")) metrics.error("payload_too_large");
        guard.onClose(ws, code);
        log.debug(`client ${ws.data.id} closed ${code}${reason ? ` ${reason}` : ""}`);
      },
      error(err, socket) {
        log.error(`${socket.data.kind === "peer" ? "peer" : `client ${socket.data.id}`}: handler failed`, err);
      },
    },
  });

  const fanout = new Fanout(server as unknown as Server<Session>, subs, metrics, (channel, instance, data, from, n) => mesh.publish(channel, instance, data, from, n));
  const admission = new ChannelAdmission({
    channel: (n) => mesh.mesh.channel(n),
    open: (c, verifier, strict) => mesh.open(c, verifier, strict),
    strict: config.strictChannels,
    full: () => mesh.mesh.channelCount() >= config.maxChannels,
    maxChannels: config.maxChannels,
  });
  const handler = new ClientHandler(config, subs, fanout, admission, metrics, log, now);
  const guard = new SlowConsumerGuard(sessions, config.maxBuffered, metrics, log);
  const port: number = server.port ?? config.port;
  const localHost = config.host === "0.0.0.0" || config.host === "::" ? "127.0.0.1" : config.host;
  const advertisedUrl = (): string => config.advertise ?? `${config.tlsCert ? "wss" : "ws"}://${localHost}:${port}`;

  /**
   * The mesh core runs on every node: alone, it is the channel registry's only member and owns
   * every name. It takes peers only with a cluster key (`peers` is null without one).
   */
  const mesh = new PeerLinks({ name, incarnation: deps.incarnation ?? Date.now(), region: config.region ?? "", url: advertisedUrl() }, config.clusterKey, config.seed, config.maxPeers, {
    tlsCa: config.tlsCa,
    secure: config.tlsCert !== undefined,
    log,
    metrics,
    now,
    deliver: (channel, instance, data, from, n) => {
      if (!fanout.deliverFromPeer(channel, instance, data, from, n)) log.warn("mesh: dropped a message with an invalid channel or publisher id");
    },
    channelLost: (record, reason, winner) => turnAway(record, reason, winner),
    called: (from, req, kind, body) => admin.onCalled(from, req, kind, body),
    load: () => ({ connections: sessions.size, draining: state === "draining" }),
  });
  const peers: PeerLinks | null = config.clusterKey ? mesh : null;
  mesh.start();

  /** Clients of a channel instance that is gone are told so and unsubscribed; they must join again by name. */
  function turnAway(record: ChannelRecord, reason: "conflict" | "closed", winner: ChannelRecord | undefined): void {
    const message =
      reason === "conflict"
        ? `channel ${record.name} was opened on two sides of a partition; the instance bound by ${winner?.owner ?? "another node"} holds the name now. Join it again with its password`
        : `channel ${record.name} was closed; join it again`;
    // What was published to the instance before it went still reaches its subscribers, ahead of the error.
    fanout.flush();
    let told = 0;
    for (const ws of sessions) {
      const s = ws.data;
      if (s.admitted?.get(record.name)?.instance === record.instance) s.admitted.delete(record.name);
      if (s.subs.get(record.name) !== record.instance) continue;
      subs.remove(ws, record.name);
      handler.send(ws, { op: "error", code: "channel_conflict", message, channel: record.name });
      metrics.error("channel_conflict");
      told++;
    }
    log.info(`channel ${record.name} (${record.instance}) ${reason === "conflict" ? `lost a conflict to ${winner?.instance}` : "closed"}; ${told} subscriber(s) told`);
  }

  // ---- administration (issue 5): this node's side of every admin command ----

  /** Counters at the last rate sample, for per-second rates in `stats`. */
  let sample = { at: now(), publishes: 0, deliveries: 0 };
  let rates = { publishRate: 0, deliveryRate: 0 };
  const sampler = setInterval(() => {
    const at = now();
    const seconds = Math.max(0.001, (at - sample.at) / 1000);
    rates = { publishRate: Math.round((metrics.publishes - sample.publishes) / seconds), deliveryRate: Math.round((metrics.deliveries - sample.deliveries) / seconds) };
    sample = { at, publishes: metrics.publishes, deliveries: metrics.deliveries };
  }, RATE_SAMPLE_MS);
  sampler.unref?.();

  const admin = new Admin({
    self: name,
    log,
    now,
    key: config.clusterKey ? commandKey(config.clusterKey) : null,
    // Suspect members are asked too: the mesh still counts them live, and a survey that skipped
    // them would call itself complete while a node it knows of never answered.
    members: () => mesh.mesh.members().filter((m) => m.state === "alive" || m.state === "suspect").map((m) => m.name),
    call: (to, req, kind, body) => mesh.handle({ type: "call", to, req, body: { kind, body } }),
    counters: metrics.admin,
    handlers: adminHandlers({
      log,
      members: () => mesh.mesh.members(),
      links: () => mesh.mesh.links().map(({ peer, rtt, dialed }) => ({ peer, rtt, dialed })),
      channels: () => channelList(),
      stats: () => {
        const mem = (deps.memory ?? (() => process.memoryUsage()))();
        return {
          connections: sessions.size,
          subscriptions: subs.total,
          channels: subs.channels,
          peers: peers?.peerCount ?? 0,
          publishes: metrics.publishes,
          deliveries: metrics.deliveries,
          ...rates,
          rssBytes: mem.rss,
          heapUsedBytes: mem.heapUsed,
          uptimeSeconds: Math.round((now() - started) / 1000),
          version: VERSION,
          draining: state === "draining",
        };
      },
      drain: () => drain(),
      kick: (client) => {
        for (const ws of sessions) {
          if (ws.data.id !== client) continue;
          log.info(`client ${client} kicked by an operator`);
          handler.send(ws, { op: "error", code: "kicked", message: ERRORS.kicked.message });
          ws.data.closing = "kicked";
          ws.close(ERRORS.kicked.close, "kicked");
          return true;
        }
        return false;
      },
      closeChannel: (channelName) => {
        if (!mesh.mesh.channel(channelName)) return false;
        log.info(`channel ${channelName} closed by an operator`);
        mesh.handle({ type: "closeChannel", channel: channelName });
        return true;
      },
    }),
  });

  /**
   * Drain (admin `drain`): take no new clients, tell connected ones to move (a `goaway` frame
   * naming the nearest live nodes), then after DRAIN_GRACE_MS leave the mesh and close whoever
   * is left with 1001. The process keeps running, reporting "draining" in /healthz, until stopped.
   */
  function drain(): { clients: number; suggested: string[] } {
    const suggested = mesh.mesh
      .members()
      .filter((m) => m.state === "alive" && m.name !== name && m.url !== "")
      .sort((a, b) => (a.rtt ?? Infinity) - (b.rtt ?? Infinity))
      .slice(0, 3)
      .map((m) => ({ name: m.name, url: m.url }));
    if (state !== "running") return { clients: sessions.size, suggested: suggested.map((s) => s.name) };
    state = "draining";
    log.info(`draining: telling ${sessions.size} client(s) to move to ${suggested.map((s) => s.name).join(", ") || "another node"}`);
    const message = `node ${name} is draining; move to another node`;
    for (const ws of sessions) handler.send(ws, { op: "goaway", nodes: suggested, message });
    const done = setTimeout(() => {
      if (state !== "draining") return;
      void mesh.stop();
      fanout.flush();
      for (const ws of sessions) {
        ws.data.closing = "shutting_down";
        ws.close(1001, "draining");
      }
      log.info("drained: left the mesh and closed the remaining clients");
    }, DRAIN_GRACE_MS);
    done.unref?.();
    return { clients: sessions.size, suggested: suggested.map((s) => s.name) };
  }

  /** GET /channels: the registry's records, with subscriber counts per node where known. */
  function channelList(): unknown[] {
    return mesh.mesh.channels().map(({ record, nodes }) => {
      const subscribers: Record<string, number | null> = {};
      // Other nodes announce only whether they have subscribers, not how many: null means "some".
      for (const node of nodes) subscribers[node] = null;
      const local = subs.count(record.name);
      if (local > 0) subscribers[name] = local;
      return { name: record.name, instance: record.instance, creator: record.creator, owner: record.owner, createdAt: new Date(record.createdAt).toISOString(), protected: record.verifier !== null, strict: record.strict, subscribers };
    });
  }

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
    deliverFromPeer(channel, instance, data, from, n) {
      if (!fanout.deliverFromPeer(channel, instance, data, from, n)) log.warn("mesh: dropped a message with an invalid channel or publisher id");
    },
    get peers() {
      return peers;
    },
    channel: (channelName) => mesh.mesh.channel(channelName),
    stop() {
      stopping ??= (async () => {
        state = "stopping";
        clearInterval(sweep);
        clearInterval(sampler);
        log.info(`stopping: closing ${sessions.size} client(s) with 1001`);
        fanout.flush(); // messages of this turn go out before the close frames
        for (const ws of sessions) {
          ws.data.closing = "shutting_down";
          ws.close(1001, "shutting_down");
        }
        // Then leave the mesh gracefully: relay for others while they route around this node.
        if (peers) log.info(`leaving the mesh: relaying for ${timing.LINK_DRAIN_MS} ms while the others route around this node`);
        await mesh.stop();
        await server.stop(true);
        state = "stopped";
      })();
      return stopping;
    },
  };
}

/** consola's level number for debug. */
const LOG_DEBUG = 4;

/** The path of a request URL (absolute, as Bun gives it), without building a URL object per upgrade. */
function pathOf(url: string): string {
  const start = url.indexOf("/", url.indexOf("//") + 2);
  if (start === -1) return "/";
  let end = url.length;
  const q = url.indexOf("?", start);
  if (q !== -1) end = q;
  const h = url.indexOf("#", start);
  if (h !== -1 && h < end) end = h;
  return url.slice(start, end);
}

/** Returns one shared copy of equal strings, remembering at most `max` of them. */
class Interner {
  private readonly seen = new Map<string, string>();
  constructor(private readonly max: number) {}
  of(value: string): string {
    const held = this.seen.get(value);
    if (held !== undefined) return held;
    if (this.seen.size >= this.max) this.seen.clear();
    this.seen.set(value, value);
    return value;
  }
}

/** What a client's offered subprotocol means: the encoding and version, and the header to answer with. */
type Picked = Readonly<{ encoding: Encoding; batch: boolean; header: string | null }>;

/** The subprotocols a client may offer, with what each means (shared objects: nothing is built per upgrade). */
const SUBPROTOCOLS: Record<string, Picked> = {
  [SUBPROTOCOL_JSON_V2]: { encoding: "json", batch: true, header: SUBPROTOCOL_JSON_V2 },
  [SUBPROTOCOL_MSGPACK_V2]: { encoding: "msgpack", batch: true, header: SUBPROTOCOL_MSGPACK_V2 },
  [SUBPROTOCOL_JSON]: { encoding: "json", batch: false, header: SUBPROTOCOL_JSON },
  [SUBPROTOCOL_MSGPACK]: { encoding: "msgpack", batch: false, header: SUBPROTOCOL_MSGPACK },
};
const NONE_OFFERED: Picked = { encoding: "json", batch: false, header: null };

/**
 * Chooses the encoding and version from the client's offered subprotocols, the first one this node
 * speaks in the client's order (so a client offering v2 then v1 gets v2 here, v1 from an older
 * node); none offered means JSON v1.
 */
export function pickSubprotocol(header: string | null): Picked | null {
  if (!header) return NONE_OFFERED;
  if (Object.hasOwn(SUBPROTOCOLS, header)) return SUBPROTOCOLS[header]!;
  for (const offered of header.split(",").map((s) => s.trim())) {
    if (Object.hasOwn(SUBPROTOCOLS, offered)) return SUBPROTOCOLS[offered]!;
  }
  return null;
}

function httpError(status: number, code: string, message: string): Response {
  return Response.json({ error: { code, message } }, { status });
}

