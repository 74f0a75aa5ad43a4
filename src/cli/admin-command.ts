import { defineCommand } from "citty";
import { table } from "./table.ts";

/**
 * `relay admin <query|command> --url URL --token T [--json]`: the admin API (src/node/admin-http.ts)
 * from a terminal. Queries ask every node through the one given; tables by default, the API's
 * JSON with --json. Progress goes to stderr once a query takes more than a second.
 */

const common = {
  url: { type: "string", description: "any node's address: http(s)://host:port (ws:// and host:port work too)", required: true },
  token: { type: "string", description: "the admin token (default: $RELAY_ADMIN_TOKEN)" },
  json: { type: "boolean", description: "print the API's JSON answer" },
  timeout: { type: "string", description: "seconds the node waits for answers (default 3)", default: "3" },
} as const;

type Args = { url: string; token?: string; json?: boolean; timeout: string };

class UsageError extends Error {}

function httpBase(address: string): string {
  const url = new URL(/^[a-z]+:\/\//i.test(address) ? address : `http://${address}`);
  if (url.protocol === "ws:") url.protocol = "http:";
  if (url.protocol === "wss:") url.protocol = "https:";
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new UsageError(`--url must be a node's address, not ${address}`);
  return `${url.protocol}//${url.host}`;
}

/** Calls the admin API; shows progress on stderr after a second; exits 1 with the API's error on refusal. */
async function call(args: Args, method: "GET" | "POST", what: string, body?: Record<string, unknown>): Promise<Record<string, unknown>> {
  const token = args.token ?? process.env.RELAY_ADMIN_TOKEN;
  if (!token) throw new UsageError("give the admin token with --token or RELAY_ADMIN_TOKEN");
  const seconds = Number(args.timeout);
  if (!Number.isFinite(seconds) || seconds < 0.1 || seconds > 30) throw new UsageError("--timeout must be 0.1 to 30 seconds");
  const base = httpBase(args.url);
  const started = Date.now();
  const progress = setInterval(() => {
    const elapsed = (Date.now() - started) / 1000;
    if (elapsed >= 1) process.stderr.write(`\rwaiting for the nodes to answer ${what}: ${elapsed.toFixed(1)} s of up to ${seconds} s `);
  }, 250);
  try {
    const res = await fetch(`${base}/admin/${what}${method === "GET" ? `?timeout=${Math.round(seconds * 1000)}` : ""}`, {
      method,
      headers: { Authorization: `Bearer ${token}`, ...(body ? { "Content-Type": "application/json" } : {}) },
      body: body ? JSON.stringify(body) : undefined,
      signal: AbortSignal.timeout((seconds + 10) * 1000),
    });
    const answer = (await res.json()) as Record<string, unknown>;
    const error = answer.error as { code: string; message: string } | undefined;
    if (!res.ok && error) throw new Error(`${error.code}: ${error.message}`);
    return answer;
  } finally {
    clearInterval(progress);
    if (Date.now() - started >= 1000) process.stderr.write("\n");
  }
}


type Outcome = { ok: true; data: unknown } | { ok: false; code: string; message: string };
type Survey = { partial: boolean; missing: string[]; nodes: Record<string, Outcome>; tookMs: number; asked: string };

function footer(s: Survey): string {
  const answered = Object.keys(s.nodes).length;
  const failed = Object.entries(s.nodes).filter(([, o]) => !o.ok);
  const lines = [`${answered} node(s) answered in ${s.tookMs} ms (asked ${s.asked})`];
  if (s.partial) lines.push(`PARTIAL: no answer from ${s.missing.join(", ")}`);
  for (const [n, o] of failed) if (!o.ok) lines.push(`${n}: ${o.code}: ${o.message}`);
  return lines.join("\n");
}

function ok<T>(s: Survey): [string, T][] {
  return Object.entries(s.nodes)
    .filter(([, o]) => o.ok)
    .map(([n, o]) => [n, (o as { data: T }).data] as [string, T])
    .sort(([a], [b]) => (a < b ? -1 : 1));
}

type Member = { name: string; state: string; region: string; url: string; rtt: number | null; incarnation: number };
type Stats = { connections: number; subscriptions: number; channels: number; peers: number; publishRate: number; deliveryRate: number; rssBytes: number; uptimeSeconds: number; version: string; draining: boolean };
type Channel = { name: string; instance: string; owner: string; protected: boolean; strict: boolean; subscribers: Record<string, number | null> };

const render: Record<string, (s: Survey) => string> = {
  nodes: (s) => {
    // One row per member as the asked node sees it, and how many nodes see it in the same state.
    const views = ok<Member[]>(s);
    const mine = views.find(([n]) => n === s.asked)?.[1] ?? views[0]?.[1] ?? [];
    const rows = mine.map((m) => {
      const agree = views.filter(([, v]) => v.some((x) => x.name === m.name && x.state === m.state)).length;
      return [m.name, m.state, m.region || null, m.rtt === null ? null : m.rtt.toFixed(1), m.incarnation, `${agree}/${views.length}`, m.url];
    });
    return table(["NAME", "STATE", "REGION", "RTT MS", "INCARNATION", "AGREE", "URL"], rows);
  },
  topology: (s) => {
    const edges = new Map<string, (string | number | null)[]>();
    for (const [node, t] of ok<{ links: { peer: string; rtt: number | null }[] }>(s)) {
      for (const l of t.links) {
        const [a, b] = node < l.peer ? [node, l.peer] : [l.peer, node];
        edges.set(`${a} ${b}`, [a, b, l.rtt === null ? null : l.rtt.toFixed(2)]);
      }
    }
    return table(["NODE", "PEER", "RTT MS"], [...edges.values()].sort((x, y) => String(x[0]).localeCompare(String(y[0])) || String(x[1]).localeCompare(String(y[1]))));
  },
  channels: (s) => {
    const byName = new Map<string, { c: Channel; subs: number }>();
    for (const [node, list] of ok<Channel[]>(s)) {
      for (const c of list) {
        const entry = byName.get(c.name) ?? { c, subs: 0 };
        entry.subs += c.subscribers[node] ?? 0; // each node's own count is exact
        byName.set(c.name, entry);
      }
    }
    const rows = [...byName.values()].sort((a, b) => a.c.name.localeCompare(b.c.name)).map(({ c, subs }) => [c.name, c.protected ? "yes" : "no", c.strict ? "yes" : "no", c.owner, subs, c.instance]);
    return table(["CHANNEL", "PROTECTED", "STRICT", "OWNER", "SUBSCRIBERS", "INSTANCE"], rows);
  },
  stats: (s) =>
    table(
      ["NODE", "CONNS", "SUBS", "CHANNELS", "PEERS", "PUB/S", "DELIVER/S", "RSS MIB", "UPTIME S", "VERSION", "STATE"],
      ok<Stats>(s).map(([n, st]) => [n, st.connections, st.subscriptions, st.channels, st.peers, st.publishRate, st.deliveryRate, (st.rssBytes / 1048576).toFixed(1), st.uptimeSeconds, st.version, st.draining ? "draining" : "ok"]),
    ),
};

function query(name: keyof typeof render, description: string) {
  return defineCommand({
    meta: { name, description },
    args: { ...common },
    async run({ args }) {
      await guard(async () => {
        const answer = (await call(args, "GET", name)) as unknown as Survey;
        if (args.json) return void process.stdout.write(`${JSON.stringify(answer, null, 2)}\n`);
        process.stdout.write(`${render[name]!(answer)}\n\n${footer(answer)}\n`);
      });
    },
  });
}

function command(name: string, description: string, positionals: Record<string, { description: string }>, extra: Record<string, { type: "string"; description: string }>, body: (a: Record<string, string | undefined>) => Record<string, unknown>, say: (answer: Record<string, unknown>) => string) {
  const args = { ...Object.fromEntries(Object.entries(positionals).map(([k, v]) => [k, { type: "positional" as const, description: v.description, required: true }])), ...extra, ...common };
  return defineCommand({
    meta: { name, description },
    args,
    async run({ args: parsed }) {
      await guard(async () => {
        const answer = await call(parsed as unknown as Args, "POST", name, body(parsed as Record<string, string | undefined>));
        if ((parsed as { json?: boolean }).json) return void process.stdout.write(`${JSON.stringify(answer, null, 2)}\n`);
        if (answer.ok === false) {
          const e = answer.error as { code: string; message: string };
          throw new Error(`${e.code}: ${e.message}`);
        }
        process.stdout.write(`${say(answer)}\n`);
      });
    },
  });
}

async function guard(run: () => Promise<void>): Promise<void> {
  try {
    await run();
  } catch (err) {
    process.stderr.write(`error: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(err instanceof UsageError ? 2 : 1);
  }
}

export const admin = defineCommand({
  meta: { name: "admin", description: "Administer the mesh through any node (needs --admin-token on the nodes)" },
  subCommands: {
    nodes: query("nodes", "The member table as every node sees it"),
    topology: query("topology", "Every link and its RTT"),
    channels: query("channels", "The channel registry, with subscribers per channel"),
    stats: query("stats", "Per node: connections, subscriptions, rates, memory, uptime, version"),
    drain: command(
      "drain",
      "Drain a node: it takes no new clients, tells its clients to move, and leaves the mesh",
      { node: { description: "the node's name" } },
      {},
      (a) => ({ node: a.node }),
      (r) => {
        const d = r.data as { clients: number; suggested: string[] };
        return `draining ${String(r.node)}: ${d.clients} client(s) told to move to ${d.suggested.join(", ") || "another node"}`;
      },
    ),
    kick: command(
      "kick",
      "Disconnect a client by id (as in its welcome, and `from` on its messages)",
      { client: { description: "the client id" } },
      { node: { type: "string", description: "the node holding it (default: ask every node)" } },
      (a) => (a.node ? { client: a.client, node: a.node } : { client: a.client }),
      (r) => `kicked ${String((r.data as { kicked?: string } | undefined)?.kicked ?? "")}${r.nodes ? ` on ${(r.nodes as string[]).join(", ")}` : ` on ${String(r.node)}`}`.replace("kicked  on", "kicked on"),
    ),
    "close-channel": command(
      "close-channel",
      "Close a channel everywhere; its subscribers are told (channel_conflict) and its name is free",
      { name: { description: "the channel" } },
      {},
      (a) => ({ name: a.name }),
      (r) => `closed channel ${String((r.data as { closed: string }).closed)}`,
    ),
    loglevel: command(
      "loglevel",
      "Set a node's log level at runtime",
      { node: { description: "the node's name" }, level: { description: "silent, error, warn, info, debug or trace" } },
      {},
      (a) => ({ node: a.node, level: a.level }),
      (r) => `${String(r.node)} now logs at ${String((r.data as { level: string }).level)}`,
    ),
  },
});
