import { createPublicKey, type KeyObject } from "node:crypto";
import { jwtVerify, type JWTPayload } from "jose";

/**
 * Optional client authentication with JWTs (issue 8), checked once at connect:
 * - HS256 with a shared secret (--jwt-secret), or EdDSA (Ed25519) with a public key
 *   (--jwt-public-key FILE): the application signs tokens, the node only verifies them;
 * - `sub` names the user and `exp` is required: the node closes the session when it passes;
 * - an optional `relay` claim limits channels: `{"subscribe": [patterns], "publish": [patterns]}`.
 *   A list that is absent allows every channel for that action; an empty one allows none.
 *   Patterns: `*` is one segment (no `.`, `/` or `:`), a final `>` is one or more of anything,
 *   every other character is itself. `chat.*` matches `chat.lobby`; `user/alice/>` matches
 *   `user/alice/inbox` and `user/alice/a/b`.
 * The crypto is jose's, a well-kept library, not ours.
 */

/** What a verified token grants a session. */
export interface ClientGrant {
  /** The token's subject: who this connection is. */
  user: string;
  /** Expiry, ms since the epoch. */
  expiresAt: number;
  canSubscribe: (channel: string) => boolean;
  canPublish: (channel: string) => boolean;
}

export type AuthOutcome = { ok: true; grant: ClientGrant } | { ok: false; message: string };

/** Most patterns per action in one token: a token is not a place for a whole ACL database. */
const MAX_PATTERNS = 256;

/** Compiles permission patterns into one test; null (no list) allows everything. */
export function channelMatcher(patterns: unknown): ((channel: string) => boolean) | string {
  if (patterns === undefined) return () => true;
  if (!Array.isArray(patterns) || patterns.length > MAX_PATTERNS || !patterns.every((p) => typeof p === "string" && p.length > 0 && p.length <= 255)) {
    return `channel patterns must be a list of at most ${MAX_PATTERNS} non-empty strings`;
  }
  if (patterns.length === 0) return () => false;
  const source = (patterns as string[])
    .map((p) => {
      const tail = p.endsWith(">");
      const body = (tail ? p.slice(0, -1) : p)
        .split("*")
        .map((part) => part.replace(/[.+?^${}()|[\]\\/-]/g, "\\$&"))
        .join("[^./:]+");
      return tail ? `${body}.+` : body;
    })
    .join("|");
  const re = new RegExp(`^(?:${source})$`);
  return (channel) => re.test(channel);
}

/** Verifies client tokens with the configured key; null when client auth is off. */
export class ClientAuth {
  private constructor(
    private readonly key: Uint8Array | KeyObject,
    private readonly algorithm: "HS256" | "EdDSA",
  ) {}

  /** From --jwt-secret or the PEM text of --jwt-public-key (one of them; the config makes sure); null when neither. */
  static create(secret: string | undefined, publicKeyPem: string | undefined): ClientAuth | null {
    if (secret !== undefined) return new ClientAuth(new TextEncoder().encode(secret), "HS256");
    if (publicKeyPem !== undefined) {
      const key = createPublicKey(publicKeyPem);
      if (key.asymmetricKeyType !== "ed25519") throw new Error(`--jwt-public-key must be an Ed25519 public key (PEM, SPKI), not ${key.asymmetricKeyType}`);
      return new ClientAuth(key, "EdDSA");
    }
    return null;
  }

  async verify(token: string, now: number): Promise<AuthOutcome> {
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, this.key, { algorithms: [this.algorithm], currentDate: new Date(now), requiredClaims: ["sub", "exp"] }));
    } catch (err) {
      // jose's messages say what failed (expired, bad signature, missing claim) without echoing the token.
      return { ok: false, message: `invalid token: ${err instanceof Error ? err.message : "unreadable"}` };
    }
    const relay = (payload.relay ?? {}) as Record<string, unknown>;
    if (typeof relay !== "object" || relay === null) return { ok: false, message: "invalid token: the relay claim must be an object" };
    const canSubscribe = channelMatcher(relay.subscribe);
    const canPublish = channelMatcher(relay.publish);
    if (typeof canSubscribe === "string" || typeof canPublish === "string") return { ok: false, message: `invalid token: ${typeof canSubscribe === "string" ? canSubscribe : canPublish}` };
    return { ok: true, grant: { user: String(payload.sub), expiresAt: payload.exp! * 1000, canSubscribe, canPublish } };
  }
}

/** The token a client sent: `?token=` (browsers cannot set headers) or `Authorization: Bearer`. */
export function tokenOf(req: Request, url: URL): string | null {
  const fromQuery = url.searchParams.get("token");
  if (fromQuery) return fromQuery;
  const header = req.headers.get("authorization")?.match(/^Bearer\s+(\S+)\s*$/i);
  return header ? header[1]! : null;
}
