/**
 * `npm run build`: the single executable dist/relay (bun build --compile, runs without Bun
 * installed) and the browser SDK bundle dist/sdk/relay.js (ES module).
 * Usage: bun scripts/build.ts [--only binary|sdk]
 */
import { mkdir } from "node:fs/promises";

const root = new URL("..", import.meta.url).pathname;
const only = process.argv.includes("--only") ? process.argv[process.argv.indexOf("--only") + 1] : undefined;

async function run(label: string, args: string[]): Promise<void> {
  const started = performance.now();
  process.stderr.write(`build: ${label}...\n`);
  const proc = Bun.spawn([process.execPath, ...args], { cwd: root, stdout: "inherit", stderr: "inherit" });
  if ((await proc.exited) !== 0) {
    process.stderr.write(`build: ${label} failed\n`);
    process.exit(1);
  }
  process.stderr.write(`build: ${label} done in ${Math.round(performance.now() - started)} ms\n`);
}

await mkdir(`${root}dist/sdk`, { recursive: true });
if (only !== "sdk") {
  await run("dist/relay (single executable)", ["build", "--compile", "--minify", "--sourcemap", "src/cli/main.ts", "--outfile", `${root}dist/relay`]);
}
if (only !== "binary") {
  const started = performance.now();
  process.stderr.write("build: dist/sdk/relay.js (browser ES module)...\n");
  const out = await Bun.build({
    entrypoints: [`${root}src/sdk/index.ts`],
    outdir: `${root}dist/sdk`,
    naming: "relay.js",
    target: "browser",
    format: "esm",
    minify: true,
    sourcemap: "linked",
  });
  if (!out.success) {
    for (const log of out.logs) process.stderr.write(`${log}\n`);
    process.exit(1);
  }
  process.stderr.write(`build: dist/sdk/relay.js done in ${Math.round(performance.now() - started)} ms\n`);
}
