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
import { Client, type ConnectOptions } from "./client.ts";

/**
 * Connects to a node and resolves once the node has welcomed the client.
 * With `reconnect` (the default) a first connection that fails is retried with backoff until it
 * succeeds or `client.close()` is called; with `reconnect: false` it rejects with code `closed`.
 */
export function connect(target: string | ConnectOptions): Promise<Client> {
  const client = new Client(typeof target === "string" ? { url: target } : target);
  return client.start();
}

export { Client };
export type { ConnectOptions, ConnectionState, Message, PublishOptions, SubscribeOptions, Subscription } from "./client.ts";
export type { BackoffOptions } from "./backoff.ts";
export { RelayError } from "./errors.ts";
export { ERRORS, type ErrorCode, type Payload, type Encoding } from "../protocol/index.ts";
