/**
 * The codec checks (checks/*.ts), each against its system's official client, run once before the
 * bench measures anything (and alone: `bun scripts/bench/check-codecs.ts`). A system whose check
 * fails is not measured: its figures would come from a client that does not speak its protocol.
 */
import { checkMqtt } from "./checks/mqtt.ts";
import { checkNats } from "./checks/nats.ts";
import { checkRelay } from "./checks/relay.ts";
import { checkSocketio } from "./checks/socketio.ts";
import { checkWsRelay } from "./checks/ws-relay.ts";
import type { CheckReport } from "./checks/harness.ts";
import { stopAll } from "./processes.ts";
import { MOSQUITTO, NATS, RAW_BUN, RELAY, SOCKETIO, SYSTEMS, WS_RELAY, type SystemKey } from "./systems.ts";

export interface CodecCheck {
  system: SystemKey;
  /** The official client it was checked against, and what was verified. */
  report: CheckReport | null;
  /** Why it failed, or null. */
  error: string | null;
}

/** The binary's path, from `which` after prepare (nats-server and mosquitto live in /usr/sbin). */
function sbin(command: string): string {
  return Bun.which(command, { PATH: `${process.env.PATH ?? ""}:/usr/sbin:/sbin` }) ?? command;
}

const CHECKS: Partial<Record<SystemKey, () => Promise<CheckReport>>> = {
  [RELAY.key]: () => checkRelay(),
  [RAW_BUN.key]: () => checkRelay(RAW_BUN),
  [NATS.key]: () => checkNats(sbin("nats-server")),
  [MOSQUITTO.key]: () => checkMqtt(sbin("mosquitto")),
  [SOCKETIO.key]: () => checkSocketio(),
  [WS_RELAY.key]: () => checkWsRelay(),
};

/** Runs the check of every system in `systems` that has one (Relay and raw Bun both against Relay's SDK). */
export async function checkCodecs(systems: readonly SystemKey[], log: (line: string) => void): Promise<CodecCheck[]> {
  const out: CodecCheck[] = [];
  for (const system of systems) {
    const check = CHECKS[system];
    if (!check) continue;
    try {
      const report = await check();
      log(`codec check ${system}: OK against ${report.client} (${report.verified.length} checks)`);
      out.push({ system, report, error: null });
    } catch (err) {
      const error = (err as Error).message;
      log(`codec check ${system}: FAILED: ${error}`);
      out.push({ system, report: null, error });
    }
  }
  return out;
}

if (import.meta.main) {
  const log = (line: string): void => void process.stderr.write(`${line}\n`);
  let failed = 0;
  try {
    const ready: SystemKey[] = [];
    for (const s of SYSTEMS) {
      const why = await s.prepare(log);
      if (why) log(`${s.label}: skipped: ${why}`);
      else ready.push(s.key);
    }
    for (const c of await checkCodecs(ready, log)) {
      if (c.report) for (const v of c.report.verified) process.stdout.write(`ok    ${c.system}: ${v}\n`);
      else {
        failed++;
        process.stdout.write(`FAIL  ${c.system}: ${c.error}\n`);
      }
    }
  } finally {
    await stopAll();
  }
  process.exit(failed ? 1 : 0);
}
