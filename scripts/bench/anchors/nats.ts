/**
 * nats-server (Debian package nats-server) as an anchor: its configuration for one server with a
 * WebSocket listener, and for a node of a cluster.
 *
 * Everything is nats-server's default except what the bench needs to reach it: the WebSocket
 * listener on 127.0.0.1 with `no_tls: true` (plain ws://, which nats-server refuses without it),
 * the client listener on a random loopback port (-1), and for a cluster the cluster block with
 * explicit routes and a monitoring port, read to know when every route is up. No limit, buffer or
 * write deadline is changed.
 */
import { scratchFile } from "../scratch.ts";

/** Where one nats-server listens. */
export interface NatsPorts {
  /** WebSocket clients (the bench's). */
  ws: number;
  /** Cluster routes; only for a node of a cluster. */
  cluster?: number;
  /** HTTP monitoring (/routez); only for a node of a cluster. */
  monitor?: number;
}

let configs = 0;

/** Writes a config file and returns the command line that starts nats-server with it. */
export function natsCommand(binary: string, name: string, ports: NatsPorts, routes: number[] = [], extra: string[] = []): string[] {
  const lines = [
    `server_name: ${name}`,
    "host: 127.0.0.1",
    "port: -1",
    `websocket { host: 127.0.0.1, port: ${ports.ws}, no_tls: true }`,
  ];
  if (ports.monitor !== undefined) lines.push(`http: "127.0.0.1:${ports.monitor}"`);
  if (ports.cluster !== undefined) {
    lines.push(
      `cluster { name: relay-bench, host: 127.0.0.1, port: ${ports.cluster}, routes: [${routes.map((p) => `"nats-route://127.0.0.1:${p}"`).join(", ")}] }`,
    );
  }
  // `extra` is for the codec check alone (a short ping interval); the bench never passes it.
  lines.push(...extra);
  const path = scratchFile(`nats-${++configs}-${name}.conf`, lines.join("\n") + "\n");
  return [binary, "-c", path];
}
