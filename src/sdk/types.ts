import type { Encoding, Payload } from "../protocol/index.ts";
import type { BackoffOptions } from "./backoff.ts";

/** The SDK's option and value types (the Client class is in client.ts). */

/** Options for {@link connect}. */
export interface ConnectOptions {
  /** One node's address (ws://, wss://, http:// or https://). */
  url?: string;
  /**
   * Any nodes' addresses. The client reads the mesh's directory from the first that answers,
   * times the nearest candidates, connects to the closest, and fails over down that ranking
   * (see README, "Choosing the closest node"). Without `url`, this is how to connect to a mesh.
   */
  bootstrap?: string[];
  /**
   * The client's JWT, for nodes that require one (--jwt-secret / --jwt-public-key): a string, or a
   * function the client calls before every connection attempt, so it can fetch a fresh token
   * (after `token_expired`, the client reconnects with what it returns). Sent as `?token=`.
   */
  token?: string | (() => string | Promise<string>);
  /** Most candidates timed when choosing a node (default 8). */
  maxCandidates?: number;
  /**
   * How often to check again for a much closer node, in ms (default 300,000; 0 turns it off). The
   * client moves only when the new node's RTT is under half the current one and at least 20 ms
   * lower, and no request is waiting for an answer.
   */
  rerankIntervalMs?: number;
  /** Frame encoding: "json" (default) or "msgpack" (smaller, and carries bytes without base64). */
  encoding?: Encoding;
  /** Reconnect after a drop (default true). */
  reconnect?: boolean;
  /** Reconnect delays (default 100 ms doubling to 5 s, jittered). */
  backoff?: BackoffOptions;
  /** How long connect() keeps trying the addresses before it rejects with `timeout`, in ms (default 10,000). */
  connectTimeoutMs?: number;
  /** Aborting it makes a pending connect() reject with `closed` and closes the client. */
  signal?: AbortSignal;
  /** How long a subscribe or publish waits for the node's answer, in ms (default 10,000). */
  requestTimeoutMs?: number;
  /** Requests held while disconnected before new ones are refused with `buffer_full` (default 1,000). */
  maxQueued?: number;
}

/**
 * Messages may have been missed on a channel (`client.on("gap", ...)`):
 * - `reconnect`: the connection dropped and the channel was resubscribed; whatever was published
 *   while the client was away is gone (Relay keeps no history);
 * - `sequence`: a publisher's sequence number `n` jumped, so `missed` of its messages never came
 *   (a node crashed or cut this client, or a link changed, on their way).
 */
export interface Gap {
  channel: string;
  reason: "reconnect" | "sequence";
  /** The publisher, for `sequence`. */
  from?: string;
  /** How many of that publisher's messages are missing, for `sequence`. */
  missed?: number;
}

/** Connection states, reported through `client.on("state", ...)`. */
export type ConnectionState = "connecting" | "connected" | "reconnecting" | "closed";

/** A delivered message. */
export interface Message {
  /** The channel it was published on. */
  channel: string;
  /** The payload: a JSON value, or a Uint8Array for bytes. */
  data: Payload;
  /** Id of the publishing client, where the node knows it. */
  from?: string;
  /** The publisher's sequence number on this channel (1, 2, ...): with `from`, names the message. */
  n?: number;
}

/** Options for {@link Client.subscribe}. */
export interface SubscribeOptions {
  /**
   * The channel's password. If this call opens the channel (its name is new to the mesh), the
   * channel becomes protected by it; otherwise it must match the channel's password (or be
   * absent for an open channel), else the call rejects with `wrong_password`. The node checks it
   * once per connection and channel: once this connection was admitted, later calls on the
   * channel are not checked again. Over ws:// it travels in clear: use wss:// across networks
   * you do not trust.
   */
  password?: string;
  /** Also receive this client's own publishes on the channel (default false). */
  echo?: boolean;
}

/** Options for {@link Client.publish}. */
export interface PublishOptions {
  /**
   * The channel's password. If this call opens the channel (its name is new to the mesh), the
   * channel becomes protected by it; otherwise it must match the channel's password (or be
   * absent for an open channel), else the call rejects with `wrong_password`. The node checks it
   * once per connection and channel: once this connection was admitted, later calls on the
   * channel are not checked again. Over ws:// it travels in clear: use wss:// across networks
   * you do not trust.
   */
  password?: string;
}

/** A live subscription; call unsubscribe() to stop receiving. */
export interface Subscription {
  readonly channel: string;
  /** Stops this handler; the node is told when the last handler of the channel goes. */
  unsubscribe(): Promise<void>;
}

