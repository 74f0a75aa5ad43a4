import { createConsola, type ConsolaInstance, type ConsolaReporter, type LogObject } from "consola/core";
import { formatWithOptions } from "node:util";
import { LOG_LEVELS as LEVELS } from "../node/config.ts";


/**
 * One plain line per log record on stderr: `2026-11-29T23:59:00.000Z INFO  [relay] message`.
 * consola/core with this reporter instead of consola's default fancy reporter, because the
 * default pulls in terminal helpers that cost a compiled node ~13 MB of resident memory, and a
 * node on a small server mostly logs to journald anyway.
 */
const lineReporter: ConsolaReporter = {
  log(record: LogObject) {
    const level = record.type === "log" ? "info" : record.type;
    const text = formatWithOptions({ colors: false, breakLength: Infinity }, ...record.args);
    const tag = record.tag ? `[${record.tag}] ` : "";
    process.stderr.write(`${record.date.toISOString()} ${level.toUpperCase().padEnd(5)} ${tag}${text}\n`);
  },
};

/**
 * The CLI's logger. Everything goes to stderr: for `relay sub`, stdout carries only payloads.
 */
export function makeLogger(level: string, tag = "relay"): ConsolaInstance {
  return createConsola({ level: LEVELS[level] ?? 3, reporters: [lineReporter] }).withTag(tag);
}

export type { ConsolaInstance };
