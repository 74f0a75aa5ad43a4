import type { Admin, AdminOutcome, SurveyResult } from "./admin.ts";
import { bearerToken, tokenMatches } from "./admin-auth.ts";

/**
 * The admin API's HTTP edge: JSON over HTTP on the node's port, under /admin/, behind
 * `Authorization: Bearer <--admin-token>`. Queries (GET) are surveys of every live member;
 * commands (POST, JSON body) go to the node they name. Every refusal is `{"error":{code,message}}`.
 *
 *   GET  /admin/nodes | topology | channels | stats     [?timeout=ms]
 *   POST /admin/drain          {"node": NAME}
 *   POST /admin/kick           {"client": ID, "node"?: NAME}   (without node: every node is asked)
 *   POST /admin/close-channel  {"name": CHANNEL}
 *   POST /admin/loglevel       {"node": NAME, "level": "debug"}
 */

export const ADMIN_QUERIES = ["nodes", "topology", "channels", "stats"] as const;
export const ADMIN_COMMANDS = ["drain", "kick", "close-channel", "loglevel"] as const;

/** A survey waits this long for answers by default; `?timeout=` may ask for 100 ms to 30 s. */
export const SURVEY_TIMEOUT_MS = 3000;
const MAX_BODY_BYTES = 64 * 1024;

export interface AdminHttpDeps {
  /** The configured --admin-token; undefined turns the API off. */
  token: string | undefined;
  admin: Admin;
  self: string;
  /** Members this node knows, to refuse a command for an unknown node at once. */
  knows: (node: string) => boolean;
  log: { info: (msg: string) => void; warn: (msg: string) => void };
  /** Counted in /metrics: HTTP requests refused for a missing or wrong token. */
  onUnauthorized: () => void;
}

const error = (status: number, code: string, message: string): Response => Response.json({ error: { code, message } }, { status });

export async function handleAdmin(req: Request, deps: AdminHttpDeps): Promise<Response> {
  const url = new URL(req.url);
  const what = url.pathname.slice("/admin/".length);
  if (deps.token === undefined) return error(403, "admin_disabled", "the admin API is off: start the node with --admin-token (RELAY_ADMIN_TOKEN)");
  if (!tokenMatches(bearerToken(req.headers.get("authorization")), deps.token)) {
    deps.onUnauthorized();
    deps.log.warn(`admin: refused ${req.method} ${url.pathname} from ${req.headers.get("x-forwarded-for") ?? "a client"}: missing or wrong token`);
    return error(401, "unauthorized", "send the admin token as Authorization: Bearer <token>");
  }
  if ((ADMIN_QUERIES as readonly string[]).includes(what)) {
    if (req.method !== "GET") return error(405, "method_not_allowed", `${what} is a query: use GET`);
    const timeout = Number(url.searchParams.get("timeout") ?? SURVEY_TIMEOUT_MS);
    if (!Number.isFinite(timeout) || timeout < 100 || timeout > 30_000) return error(400, "bad_request", "timeout must be 100 to 30000 ms");
    const result = await deps.admin.survey(what, {}, timeout);
    return Response.json({ query: what, asked: deps.self, ...result } satisfies Record<string, unknown> & SurveyResult);
  }
  if (!(ADMIN_COMMANDS as readonly string[]).includes(what)) return error(404, "unknown_command", `no admin route ${url.pathname}; queries: ${ADMIN_QUERIES.join(", ")}; commands: ${ADMIN_COMMANDS.join(", ")}`);
  if (req.method !== "POST") return error(405, "method_not_allowed", `${what} is a command: use POST with a JSON body`);
  const text = await req.text();
  if (text.length > MAX_BODY_BYTES) return error(413, "bad_request", "the body is too large");
  let body: Record<string, unknown>;
  try {
    const parsed: unknown = text === "" ? {} : JSON.parse(text);
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) throw new Error("not an object");
    body = parsed as Record<string, unknown>;
  } catch {
    return error(400, "bad_request", "the body must be a JSON object");
  }
  const str = (k: string): string | undefined => (typeof body[k] === "string" ? (body[k] as string) : undefined);
  deps.log.info(`admin: ${what} ${JSON.stringify(body)}`);
  switch (what) {
    case "drain":
    case "loglevel": {
      const node = str("node");
      if (!node) return error(400, "bad_request", `${what} needs "node"`);
      if (!deps.knows(node)) return error(404, "unknown_node", `no live member named ${node}`);
      const args = what === "loglevel" ? { level: str("level") } : {};
      return outcome(what, node, await deps.admin.command(node, what, args, SURVEY_TIMEOUT_MS));
    }
    case "kick": {
      const client = str("client");
      if (!client) return error(400, "bad_request", 'kick needs "client" (a client id, as in welcome and msg.from)');
      const node = str("node");
      if (node !== undefined) {
        if (!deps.knows(node)) return error(404, "unknown_node", `no live member named ${node}`);
        return outcome(what, node, await deps.admin.command(node, "kick", { client }, SURVEY_TIMEOUT_MS));
      }
      // Client ids are unique per node, not global: ask everyone, and report who held it.
      const survey = await deps.admin.survey("kick", { client }, SURVEY_TIMEOUT_MS);
      const held = Object.entries(survey.nodes).filter(([, o]) => o.ok).map(([n]) => n);
      if (held.length === 0) return Response.json({ command: what, ok: false, error: { code: "unknown_client", message: `no node holds client ${client}` }, partial: survey.partial, missing: survey.missing }, { status: 404 });
      return Response.json({ command: what, ok: true, nodes: held, partial: survey.partial, missing: survey.missing });
    }
    case "close-channel": {
      const name = str("name");
      if (!name) return error(400, "bad_request", 'close-channel needs "name"');
      return outcome(what, deps.self, await deps.admin.command(deps.self, "close-channel", { name }, SURVEY_TIMEOUT_MS));
    }
  }
  return error(404, "unknown_command", `no admin command ${what}`);
}

function outcome(command: string, node: string, o: AdminOutcome | null): Response {
  if (o === null) return Response.json({ command, node, ok: false, error: { code: "timeout", message: `${node} did not answer within ${SURVEY_TIMEOUT_MS} ms` } }, { status: 504 });
  if (!o.ok) return Response.json({ command, node, ok: false, error: { code: o.code, message: o.message } }, { status: o.code === "unknown_client" ? 404 : 400 });
  return Response.json({ command, node, ok: true, data: o.data });
}
