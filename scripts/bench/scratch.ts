/**
 * One scratch folder per bench process, for the anchors' config files: made on first use and
 * removed when the bench exits, however it exits.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

let dir: string | null = null;

/** Writes `text` to a file named `name` in the scratch folder; returns its path. */
export function scratchFile(name: string, text: string): string {
  dir ??= mkdtempSync(join(tmpdir(), "relay-bench-"));
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

process.on("exit", () => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});
