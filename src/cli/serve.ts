import { defineCommand } from "citty";
import { hostname } from "node:os";
import { CONFIG_KEYS, ConfigError, SETTING_HELP, envName, flagName, fromEnv, fromFile, resolveConfig, type Config, type RawConfig } from "../node/config.ts";
import { startNode } from "../node/server.ts";
import { makeLogger } from "./logger.ts";

const args = Object.fromEntries([
  ["config", { type: "string", description: "JSON file of settings (keys as in README)" }],
  ...CONFIG_KEYS.map((key) => [flagName(key).slice(2), { type: "string", description: `${SETTING_HELP[key]} [${envName(key)}]` }]),
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

/** `relay serve` (the default command): runs a node until SIGTERM or SIGINT. */
export const serve = defineCommand({
  meta: { name: "serve", description: "Run a Relay node (the default command)" },
  args,
  async run({ args: parsed, rawArgs }) {
    let config: Config;
    try {
      refuseStrays(rawArgs);
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
    log.info(`node ${node.name} listening on ${config.host}:${node.port}; dashboard at ${config.tlsCert ? "https" : "http"}://${config.host === "0.0.0.0" ? "localhost" : config.host}:${node.port}/`);
    if (!config.clusterKey) log.info("no --cluster-key: running alone (peers are refused)");
    else if (config.seed.length === 0) log.info("mesh: no --seed: waiting for peers to join this node");
    else log.info(`mesh: joining through ${config.seed.join(", ")}`);
    if (config.clusterKey && !config.advertise && (config.host === "0.0.0.0" || config.host === "::")) {
      log.warn(`no --advertise: peers will be told ws://127.0.0.1:${node.port}, which only works on this machine; set --advertise ws://PUBLIC_HOST:${node.port}`);
    }
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

/** Names of the flags `serve` takes, so a typo is refused instead of starting a node that ignores it. */
const KNOWN_FLAGS = new Set(["config", "help", ...CONFIG_KEYS.map((k) => flagName(k).slice(2))]);

/**
 * Refuses anything `serve` would otherwise ignore: a misspelt command (`relay pubb ...` lands
 * here as a positional) or an unknown flag. A node that starts on the default port while the
 * operator meant something else is worse than a clear error.
 */
function refuseStrays(rawArgs: string[]): void {
  for (let i = 0; i < rawArgs.length; i++) {
    const arg = rawArgs[i]!;
    if (!arg.startsWith("-")) {
      throw new ConfigError(`unexpected argument "${arg}": relay's commands are serve, pub and sub (see relay --help)`);
    }
    const name = arg.replace(/^--?/, "").split("=")[0]!;
    if (!KNOWN_FLAGS.has(name)) throw new ConfigError(`unknown flag ${arg.split("=")[0]} (see relay serve --help)`);
    if (!arg.includes("=")) i++; // every serve flag takes a value
  }
}

async function readConfig(path: string): Promise<string> {
  const file = Bun.file(path);
  if (!(await file.exists())) throw new ConfigError(`--config ${path}: no such file`);
  return file.text();
}
