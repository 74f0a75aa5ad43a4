/**
 * The single-node systems under test, each one process started by the bench by PID:
 *   Relay       the compiled dist/relay (what ships);
 *   raw Bun     ~30 lines of Bun.serve pub/sub speaking Relay's frames: the ceiling for our stack;
 *   nats-server the Debian package, WebSocket listener, NATS client protocol;
 *   mosquitto   the Debian package, WebSockets listener, MQTT 3.1.1 at QoS 0;
 *   Socket.IO   Socket.IO 4 on Node, websocket transport only (anchors/socketio-server.mjs);
 *   ws relay    a plain `ws` relay on Node (anchors/ws-relay.mjs).
 * None of the anchors is configured below its defaults (see each anchor's file for every line).
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { mosquittoCommand } from "./anchors/mosquitto.ts";
import { natsCommand } from "./anchors/nats.ts";
import type { CodecName } from "./codecs/index.ts";
import { ensureDebianCommand } from "./debian-package.ts";
import { RELAY_BIN, ROOT, type Startable } from "./servers.ts";

export type SystemKey = "relay" | "raw" | "nats" | "mosquitto" | "socketio" | "ws";

export interface System extends Startable {
  key: SystemKey;
  /** Name in tables and charts. */
  label: string;
  codec: CodecName;
  /** How it is started and configured, one line for the report. */
  how: string;
  /**
   * Makes sure it can run here (installs its Debian package when missing); null when ready, else
   * the reason it cannot run, which the report shows in place of its figures.
   */
  prepare(log: (line: string) => void): Promise<string | null>;
  /** Its version, for the report (valid after prepare). */
  version(): string;
}

const ANCHORS = join(import.meta.dir, "anchors");

/** Node for the Node anchors: the system's /usr/bin/node (Node 20 here), else whichever is on PATH. */
function nodeBinary(): string | null {
  return existsSync("/usr/bin/node") ? "/usr/bin/node" : Bun.which("node");
}

/** First line a command prints (stdout or stderr), for versions. */
function firstLine(cmd: string[]): string {
  try {
    const out = Bun.spawnSync(cmd, { stdout: "pipe", stderr: "pipe" });
    return (out.stdout.toString() + out.stderr.toString()).trim().split("\n")[0] ?? "unknown";
  } catch {
    return "unknown";
  }
}

/** The version in an installed npm package's package.json. */
function npmVersion(pkg: string): string {
  try {
    return (JSON.parse(readFileSync(join(ROOT, "node_modules", pkg, "package.json"), "utf8")) as { version: string }).version;
  } catch {
    return "not installed";
  }
}

function gitCommit(): string {
  const out = Bun.spawnSync(["git", "rev-parse", "--short", "HEAD"], { cwd: ROOT, stdout: "pipe", stderr: "ignore" });
  const sha = out.stdout.toString().trim();
  if (!sha) return "";
  const dirty = Bun.spawnSync(["git", "status", "--porcelain", "src"], { cwd: ROOT, stdout: "pipe", stderr: "ignore" }).stdout.toString().trim();
  return ` (commit ${sha}${dirty ? ", src/ modified" : ""})`;
}

/**
 * Relay, the compiled binary, with its per-connection limits raised so its own rate limiting does
 * not cap the figures (the defaults allow 1,000 publishes/s per connection, and 100 new connections
 * a second from one address, while every bench client comes from 127.0.0.1). Raising a limit is
 * the opposite of tuning below defaults: it only lets the server be measured.
 */
export const RELAY: System = {
  key: "relay",
  label: "Relay",
  codec: "relay",
  how: "`dist/relay --port P --host 127.0.0.1 --log-level warn --publish-rate 10000000 --publish-burst 10000000 --max-connections 1000000 --max-subscriptions 100000 --connect-rate 0`",
  command: (port) => [
    RELAY_BIN,
    "--port", String(port),
    "--host", "127.0.0.1",
    "--log-level", "warn",
    "--publish-rate", "10000000",
    "--publish-burst", "10000000",
    "--max-connections", "1000000",
    "--max-subscriptions", "100000",
    "--connect-rate", "0",
  ],
  prepare: async () => null,
  version: () => `${(JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string }).version}${gitCommit()}`,
};

