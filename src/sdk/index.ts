/**
 * Relay's client SDK, for browsers and Bun. The whole public surface is listed here.
 *
 * @example
 * import { connect } from "relay/sdk";
 * const client = await connect("ws://localhost:7400");
 * await client.subscribe("chat", (msg) => console.log(msg.channel, msg.data));
 * await client.publish("chat", { text: "hello" });
 * client.close();
 */
import { Client } from "./client.ts";
import type { ConnectOptions } from "./types.ts";

/**
 * Connects to a node and resolves once the node has welcomed the client.
 * Until then it tries the addresses in turn, with backoff, and rejects with `timeout` after
 * `connectTimeoutMs` (default 10 s), with `closed` when `signal` aborts, or, with
 * `reconnect: false`, with `closed` once every address has failed once.
 */
export function connect(target: string | ConnectOptions): Promise<Client> {
  const client = new Client(typeof target === "string" ? { url: target } : target);
  return client.start();
}

export { Client };
export type { ConnectOptions, ConnectionState, Gap, Message, PublishOptions, SubscribeOptions, Subscription } from "./types.ts";
export type { BackoffOptions } from "./backoff.ts";
export { RelayError } from "./errors.ts";
export { chooseNode, type Candidate, type Choice, type ChooseOptions } from "./closest.ts";
export { ERRORS, type ErrorCode, type Payload, type Encoding, type WelcomeLimits } from "../protocol/index.ts";
