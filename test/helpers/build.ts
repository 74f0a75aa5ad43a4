/**
 * Builds dist/ for the tests that run the compiled artefacts (test/e2e), at most once per
 * `bun test` process, and only when an output is missing or older than a source file.
 *
 * Invariant: every caller in one process shares one promise (memoised in module scope), so several
 * test files calling ensureBuilt() in their beforeAll never start two builds. No lock file is
 * needed because `bun test` loads this module once per process.
 */
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";

/** The repository root (this file is test/helpers/build.ts). */
export const ROOT = join(import.meta.dir, "..", "..");
/** The single executable that `npm run build` makes. */
export const RELAY_BIN = join(ROOT, "dist", "relay");
/** The browser ES module of src/sdk/index.ts that `npm run build` makes. */
export const SDK_BUNDLE = join(ROOT, "dist", "sdk", "relay.js");

/** What the outputs are built from: every file under src/, and the build script itself. */
const SOURCES = [join(ROOT, "src"), join(ROOT, "scripts", "build.ts")];
const OUTPUTS = [RELAY_BIN, SDK_BUNDLE];

/** Building takes a few seconds; beforeAll hooks that call ensureBuilt() should allow this much. */
export const BUILD_TIMEOUT_MS = 120_000;

let building: Promise<void> | undefined;

/** Resolves once dist/relay and dist/sdk/relay.js are at least as new as every source file. */
export function ensureBuilt(): Promise<void> {
  building ??= buildIfStale();
  return building;
}

/** Why a build is needed, or null when the outputs are fresh. Exported for the curious test. */
export function staleness(): string | null {
  const newestSource = Math.max(...SOURCES.map(newestMtime));
  for (const out of OUTPUTS) {
    const mtime = mtimeOrNull(out);
    if (mtime === null) return `${out} is missing`;
    if (mtime < newestSource) return `${out} is older than the sources`;
  }
  return null;
}

async function buildIfStale(): Promise<void> {
  const why = staleness();
  if (why === null) return;
  process.stderr.write(`ensureBuilt: ${why}; running bun scripts/build.ts\n`);
  // process.execPath is the bun running the tests, so the build uses the pinned version.
  const proc = Bun.spawn([process.execPath, join(ROOT, "scripts", "build.ts")], {
    cwd: ROOT,
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  const [code, out, err] = await Promise.all([proc.exited, new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
  if (code !== 0) throw new Error(`bun scripts/build.ts exited ${code}\n${out}${err}`);
  const still = staleness();
  if (still !== null) throw new Error(`bun scripts/build.ts succeeded but ${still}`);
}

function mtimeOrNull(path: string): number | null {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return null;
  }
}

/** The newest mtime of a file, or of any file below a directory. */
function newestMtime(path: string): number {
  const st = statSync(path);
  if (!st.isDirectory()) return st.mtimeMs;
  let newest = 0;
  for (const entry of readdirSync(path, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile()) continue;
    newest = Math.max(newest, statSync(join(entry.parentPath, entry.name)).mtimeMs);
  }
  return newest;
}
