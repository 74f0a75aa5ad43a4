import { ERRORS, isErrorCode, type ErrorCode } from "../protocol/index.ts";

/**
 * The error every SDK promise rejects with. `code` is a stable code from the one table in
 * docs/protocol.md (the same codes the node sends), so callers branch on it, never on the text.
 *
 * @example
 * try { await client.publish("chat", big); }
 * catch (err) { if (err instanceof RelayError && err.code === "payload_too_large") shrink(); }
 */
export class RelayError extends Error {
  override name = "RelayError";
  /**
   * @param code a stable error code. @param message readable detail.
   * @param channel the channel an unsolicited error is about (`channel_conflict`), when it names one.
   */
  constructor(
    readonly code: ErrorCode,
    message: string = ERRORS[code].message,
    readonly channel?: string,
  ) {
    super(message);
  }
}

/** A RelayError from an error frame's fields, tolerating codes newer than this SDK. */
export function errorFromFrame(code: unknown, message: unknown, channel?: unknown): RelayError {
  const text = typeof message === "string" ? message : "error";
  const about = typeof channel === "string" ? channel : undefined;
  return isErrorCode(code) ? new RelayError(code, text, about) : new RelayError("internal", `${String(code)}: ${text}`, about);
}
