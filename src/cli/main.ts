#!/usr/bin/env bun
/**
 * The `relay` executable. This is the only entry that reads process.argv; `serve` is the
 * default command, so `relay --seed host:port` runs a node.
 */
import { defineCommand, runMain } from "citty";
import { VERSION } from "../node/metrics.ts";
import { pub, sub } from "./client-commands.ts";
import { serve } from "./serve.ts";

const subCommands = { serve, pub, sub };

const main = defineCommand({
  meta: { name: "relay", version: VERSION, description: "Relay: a self-organising mesh of WebSocket pub/sub nodes" },
  subCommands,
});

/** Puts `serve` in front when the first word is not a command, so flags alone start a node. */
export function withDefaultCommand(argv: string[]): string[] {
  const first = argv[0];
  if (first === undefined) return ["serve"];
  if (first in subCommands) return argv;
  if (argv.length === 1 && ["--version", "-v", "--help", "-h"].includes(first)) return argv;
  return ["serve", ...argv];
}

await runMain(main, { rawArgs: withDefaultCommand(process.argv.slice(2)) });
