import type { ConsolaInstance } from "consola/core";
import { AdminFailure, type AdminHandler } from "./admin.ts";
import type { MemberView } from "../mesh/index.ts";
import { LOG_LEVELS } from "./config.ts";

/** What one node answers about itself for `stats`. */
export interface NodeStats {
  connections: number;
  subscriptions: number;
  channels: number;
  peers: number;
  publishes: number;
  deliveries: number;
  /** Per second, over the last sampling interval. */
  publishRate: number;
  deliveryRate: number;
  rssBytes: number;
  heapUsedBytes: number;
  uptimeSeconds: number;
  version: string;
  draining: boolean;
}

/** What the node lends its admin handlers. */
export interface AdminNode {
  members(): MemberView[];
  links(): { peer: string; rtt: number | null; dialed: boolean }[];
  channels(): unknown[];
  stats(): NodeStats;
  /** Starts draining; returns how many clients were told to move, and where. */
  drain(): { clients: number; suggested: string[] };
  /** Disconnects a client by id; false when this node does not hold it. */
  kick(client: string): boolean;
  /** Closes a channel everywhere; false when the registry holds no such channel. */
  closeChannel(name: string): boolean;
  log: ConsolaInstance;
}

/**
 * The admin commands one node carries out on itself (src/node/admin.ts routes them here, from
 * this node or another). Arguments come from the wire: each handler checks its own.
 */
export function adminHandlers(node: AdminNode): Record<string, AdminHandler> {
  const text = (args: Record<string, unknown>, key: string): string => {
    const v = args[key];
    if (typeof v !== "string" || v.length === 0 || v.length > 255) throw new AdminFailure("bad_request", `"${key}" must be a non-empty string`);
    return v;
  };
  return {
    nodes: () => node.members(),
    topology: () => ({ links: node.links() }),
    channels: () => node.channels(),
    stats: () => node.stats(),
    drain: () => node.drain(),
    kick: (args) => {
      const client = text(args, "client");
      if (!node.kick(client)) throw new AdminFailure("unknown_client", `no client ${client} on this node`);
      return { kicked: client };
    },
    "close-channel": (args) => {
      const name = text(args, "name");
      if (!node.closeChannel(name)) throw new AdminFailure("unknown_channel", `no open channel ${name}`);
      return { closed: name };
    },
    loglevel: (args) => {
      const level = text(args, "level");
      if (!(level in LOG_LEVELS)) throw new AdminFailure("bad_request", `level must be one of ${Object.keys(LOG_LEVELS).join(", ")}`);
      node.log.level = LOG_LEVELS[level]!;
      node.log.info(`log level set to ${level} by an operator`);
      return { level };
    },
  };
}
