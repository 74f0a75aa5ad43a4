/** Free TCP ports on 127.0.0.1, for servers that must be told their port (config files, --port). */

/** A port free right now on 127.0.0.1: bind port 0, read what the kernel gave, release it. */
export function freePort(): number {
  const probe = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = probe.port;
  probe.stop(true);
  return port;
}
