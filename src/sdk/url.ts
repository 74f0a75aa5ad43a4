/**
 * Accepts a node address as ws://, wss://, http:// or https:// alike (ARCHITECTURE.md section 6),
 * or a bare host:port, and returns the WebSocket URL of the node's client endpoint.
 */
export function toWebSocketUrl(address: string): string {
  const withScheme = /^[a-z]+:\/\//i.test(address) ? address : `ws://${address}`;
  const url = new URL(withScheme);
  if (url.protocol === "http:") url.protocol = "ws:";
  else if (url.protocol === "https:") url.protocol = "wss:";
  else if (url.protocol !== "ws:" && url.protocol !== "wss:") throw new TypeError(`not a node address: ${address} (use ws://, wss://, http:// or https://)`);
  return url.toString();
}
