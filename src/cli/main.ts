#!/usr/bin/env bun
/**
 * The `relay` executable. This is the only entry that reads process.argv; `serve` is the
 * default command, so `relay --seed host:port` runs a node.
 */
import { defineCommand, runMain } from "citty";
import { VERSION } from "../node/version.ts";
import { withDefaultCommand } from "./argv.ts";
import { admin } from "./admin-command.ts";
import { closest, pub, sub } from "./client-commands.ts";
import { serve } from "./serve.ts";

const subCommands = { serve, pub, sub, admin, closest };

const main = defineCommand({
  meta: { name: "relay", version: VERSION, description: "Relay: a self-organising mesh of WebSocket pub/sub nodes" },
  subCommands,
});

await runMain(main, { rawArgs: withDefaultCommand(process.argv.slice(2), Object.keys(subCommands)) });
