import { defineCommand } from "citty";
import { hostname } from "node:os";
import { CONFIG_KEYS, ConfigError, envName, flagName, fromEnv, fromFile, resolveConfig, type Config, type RawConfig } from "../node/config.ts";
import { startNode } from "../node/server.ts";
import { makeLogger } from "./logger.ts";

/** Help text for each setting, shown by `relay serve --help` (README's table says the same). */
const HELP: Record<keyof Config, string> = {
  host: "interface to listen on (default 0.0.0.0)",
  port: "port for HTTP, clients and peers (default 7400)",
  name: "this node's name in the mesh (default: host name)",
  seed: "a peer to join through, host:port; repeat for more",
  advertise: "URL peers and clients should use to reach this node",
  maxPeers: "most mesh links to keep (default 8)",
  clusterKey: "shared secret that admits nodes to the mesh",
  adminToken: "bearer token for the admin API (off without it)",
  region: "region label, shown in /nodes",
  maxPayload: "largest payload in bytes (default 65536)",
  maxSubscriptions: "most subscriptions per connection (default 128)",
  maxConnections: "most client connections (default 100000)",
  publishRate: "publishes per second per connection (default 1000)",
  publishBurst: "publish burst per connection (default 2000)",
  maxBuffered: "send-buffer bytes before a client is cut as slow (default 4 MiB)",
  idleTimeout: "seconds before an idle client is pinged and closed (default 120)",
  logLevel: "silent, error, warn, info, debug or trace (default info)",
};

const args = Object.fromEntries([
  ["config", { type: "string", description: "JSON file of settings (keys as in README)" }],
  ...CONFIG_KEYS.map((key) => [flagName(key).slice(2), { type: "string", description: `${HELP[key]} [${envName(key)}]` }]),
]) as Record<string, { type: "string"; description: string }>;

/** Flags as citty parsed them, turned into raw settings (repeated --seed becomes a list). */
function fromFlags(parsed: Record<string, unknown>): RawConfig {
  const out: RawConfig = {};
  for (const key of CONFIG_KEYS) {
    const value = parsed[flagName(key).slice(2)];
    if (value === undefined) continue;
    if (key === "seed") out.seed = (Array.isArray(value) ? value : [value]).flatMap((s) => String(s).split(","));
    else out[key] = Array.isArray(value) ? value[value.length - 1] : value;
  }
  return out;
}

export const serve = defineCommand({
  meta: { name: "serve", description: "Run a Relay node (the default command)" },
  args,
  async run({ args: parsed }) {
    let config: Config;
    try {
      const configPath = (parsed.config as string | undefined) ?? process.env.RELAY_CONFIG;
      const file = configPath ? fromFile(await readConfig(configPath), configPath) : undefined;
      config = resolveConfig({ file, env: fromEnv(process.env), flags: fromFlags(parsed) });
    } catch (err) {
      if (err instanceof ConfigError) {
        makeLogger("error").error(err.message);
        process.exit(2);
      }
      throw err;
    }
    const log = makeLogger(config.logLevel);
    let node;
    try {
      node = startNode(config, { log, defaultName: hostname().split(".")[0] || "relay" });
    } catch (err) {
      log.error(`cannot listen on ${config.host}:${config.port}: ${(err as Error).message}`);
      process.exit(1);
    }
    log.info(`node ${node.name} listening on ${config.host}:${node.port}; dashboard at http://${config.host === "0.0.0.0" ? "localhost" : config.host}:${node.port}/`);
    if (config.seed.length) log.warn(`--seed ${config.seed.join(", ")} given, but this build does not join a mesh yet; running alone`);
    const shutdown = (signal: string) => {
      log.info(`${signal}: shutting down`);
      // Exit within 5 s even if a client never answers the close handshake.
      setTimeout(() => process.exit(0), 4500).unref();
      node.stop().then(() => process.exit(0));
    };
    process.once("SIGINT", () => shutdown("SIGINT"));
    process.once("SIGTERM", () => shutdown("SIGTERM"));
  },
});

async function readConfig(path: string): Promise<string> {
  const file = Bun.file(path);
  if (!(await file.exists())) throw new ConfigError(`--config ${path}: no such file`);
  return file.text();
}
