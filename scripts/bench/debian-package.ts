/**
 * Installs the Debian packages of the anchors (nats-server, mosquitto) when their binary is missing,
 * so `npm run bench` works on a fresh machine. Nothing is installed when the command exists, and
 * when it cannot be installed (no apt-get, no root, no repository) the caller gets the reason and
 * reports the system as skipped: a missing anchor is never replaced by a guess.
 *
 * Why apt-get and not a download: the machines this runs on reach Debian's repositories and the npm
 * registry only, and the issue names the Debian packages (nats-server 2.9, mosquitto 2.0).
 */

/** An installed command's path, or why it is not there. */
export type Installed = { ok: true; path: string } | { ok: false; reason: string };

/** Non-interactive, and no service started by the package's scripts: the bench starts its own processes. */
const APT_ENV = { ...process.env, DEBIAN_FRONTEND: "noninteractive", NEEDRESTART_MODE: "a" };

/** Looks in PATH and in the sbin folders, where Debian puts daemons and a non-root PATH may not reach. */
function which(command: string): string | null {
  return Bun.which(command, { PATH: `${process.env.PATH ?? ""}:/usr/sbin:/sbin` });
}

async function run(cmd: string[], log: (line: string) => void): Promise<{ code: number; tail: string }> {
  log(`  $ ${cmd.join(" ")}`);
  const proc = Bun.spawn(cmd, { stdin: "ignore", stdout: "pipe", stderr: "pipe", env: APT_ENV });
  const [code, out, err] = await Promise.all([proc.exited, new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
  const tail = (out + err).trim().split("\n").slice(-3).join(" | ");
  return { code, tail };
}

/** Whether apt-get may be run here: it exists and we are root (or have passwordless sudo). */
function aptPrefix(): { prefix: string[] } | { reason: string } {
  if (!Bun.which("apt-get")) return { reason: "apt-get is not available on this machine" };
  if (process.getuid?.() === 0) return { prefix: [] };
  if (Bun.which("sudo")) return { prefix: ["sudo", "-n"] };
  return { reason: "installing needs root (apt-get), and this is not root and has no sudo" };
}

/**
 * Returns the path of `command`, installing Debian package `pkg` first when the command is missing.
 * Tries `apt-get install` at once (the package lists are usually present), and once more after
 * `apt-get update` if that failed.
 */
export async function ensureDebianCommand(command: string, pkg: string, log: (line: string) => void): Promise<Installed> {
  const found = which(command);
  if (found) return { ok: true, path: found };
  const apt = aptPrefix();
  if ("reason" in apt) return { ok: false, reason: `${command} is not installed and ${apt.reason}` };
  log(`${command} is missing: installing the Debian package ${pkg}`);
  const install = [...apt.prefix, "apt-get", "install", "-y", "--no-install-recommends", pkg];
  let result = await run(install, log);
  if (result.code !== 0) {
    const update = await run([...apt.prefix, "apt-get", "update"], log);
    if (update.code !== 0) return { ok: false, reason: `apt-get update failed (exit ${update.code}): ${update.tail}` };
    result = await run(install, log);
  }
  const path = which(command);
  if (result.code !== 0 || !path) return { ok: false, reason: `apt-get install ${pkg} failed (exit ${result.code}): ${result.tail}` };
  return { ok: true, path };
}
