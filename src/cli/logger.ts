import { createConsola, type ConsolaInstance, type LogType } from "consola";

const LEVELS: Record<string, number> = { silent: -999, error: 0, warn: 1, info: 3, debug: 4, trace: 5 };

/**
 * The CLI's logger. Everything goes to stderr: for `relay sub`, stdout carries only payloads.
 * Colour and fancy output only when stderr is a terminal, so logs under systemd stay plain lines.
 */
export function makeLogger(level: string, tag = "relay"): ConsolaInstance {
  return createConsola({
    level: LEVELS[level] ?? 3,
    stdout: process.stderr,
    stderr: process.stderr,
    formatOptions: { date: process.stderr.isTTY !== true, colors: process.stderr.isTTY === true },
  }).withTag(tag);
}

export type { ConsolaInstance, LogType };
