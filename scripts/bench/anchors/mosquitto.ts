/**
 * mosquitto (Debian package mosquitto) as an anchor: a WebSockets listener on 127.0.0.1 that
 * takes anonymous clients, at QoS 0 (the client chooses the QoS; the bench's codec uses 0).
 *
 * Three lines beyond `listener P 127.0.0.1` + `protocol websockets` + `allow_anonymous true`, each
 * because mosquitto 2.0.11 as Debian builds it needs it, none a tuning:
 *   - a plain MQTT listener on another loopback port: with only a WebSockets listener, 2.0.11 exits
 *     with "Unable to start any listening sockets" (it counts only MQTT listeners). No client uses it.
 *   - `socket_domain ipv4`: without it libwebsockets ignores the bind address and listens on every
 *     interface (IPv6 any); with it, on 127.0.0.1 only.
 *   - logging to stderr at error and warning, matching Relay's --log-level warn: mosquitto's
 *     default also logs a line per connect and disconnect, which would be the bench measuring the
 *     log pipe. Every limit and queue stays at its default.
 */
import { freePort } from "../ports.ts";
import { scratchFile } from "../scratch.ts";

let configs = 0;

/** Writes a config file and returns the command line that starts mosquitto with it. */
export function mosquittoCommand(binary: string, wsPort: number): string[] {
  const text = [
    `listener ${freePort()} 127.0.0.1`,
    `listener ${wsPort} 127.0.0.1`,
    "protocol websockets",
    "socket_domain ipv4",
    "allow_anonymous true",
    "log_dest stderr",
    "log_type error",
    "log_type warning",
  ].join("\n");
  const path = scratchFile(`mosquitto-${++configs}.conf`, text + "\n");
  return [binary, "-c", path];
}
