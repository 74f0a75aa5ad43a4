import type { ServerWebSocket } from "bun";
import type { Encoding } from "../protocol/index.ts";
import type { ChannelMap } from "./channel-map.ts";

/** Per-connection state, held in Bun's `ws.data`. Kept small: 5,000 idle clients should cost a few MiB. */
export interface Session {
  /** Tells client sockets from peer sockets, which share Bun.serve's WebSocket handlers. */
  kind: "client";
  /** Node-unique client id, sent in `welcome` and as `from` on the messages it publishes. */
  id: string;
  /** The encoding of frames the node sends this client (chosen by subprotocol). */
  encoding: Encoding;
  /** Protocol version 2: messages to this client are batched, several frames per WebSocket message. */
  batch: boolean;
  /** Channels this client subscribes to, each with the channel instance it was admitted to. */
  subs: ChannelMap<string>;
  /**
   * Channels this client passed admission for (password checked once), with the instance; null
   * while there are none. Publishing to an instance listed here needs no check.
   */
  admitted: ChannelMap<Admitted> | null;
  /** Admission checks in flight per channel (admission.ts chains them to keep frame order); null while none. */
  admitting: Map<string, Promise<import("./admission.ts").Admission>> | null;
  /** Channels where this client asked to receive its own publishes; null while there are none. */
  echo: Set<string> | null;
  /** Publish token bucket (ratelimit.ts), held inline: one object less per connection. */
  tokens: number;
  /** Clock reading (ms) of the bucket's last refill. */
  at: number;
  /** Peer address, for logs. */
  remote: string;
  /** Set once the node has closed this client on purpose, so the close handler counts it right. */
  closing: "slow_consumer" | "shutting_down" | "too_many_connections" | "too_big" | "kicked" | "token_expired" | null;
  /** Bytes waiting in the send buffer at the last slow-consumer sweep. */
  backlog: number;
  /** What the client's token grants, when the node requires tokens; null otherwise. */
  grant: import("./client-auth.ts").ClientGrant | null;
  /** Closes the session when the token expires. */
  expiry: ReturnType<typeof setTimeout> | null;
}

/** A channel a client passed admission for. */
export interface Admitted {
  /** The channel instance it was admitted to. */
  instance: string;
  /**
   * Sequence number of this client's last publish on the channel: subscribers get it as `n`, so
   * with `from` it names each message, which lets the SDK drop the copies it sees twice while it
   * moves between nodes, and spot gaps.
   */
  n: number;
  /** Whether the client's token allows publishing / subscribing here; decided once, at first use. */
  pub?: boolean;
  sub?: boolean;
}

/** A client's WebSocket. */
export type ClientSocket = ServerWebSocket<Session>;

/**
 * The Bun topic for a channel instance in one encoding and protocol version. Each has its own topic
 * so a message is encoded once per encoding and handed to native fan-out, never re-encoded per
 * subscriber; version 2 topics get batched messages (fanout.ts). Topics are per instance, not per
 * name: a client admitted to one instance of a name can never receive a message published to
 * another (ARCHITECTURE.md section 5).
 */
export function topicOf(encoding: Encoding, batch: boolean, instance: string): string {
  return (encoding === "json" ? (batch ? "J" : "j") : batch ? "M" : "m") + instance;
}
