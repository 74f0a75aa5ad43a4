/**
 * The one table of error codes that Relay speaks, shared by the node, the SDK and the CLI.
 *
 * Invariant: codes are stable strings that scripts match on; a code is never renamed or reused
 * with another meaning. `close` is the WebSocket close code used whenever this error ends a
 * connection, and null for errors that never do. Only `payload_too_large` is both: an error
 * frame (connection stays open) for a payload over the limit, and close 1009 for a whole frame
 * over it. Codes from 4000 up are Relay's own (RFC 6455 leaves 4000-4999 to applications).
 */
export const ERRORS = {
  /** A frame that is not valid JSON / MessagePack, or not an object of the v1 shape. */
  bad_frame: { close: null, message: "the frame is not a valid v1 frame" },
  /** A well-formed frame whose `op` the node does not know. */
  unknown_op: { close: null, message: "unknown op" },
  /** A channel name outside the grammar in docs/protocol.md. */
  bad_channel: { close: null, message: "the channel name is not valid" },
  /** A payload over --max-payload; a whole frame over the limit closes with 1009 instead. */
  payload_too_large: { close: 1009, message: "the payload is larger than the node allows" },
  /** The connection published faster than its token bucket (--publish-rate, --publish-burst). */
  rate_limited: { close: null, message: "publishing too fast; the message was dropped" },
  /** The connection already holds --max-subscriptions subscriptions. */
  too_many_subscriptions: { close: null, message: "too many subscriptions on this connection" },
  /** The node already holds --max-connections clients. */
  too_many_connections: { close: 1013, message: "the node is full; try another node or later" },
  /** The client could not keep up: its send buffer passed --max-buffered bytes. */
  slow_consumer: { close: 4008, message: "the client is not reading fast enough" },
  /** The client offered only WebSocket subprotocols this node does not speak (HTTP 400 at the upgrade). */
  unsupported_protocol: { close: null, message: "unsupported subprotocol" },
  /** The channel is protected and the password was missing or wrong; or a password was given for a channel that has none. */
  wrong_password: { close: null, message: "wrong password for this channel" },
  /**
   * The channel instance this client was admitted to lost to another instance of the same name
   * (two sides of a partition both opened it) or was closed: subscribe again by name, with the
   * password of the channel that now holds the name. Sent unasked, with `channel`.
   */
  channel_conflict: { close: null, message: "the channel was replaced; subscribe again" },
  /** The channel could not be opened: its owner did not answer, or (strict mode) no majority of the mesh acknowledged it. */
  channel_unavailable: { close: null, message: "the channel cannot be opened now; try again" },
  /** An operator disconnected this client (admin `kick`). The SDK does not reconnect after it. */
  kicked: { close: 4010, message: "an operator disconnected this client" },
  /** The node is draining: it takes no new clients (HTTP 503 at the upgrade); connect to another node. */
  draining: { close: null, message: "the node is draining; connect to another node" },
  /** Too many WebSocket connections from one address in a short time (HTTP 429 at the upgrade; --connect-rate). */
  too_many_connects: { close: null, message: "too many connections from this address; slow down" },
  /** The registry holds --max-channels live channels; a new one cannot be opened. */
  too_many_channels: { close: null, message: "the mesh holds its limit of channels" },
  /** The node requires a client token (--jwt-secret / --jwt-public-key) and none, or an invalid one, came (HTTP 401 at the upgrade). */
  unauthorized: { close: null, message: "a valid token is required" },
  /** The client's token does not allow this action on this channel. */
  forbidden: { close: null, message: "the token does not allow this channel" },
  /** The client's token expired: the session is closed; connect again with a fresh token. */
  token_expired: { close: 4011, message: "the token expired" },
  /** The node is shutting down; reconnect (the SDK does so by itself). */
  shutting_down: { close: 1001, message: "the node is shutting down" },
  /** A fault inside the node; it is logged, and the node and the connection keep running. */
  internal: { close: null, message: "internal error" },
  /** SDK only: no answer came from the node in time. */
  timeout: { close: null, message: "no answer from the node in time" },
  /** SDK only: the client was closed, or the connection dropped before an answer came. */
  closed: { close: null, message: "the connection is closed" },
  /** SDK only: too many requests are waiting for the connection to come back. */
  buffer_full: { close: null, message: "too many requests queued while disconnected" },
} as const satisfies Record<string, { close: number | null; message: string }>;

/** A stable error code, one of the keys of {@link ERRORS}. */
export type ErrorCode = keyof typeof ERRORS;

/** True when `code` is a code of the table (used to validate codes that arrive over the wire). */
export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === "string" && Object.hasOwn(ERRORS, code);
}

/** The close code for a code that ends the connection, or null when it does not. */
export function closeCodeOf(code: ErrorCode): number | null {
  return ERRORS[code].close;
}

/** The code for a WebSocket close code of Relay's own, so a client can name why it was cut. */
export function codeOfClose(close: number): ErrorCode | null {
  for (const [code, entry] of Object.entries(ERRORS)) {
    if (entry.close === close) return code as ErrorCode;
  }
  return null;
}
