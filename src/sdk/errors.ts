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
  /** @param code a stable error code. @param message readable detail. */
  constructor(
    readonly code: ErrorCode,
    message: string = ERRORS[code].message,
  ) {
    super(message);
  }
}

/** A RelayError from an error frame's fields, tolerating codes newer than this SDK. */
export function errorFromFrame(code: unknown, message: unknown): RelayError {
  const text = typeof message === "string" ? message : "error";
  return isErrorCode(code) ? new RelayError(code, text) : new RelayError("internal", `${String(code)}: ${text}`);
}
