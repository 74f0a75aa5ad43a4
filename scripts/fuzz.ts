/**
 * `npm run fuzz`: the long fuzz run over the wire decoders (issue 8). Not part of `npm test`;
 * test/unit/fuzz.test.ts runs the same generators (test/helpers/fuzz-corpus.ts) for a few seconds.
 *
 * First the fixed hostile corpus, then seeded mutants until the time is up. Every input goes
 * through the peer decoders (decodePeerFrame, decodePeerMessage) and the client decoder
 * (ClientFrameDecoder, JSON and MessagePack). Prints progress every 10 s (inputs, inputs/s, RSS
 * after a full collection, peak RSS) and a summary; exits 1 if any decoder threw or returned an
 * untyped result (or, with --max-rss-mb, if the peak passed it), printing the seed and case number
 * that replay a failure (`--seed S --case N`).
 *
 * Usage: bun scripts/fuzz.ts [--seconds 300] [--seed N] [--case N] [--max-rss-mb N]
 */
import { checkInput, describeInput, generateCase, hostileCorpus, makeDecoders, Rng, seedFrames, type FuzzInput } from "../test/helpers/fuzz-corpus.ts";

function flag(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}
function numberFlag(name: string, fallback: number): number {
  const raw = flag(name);
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0) {
    process.stderr.write(`fuzz: --${name} takes a non-negative number, not ${JSON.stringify(raw)}\n`);
    process.exit(2);
  }
  return n;
}

const seconds = numberFlag("seconds", 300);
// A fresh seed each run unless one is given, so long runs explore; it is printed so a run replays.
const seed = numberFlag("seed", crypto.getRandomValues(new Uint32Array(1))[0]!) >>> 0;
const onlyCase = flag("case") === undefined ? undefined : numberFlag("case", 0);
const maxRssMb = flag("max-rss-mb") === undefined ? undefined : numberFlag("max-rss-mb", 0);

const decoders = makeDecoders();
const seeds = seedFrames(new Rng(seed));
const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(0)} MB`;
let failures = 0;

function check(label: string, input: FuzzInput): void {
  const found = checkInput(input, decoders);
  if (found.length === 0) return;
  failures++;
  process.stdout.write(`FAIL ${label}\n`);
  for (const v of found) process.stdout.write(`  ${v.decoder}: ${v.problem}\n`);
  process.stdout.write(`  input: ${describeInput(input, 800)}\n`);
}

if (onlyCase !== undefined) {
  // Replay one mutant: what a failure line asked for.
  const input = generateCase(seed, onlyCase, seeds);
  process.stdout.write(`fuzz: replaying seed ${seed} case ${onlyCase}: ${describeInput(input, 800)}\n`);
  check(`seed ${seed} case ${onlyCase}`, input);
  process.exit(failures > 0 ? 1 : 0);
}

const started = performance.now();
const deadline = started + seconds * 1000;
const startRss = process.memoryUsage().rss;
let peakRss = startRss;
let count = 0;
let lastReport = started;
let lastCount = 0;

function sampleRss(): number {
  const rss = process.memoryUsage().rss;
  if (rss > peakRss) peakRss = rss;
  return rss;
}

function progress(now: number): void {
  // A full collection first, so the rss column shows what stays alive: a leak climbs there, while
  // garbage between collections only shows in the peak.
  Bun.gc(true);
  const rss = sampleRss();
  const rate = ((count - lastCount) / (now - lastReport)) * 1000;
  process.stdout.write(`fuzz: ${Math.round((now - started) / 1000)}s  ${count} inputs  ${Math.round(rate)}/s  rss ${mb(rss)}  peak ${mb(peakRss)}  failures ${failures}\n`);
  lastReport = now;
  lastCount = count;
}

process.stdout.write(`fuzz: seed ${seed}, ${seconds} s; replay a failing case with: bun scripts/fuzz.ts --seed ${seed} --case N\n`);

// 1. The fixed hostile corpus, once.
const corpus = hostileCorpus();
for (const c of corpus) {
  check(`corpus: ${c.name}`, c.make());
  count++;
  if (count % 50 === 0) sampleRss();
}
process.stdout.write(`fuzz: corpus of ${corpus.length} inputs done in ${Math.round(performance.now() - started)} ms, ${failures} failure(s)\n`);

// 2. Seeded mutants until the deadline; the clock is read every 64 inputs to keep it cheap.
for (let i = 0; ; i++) {
  if ((i & 63) === 0) {
    const now = performance.now();
    sampleRss();
    if (now >= deadline) break;
    if (now - lastReport >= 10_000) progress(now);
  }
  check(`seed ${seed} case ${i}`, generateCase(seed, i, seeds));
  count++;
}

const elapsed = performance.now() - started;
sampleRss();
// maxRSS (KiB) also sees peaks between samples.
const osPeak = process.resourceUsage().maxRSS * 1024;
process.stdout.write(
  `fuzz: done: ${count} inputs in ${(elapsed / 1000).toFixed(1)} s (${Math.round((count / elapsed) * 1000)}/s); ` +
    `RSS at start ${mb(startRss)}, peak ${mb(Math.max(peakRss, osPeak))} (sampled ${mb(peakRss)}); failures ${failures}\n`,
);
if (maxRssMb !== undefined && Math.max(peakRss, osPeak) > maxRssMb * 1024 * 1024) {
  process.stdout.write(`fuzz: peak RSS over --max-rss-mb ${maxRssMb}\n`);
  process.exit(1);
}
process.exit(failures > 0 ? 1 : 0);
