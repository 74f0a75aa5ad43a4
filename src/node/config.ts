import * as v from "valibot";

/**
 * Node configuration: one schema, validated once, from three sources merged in order
 * defaults < config file (JSON) < RELAY_* environment < command-line flags.
 * This module is pure: the CLI reads argv, the environment and the file, and passes them in.
 */

const KiB = 1024;
const MiB = 1024 * KiB;

const int = (min: number, max: number) => {
  const message = `must be a whole number from ${min} to ${max}`;
  return v.pipe(
    v.union([v.number(), v.pipe(v.string(), v.regex(/^\d+$/), v.transform(Number))], message),
    v.number(),
    v.integer(message),
    v.minValue(min, message),
    v.maxValue(max, message),
  );
};

/** A yes/no setting: JSON true/false, or true/false/1/0/yes/no from a flag or the environment. */
const flag = v.pipe(
  v.union([v.boolean(), v.pipe(v.picklist(["true", "false", "1", "0", "yes", "no"], "must be true or false"), v.transform((s) => s === "true" || s === "1" || s === "yes"))], "must be true or false"),
  v.boolean(),
);

const hostPort = v.pipe(v.string(), v.regex(/^(?:wss?:\/\/)?[^\s/]+:\d{1,5}\/?$/, "must be host:port (or ws://host:port, wss://host:port), for example 10.0.0.2:7400"));
const wsUrl = v.pipe(v.string(), v.regex(/^(wss?|https?):\/\/[^\s]+$/, "must be a ws://, wss://, http:// or https:// URL"));

/** consola levels by the names --log-level takes (also the admin loglevel command's). */
export const LOG_LEVELS: Record<string, number> = { silent: -999, error: 0, warn: 1, info: 3, debug: 4, trace: 5 };

/** The configuration schema; SETTING_HELP below says what each setting means. */
export const ConfigSchema = v.object({
  host: v.optional(v.pipe(v.string(), v.minLength(1)), "0.0.0.0"),
  port: v.optional(int(0, 65535), 7400),
  name: v.optional(v.pipe(v.string(), v.regex(/^[A-Za-z0-9_.-]{1,64}$/, "must be 1-64 of A-Z a-z 0-9 _ . -"))),
  seed: v.optional(v.array(hostPort), []),
  advertise: v.optional(wsUrl),
  maxPeers: v.optional(int(1, 64), 8),
  clusterKey: v.optional(v.pipe(v.string(), v.minLength(16, "must be at least 16 characters"))),
  adminToken: v.optional(v.pipe(v.string(), v.minLength(16, "must be at least 16 characters"))),
  region: v.optional(v.pipe(v.string(), v.regex(/^[A-Za-z0-9_.-]{1,64}$/, "must be 1-64 of A-Z a-z 0-9 _ . -"))),
  maxPayload: v.optional(int(1, 16 * MiB), 64 * KiB),
  maxSubscriptions: v.optional(int(1, 1_000_000), 128),
  maxConnections: v.optional(int(1, 10_000_000), 100_000),
  publishRate: v.optional(int(1, 10_000_000), 1000),
  publishBurst: v.optional(int(1, 10_000_000), 2000),
  maxBuffered: v.optional(int(64 * KiB, 1024 * MiB), 4 * MiB),
  idleTimeout: v.optional(int(8, 960), 120),
  logLevel: v.optional(v.picklist(["silent", "error", "warn", "info", "debug", "trace"]), "info"),
  strictChannels: v.optional(flag, false),
  tlsCert: v.optional(v.pipe(v.string(), v.minLength(1))),
  tlsKey: v.optional(v.pipe(v.string(), v.minLength(1))),
  tlsCa: v.optional(v.pipe(v.string(), v.minLength(1))),
  connectRate: v.optional(int(0, 1_000_000), 100),
  maxChannels: v.optional(int(1, 100_000_000), 100_000),
  jwtSecret: v.optional(v.pipe(v.string(), v.minLength(32, "must be at least 32 characters"))),
  jwtPublicKey: v.optional(v.pipe(v.string(), v.minLength(1))),
});

