import { defineCommand } from "citty";
import { toBase64 } from "../protocol/index.ts";
import { chooseNode, connect, RelayError, type Client, type Payload } from "../sdk/index.ts";
import { makeLogger } from "./logger.ts";
import { table } from "./table.ts";

/**
 * One line of `relay sub` output: a string as it is, bytes as base64, any other JSON value compact.
 * A string that itself holds newlines prints across lines; publish JSON (`--json`) to avoid that.
 */
export function formatPayload(data: Payload): string {
  if (typeof data === "string") return data;
  if (data instanceof Uint8Array) return toBase64(data);
  return JSON.stringify(data);
}

/** A mistake in the command line itself: exit 2, as for any usage error. */
class UsageError extends Error {}

const common = {
  url: { type: "string", description: "the node's address: ws://, wss://, http:// or https://" },
  bootstrap: { type: "string", description: "any node's address: connect to the closest node of its mesh, and fail over (in place of --url)" },
  token: { type: "string", description: "a JWT, for nodes that require one (default: $RELAY_TOKEN)" },
  password: { type: "string", description: "the channel's password, for protected channels" },
  timeout: { type: "string", description: "seconds to wait for the node to connect and to answer (default 5)", default: "5" },
  "log-level": { type: "string", description: "silent, error, warn, info or debug (default warn)", default: "warn" },
} as const;

function seconds(value: string, name: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new UsageError(`--${name} must be a positive number of seconds`);
  return n;
}

/** Connects within the deadline, to --url or to the closest node of --bootstrap, and holds requests to the same deadline. */
function connectWithin(args: { url?: string; bootstrap?: string; token?: string }, limitSeconds: number): Promise<Client> {
  if ((args.url === undefined) === (args.bootstrap === undefined)) throw new UsageError("give exactly one of --url and --bootstrap");
  const target = args.url !== undefined ? { url: args.url } : { bootstrap: [args.bootstrap!] };
  const token = args.token ?? process.env.RELAY_TOKEN;
  return connect({ ...target, ...(token ? { token } : {}), connectTimeoutMs: limitSeconds * 1000, requestTimeoutMs: limitSeconds * 1000 });
}

/** Prints the error on stderr and exits: 2 for usage errors, 1 for refusals and failures. */
function fail(err: unknown): never {
  if (err instanceof UsageError) {
    process.stderr.write(`error: ${err.message}\n`);
    process.exit(2);
  }
  const e = err instanceof RelayError ? `${err.code}: ${err.message}` : String(err);
  process.stderr.write(`error: ${e}\n`);
  process.exit(1);
}

/** `relay pub CHANNEL MESSAGE --url URL`: the contract is in ARCHITECTURE.md section 6. */
export const pub = defineCommand({
  meta: { name: "pub", description: "Publish one message; exits 0 once the node acknowledged it" },
  args: {
    channel: { type: "positional", description: "channel name", required: true },
    message: { type: "positional", description: "the message (a string, or JSON with --json)", required: true },
    json: { type: "boolean", description: "send MESSAGE as a JSON value, not a string" },
    ...common,
  },
  async run({ args }) {
    const log = makeLogger(args["log-level"], "relay pub");
    let client: Client | undefined;
    try {
      const limit = seconds(args.timeout, "timeout");
      let data: Payload = args.message;
      if (args.json) {
        try {
          data = JSON.parse(args.message);
        } catch {
          throw new UsageError("--json was given but MESSAGE is not valid JSON");
        }
      }
      client = await connectWithin(args, limit);
      log.debug(`connected to ${client.node}`);
      await client.publish(args.channel, data, args.password === undefined ? {} : { password: args.password });
      client.close();
      process.exit(0);
    } catch (err) {
      client?.close();
      fail(err);
    }
  },
});

/** `relay closest --bootstrap URL`: the node the SDK would choose, and every candidate's measured RTT. */
export const closest = defineCommand({
  meta: { name: "closest", description: "Show the node the SDK would connect to, with every candidate's measured RTT" },
  args: {
    bootstrap: { type: "string", description: "any node's address (ws://, wss://, http://, https:// or host:port)", required: true },
    json: { type: "boolean", description: "print the choice as JSON" },
    timeout: common.timeout,
  },
  async run({ args }) {
    try {
      const limit = seconds(args.timeout, "timeout");
      const choice = await chooseNode([args.bootstrap], { timeoutMs: limit * 1000 });
      if (args.json) {
        process.stdout.write(`${JSON.stringify(choice, null, 2)}\n`);
      } else {
        const rows = choice.candidates.map((c) => [c === choice.best ? "*" : "", c.name, c.rtt === null ? "unreachable" : c.rtt.toFixed(2), c.directoryRtt === null ? "-" : c.directoryRtt.toFixed(2), c.connections ?? "-", c.region ?? "-", c.url]);
        process.stdout.write(`${table(["", "NODE", "RTT MS", "FROM BOOTSTRAP MS", "CONNS", "REGION", "URL"], rows)}\n\n`);
        process.stdout.write(choice.best ? `closest: ${choice.best.name} (${choice.best.url}), ${choice.best.rtt!.toFixed(2)} ms\n` : "no candidate answered\n");
      }
      process.exit(choice.best ? 0 : 1);
    } catch (err) {
      fail(err);
    }
  },
});

/** `relay sub CHANNEL --url URL`: stdout carries only payloads, one line each. */
export const sub = defineCommand({
  meta: { name: "sub", description: "Subscribe and print each message's payload on its own line" },
  args: {
    channel: { type: "positional", description: "channel name", required: true },
    count: { type: "string", description: "exit 0 after this many messages" },
    ...common,
  },
  async run({ args }) {
    const log = makeLogger(args["log-level"], "relay sub");
    try {
      const limit = seconds(args.timeout, "timeout");
      const count = args.count === undefined ? Infinity : Number(args.count);
      if (!Number.isInteger(count) || count < 1) throw new UsageError("--count must be a whole number of at least 1");
      const client = await connectWithin(args, limit);
      if (args.bootstrap !== undefined) log.info(`connected to ${client.node} (${client.url}), the closest of ${client.candidates.length} candidate(s)`);
      client.on("state", (state) => log.info(`connection ${state}`));
      client.on("error", (err) => log.warn(`${err.code}: ${err.message}`));
      let seen = 0;
      await client.subscribe(
        args.channel,
        (msg) => {
          if (seen >= count) return;
          seen++;
          const line = formatPayload(msg.data) + "\n";
          if (seen < count) {
            process.stdout.write(line);
            return;
          }
          client.close();
          // Exit only once stdout has taken the last line: a pipe may be slower than we are.
          process.stdout.write(line, () => process.exit(0));
        },
        args.password === undefined ? {} : { password: args.password },
      );
      process.stderr.write(`subscribed ${args.channel}\n`);
      for (const sig of ["SIGINT", "SIGTERM"] as const) {
        process.once(sig, () => {
          client.close();
          process.exit(0);
        });
      }
    } catch (err) {
      fail(err);
    }
  },
});
