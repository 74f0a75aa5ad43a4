import { createHash, createHmac, randomBytes, timingSafeEqual } from "node:crypto";

/**
 * Authentication for the admin API, at both of its edges:
 * - an operator's HTTP request carries `Authorization: Bearer <admin token>`, compared in
 *   constant time;
 * - a command a node sends another over the mesh carries an HMAC-SHA256 from its origin (keyed by
 *   a key derived from the cluster key, which only members hold), a fresh nonce and an expiry;
 *   the target refuses a bad MAC, an expired command, and a nonce it has seen (a replay).
 * Pure apart from the CSPRNG for nonces; the clock is passed in.
 */

/** A command lives at most this long in flight: long enough for a slow mesh, short enough that the replay window stays small. */
export const COMMAND_TTL_MS = 30_000;
/** Clock skew tolerated between nodes: a command stamped this far in the future is still taken. */
const MAX_SKEW_MS = 30_000;
/** Most nonces remembered at once: at the TTL above, 100 commands per second from every origin together. */
const REPLAY_WINDOW_SIZE = 100_000;

/** True when `given` is the admin token, in time that does not depend on where they differ. */
export function tokenMatches(given: string | null, token: string): boolean {
  if (given === null) return false;
  // Hash both so the comparison has a fixed length and reveals nothing about the token's length.
  const a = createHash("sha256").update(given).digest();
  const b = createHash("sha256").update(token).digest();
  return timingSafeEqual(a, b);
}

/** The bearer token of an Authorization header, or null. */
export function bearerToken(header: string | null): string | null {
  const match = header?.match(/^Bearer\s+(\S+)\s*$/i);
  return match ? match[1]! : null;
}

/** A command as it travels between nodes. */
export interface SignedCommand {
  v: 1;
  /** Fresh random nonce (hex), also the id its answer carries. */
  id: string;
  origin: string;
  target: string;
  cmd: string;
  args: Record<string, unknown>;
  /** Expiry, ms since the epoch. */
  expires: number;
  /** HMAC-SHA256 (hex) over everything above. */
  mac: string;
}

/** Why a command was refused, as a stable code and a readable message. */
export type CommandRefusal = { ok: false; code: "bad_signature" | "expired" | "replayed" | "wrong_target"; message: string };

/** The MAC key for commands: derived, so the cluster key itself never keys two protocols. */
export function commandKey(clusterKey: string): Buffer {
  return createHmac("sha256", clusterKey).update("relay admin command v1").digest();
}

function macOf(key: Buffer, c: Omit<SignedCommand, "mac">): string {
  // A fixed field order, so the text signed is the text checked.
  const text = JSON.stringify([c.v, c.id, c.origin, c.target, c.cmd, c.args, c.expires]);
  return createHmac("sha256", key).update(text).digest("hex");
}

/** Signs a command from `origin` to `target`. */
export function signCommand(key: Buffer, origin: string, target: string, cmd: string, args: Record<string, unknown>, now: number, nonce: string = randomBytes(16).toString("hex")): SignedCommand {
  const body = { v: 1 as const, id: nonce, origin, target, cmd, args, expires: now + COMMAND_TTL_MS };
  return { ...body, mac: macOf(key, body) };
}

/** Signs an answer to a command: the same MAC over the command's id and the result, so a forged answer is refused too. */
export function signAnswer<T>(key: Buffer, id: string, from: string, result: T): { id: string; from: string; result: T; mac: string } {
  const mac = createHmac("sha256", key).update(JSON.stringify([id, from, result])).digest("hex");
  return { id, from, result, mac };
}

export function answerIsAuthentic(key: Buffer, a: { id: string; from: string; result: unknown; mac: string }): boolean {
  const want = createHmac("sha256", key).update(JSON.stringify([a.id, a.from, a.result])).digest();
  return typeof a.mac === "string" && /^[0-9a-f]{64}$/.test(a.mac) && timingSafeEqual(want, Buffer.from(a.mac, "hex"));
}

/**
 * Checks commands addressed to this node: MAC, target, expiry, then the nonce against every nonce
 * seen and not yet expired. A nonce is remembered until its command's expiry, after which the
 * expiry check alone refuses a replay.
 */
export class CommandVerifier {
  private readonly seen = new Map<string, number>();

  constructor(
    private readonly key: Buffer,
    private readonly self: string,
  ) {}

  verify(c: SignedCommand, now: number): { ok: true } | CommandRefusal {
    if (typeof c.mac !== "string" || !/^[0-9a-f]{64}$/.test(c.mac) || !timingSafeEqual(Buffer.from(macOf(this.key, c), "hex"), Buffer.from(c.mac, "hex"))) {
      return { ok: false, code: "bad_signature", message: `command ${String(c.cmd)} from ${String(c.origin)} has a bad signature` };
    }
    if (c.target !== this.self) return { ok: false, code: "wrong_target", message: `command ${c.id} is for ${c.target}, not ${this.self}` };
    if (c.expires <= now || c.expires > now + COMMAND_TTL_MS + MAX_SKEW_MS) return { ok: false, code: "expired", message: `command ${c.id} from ${c.origin} expired or is stamped too far ahead` };
    this.purge(now, false);
    if (this.seen.size >= REPLAY_WINDOW_SIZE) this.purge(now, true);
    if (this.seen.has(c.id)) return { ok: false, code: "replayed", message: `command ${c.id} from ${c.origin} was already carried out` };
    if (this.seen.size >= REPLAY_WINDOW_SIZE) return { ok: false, code: "replayed", message: "too many commands in flight; refusing until the window drains" };
    this.seen.set(c.id, c.expires);
    return { ok: true };
  }

  /**
   * Forgets expired nonces. Map order is insertion order and expiries mostly grow with it, so the
   * cheap pass stops at the first live one; a full window gets a full pass, since skewed expiries
   * can hide expired nonces behind a live one.
   */
  private purge(now: number, full: boolean): void {
    for (const [id, expires] of this.seen) {
      if (expires > now) {
        if (full) continue;
        break;
      }
      this.seen.delete(id);
    }
  }
}
