/**
 * Makes sure dist/relay is the build of the current sources: the bench measures the compiled
 * binary that ships, and a stale one would measure old code.
 */
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { RELAY_BIN, ROOT } from "./servers.ts";

/** The binary is built from every file under src/ and from the build script itself. */
const SOURCES = [join(ROOT, "src"), join(ROOT, "scripts", "build.ts")];

function newestMtime(path: string): number {
  const st = statSync(path);
  if (!st.isDirectory()) return st.mtimeMs;
  let newest = 0;
  for (const entry of readdirSync(path, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) newest = Math.max(newest, statSync(join(entry.parentPath, entry.name)).mtimeMs);
  }
  return newest;
}

/** Why dist/relay needs building, or null if it is fresh. */
function staleness(): string | null {
  let built: number;
  try {
    built = statSync(RELAY_BIN).mtimeMs;
  } catch {
    return "dist/relay is missing";
  }
  return built < Math.max(...SOURCES.map(newestMtime)) ? "dist/relay is older than src/" : null;
}

/** Builds dist/relay with `bun scripts/build.ts --only binary` when it is missing or stale. */
export async function ensureRelayBinary(log: (line: string) => void): Promise<void> {
  const why = staleness();
  if (why === null) return;
  log(`${why}; building it (bun scripts/build.ts --only binary)`);
  // Build output goes to our stderr: stdout is kept for the results table.
  const proc = Bun.spawn([process.execPath, join(ROOT, "scripts", "build.ts"), "--only", "binary"], { cwd: ROOT, stdin: "ignore", stdout: 2, stderr: 2 });
  const code = await proc.exited;
  if (code !== 0) throw new Error(`building dist/relay failed (exit ${code}); fix the build, then run the bench again`);
}