/** What each setting means: shown by `relay serve --help`; README's table says the same. */
export const SETTING_HELP: Record<keyof Config, string> = {
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
  strictChannels: "true: a protected channel opened here needs a majority of the mesh (default false)",
  tlsCert: "PEM certificate file: serve https:// and wss:// on the same port (with --tls-key)",
  tlsKey: "PEM private key file for --tls-cert",
  tlsCa: "PEM CA file trusted when dialing peers over wss:// (for a private CA)",
  connectRate: "WebSocket connections per second from one address, burst 10x (default 100; 0 = no limit)",
  maxChannels: "most live channels in the registry; opening more is refused (default 100000)",
  jwtSecret: "HS256 secret: clients must connect with a JWT signed with it (?token=)",
  jwtPublicKey: "Ed25519 public key file (PEM): clients must connect with a JWT (EdDSA) it verifies",
};

/** A validated configuration. */
export type Config = v.InferOutput<typeof ConfigSchema>;
/** Raw settings from any one source, before validation. */
export type RawConfig = Record<string, unknown>;

/** Every setting's name, for mapping flags and RELAY_* variables. */
export const CONFIG_KEYS = Object.keys(ConfigSchema.entries) as (keyof Config)[];

/** A bad setting: names the setting, the source, and what is allowed. */
export class ConfigError extends Error {
  override name = "ConfigError";
}

/** `maxPayload` -> `RELAY_MAX_PAYLOAD`. */
export function envName(key: string): string {
  return `RELAY_${key.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`;
}

/** `maxPayload` -> `--max-payload`. */
export function flagName(key: string): string {
  return `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
}

/** Reads RELAY_* variables; RELAY_SEED may list several seeds separated by commas or spaces. */
export function fromEnv(env: Record<string, string | undefined>): RawConfig {
  const out: RawConfig = {};
  for (const key of CONFIG_KEYS) {
    const value = env[envName(key)];
    if (value === undefined || value === "") continue;
    out[key] = key === "seed" ? value.split(/[\s,]+/).filter(Boolean) : value;
  }
  return out;
}

/** Parses a JSON config file's text; keys are the camelCase setting names. */
export function fromFile(text: string, path: string): RawConfig {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`config file ${path}: not valid JSON (${(err as Error).message})`);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new ConfigError(`config file ${path}: must hold a JSON object of settings`);
  }
  const unknown = Object.keys(parsed).filter((k) => !CONFIG_KEYS.includes(k as keyof Config));
  if (unknown.length) throw new ConfigError(`config file ${path}: unknown setting ${unknown.join(", ")}; allowed: ${CONFIG_KEYS.join(", ")}`);
  return parsed as RawConfig;
}

/** Merges the sources (later wins) and validates once; a bad value names the setting and its source. */
export function resolveConfig(sources: { file?: RawConfig; env?: RawConfig; flags?: RawConfig }): Config {
  const origin = new Map<string, string>();
  const merged: RawConfig = {};
  for (const [label, src] of [["config file", sources.file], ["environment", sources.env], ["flag", sources.flags]] as const) {
    for (const [k, val] of Object.entries(src ?? {})) {
      if (val === undefined) continue;
      merged[k] = val;
      origin.set(k, label);
    }
  }
  const result = v.safeParse(ConfigSchema, merged);
  if (result.success) {
    if (result.output.jwtSecret !== undefined && result.output.jwtPublicKey !== undefined) {
      throw new ConfigError("--jwt-secret and --jwt-public-key exclude each other: tokens are HS256 or EdDSA, not both");
    }
    if ((result.output.tlsCert === undefined) !== (result.output.tlsKey === undefined)) {
      throw new ConfigError("--tls-cert and --tls-key go together (RELAY_TLS_CERT, RELAY_TLS_KEY): give both to serve https:// and wss://, or neither");
    }
    if (result.output.seed.length > 0 && !result.output.clusterKey) {
      throw new ConfigError("--seed (RELAY_SEED) needs --cluster-key (RELAY_CLUSTER_KEY): a node joins the mesh only with the cluster key; give every node the same one");
    }
    return result.output;
  }
  const issue = result.issues[0];
  const key = issue.path?.[0]?.key as string | undefined;
  const from = key ? origin.get(key) : undefined;
  const label = key ? `${flagName(key)} (${envName(key)})` : "config";
  throw new ConfigError(`${label}${from ? ` from ${from}` : ""}: ${issue.message}`);
}