/** The ~30-line Bun.serve pub/sub server: the ceiling for our stack. */
export const RAW_BUN: System = {
  key: "raw",
  label: "raw Bun",
  codec: "relay",
  how: "`bun scripts/bench/raw-bun-server.ts --port P`: Bun.serve with `ws.subscribe` / `server.publish`, Relay's JSON frames, no validation or limits; for relay.v2.json clients (the bench's codec) it batches each turn's messages per channel as Relay does",
  command: (port) => [process.execPath, join(import.meta.dir, "raw-bun-server.ts"), "--port", String(port)],
  prepare: async () => null,
  version: () => `Bun ${Bun.version}`,
};

let natsBin = "nats-server";
export const NATS: System = {
  key: "nats",
  label: "nats-server",
  codec: "nats",
  how:
    "`nats-server -c F`, F = `host: 127.0.0.1`, `port: -1`, `websocket { host: 127.0.0.1, port: P, no_tls: true }`; all else default. " +
    "In a cluster, also `cluster { name: relay-bench, host: 127.0.0.1, port: R, routes: [every other node] }` and `http: 127.0.0.1:M` (read for /routez)",
  command: (port) => natsCommand(natsBin, "bench", { ws: port }),
  async prepare(log) {
    const got = await ensureDebianCommand("nats-server", "nats-server", log);
    if (!got.ok) return got.reason;
    natsBin = got.path;
    return null;
  },
  version: () => firstLine([natsBin, "--version"]),
};

let mosquittoBin = "mosquitto";
export const MOSQUITTO: System = {
  key: "mosquitto",
  label: "mosquitto",
  codec: "mqtt",
  how:
    "`mosquitto -c F`, F = `listener P 127.0.0.1`, `protocol websockets`, `socket_domain ipv4`, `allow_anonymous true`, " +
    "an unused plain MQTT listener on loopback (2.0.11 will not start with a WebSockets listener alone), log to stderr at error and warning; QoS 0 from the client",
  command: (port) => mosquittoCommand(mosquittoBin, port),
  async prepare(log) {
    const got = await ensureDebianCommand("mosquitto", "mosquitto", log);
    if (!got.ok) return got.reason;
    mosquittoBin = got.path;
    return null;
  },
  version: () => firstLine([mosquittoBin, "-h"]).replace(/^mosquitto version /, ""),
};

/** Whether Node and the anchor's npm package are here; null when they are. */
function nodeAnchorMissing(pkg: string): string | null {
  if (!nodeBinary()) return "Node.js is not installed (the Node anchors run on /usr/bin/node)";
  if (npmVersion(pkg) === "not installed") return `the npm package ${pkg} is missing: run npm ci`;
  return null;
}

export const SOCKETIO: System = {
  key: "socketio",
  label: "Socket.IO",
  codec: "socketio",
  how: '`node scripts/bench/anchors/socketio-server.mjs --port P`: `new Server(http, { transports: ["websocket"] })`, rooms joined on "sub", emitted to on "pub"; all else default',
  command: (port) => [nodeBinary() ?? "node", join(ANCHORS, "socketio-server.mjs"), "--port", String(port)],
  prepare: async () => nodeAnchorMissing("socket.io"),
  version: () => `socket.io ${npmVersion("socket.io")} on Node ${firstLine([nodeBinary() ?? "node", "--version"]).replace(/^v/, "")}`,
};

export const WS_RELAY: System = {
  key: "ws",
  label: "ws relay",
  codec: "ws-relay",
  how: "`node scripts/bench/anchors/ws-relay.mjs --port P`: a `ws` WebSocketServer at its defaults, channels as a Map of Sets, each publish serialised once",
  command: (port) => [nodeBinary() ?? "node", join(ANCHORS, "ws-relay.mjs"), "--port", String(port)],
  prepare: async () => nodeAnchorMissing("ws"),
  version: () => `ws ${npmVersion("ws")} on Node ${firstLine([nodeBinary() ?? "node", "--version"]).replace(/^v/, "")}`,
};

/** Every single-node system, in table order. */
export const SYSTEMS: readonly System[] = [RELAY, RAW_BUN, NATS, MOSQUITTO, SOCKETIO, WS_RELAY];

export const SYSTEM_KEYS: readonly SystemKey[] = SYSTEMS.map((s) => s.key);
