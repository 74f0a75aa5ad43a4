import type { ErrorCode } from "../protocol/index.ts";
import type { Config } from "./config.ts";
import { VERSION } from "./version.ts";

/** Gauges read from the node's live state at scrape time. */
export interface LiveCounts {
  connections: number;
  subscriptions: number;
  channels: number;
  uptimeSeconds: number;
}

/** Process memory, read through NodeDeps so this module stays free of process globals. */
export interface MemoryUsage {
  rss: number;
  heapUsed: number;
}

/** What /metrics reads from the channel registry (every node has one, with or without peers). */
export interface RegistryView {
  live: number;
  protectedLive: number;
  synced: boolean;
  stats: { opens: number; bound: number; conflicts: number; closed: number; unavailable: number };
}

/** What /metrics reads from the mesh. */
export interface MeshView {
  peers: number;
  memberStates: string[];
  stats: { routed: number; delivered: number; duplicates: number; dropped: number; fallbacks: number; membershipChanges: number; lateDropped: number };
}

/**
 * The node's counters and gauges, rendered as Prometheus text at GET /metrics.
 * Counters only ever grow; gauges are read from live state at scrape time, so they can't drift.
 */
export class Metrics {
  /** Client frames received, and their bytes. */
  messagesIn = 0;
  bytesIn = 0;
  /** Publishes accepted (after validation and rate limiting). */
  publishes = 0;
  /** Frames delivered to subscribers (one per subscriber per message), and their bytes. */
  deliveries = 0;
  bytesOut = 0;
  /** Connections accepted since start. */
  connectionsTotal = 0;
  /** Clients cut because their send buffer passed --max-buffered. */
  slowConsumerCuts = 0;
  /** Admin commands this node carried out or sent (by command), and commands it refused (by reason). */
  readonly admin = { commands: new Map<string, number>(), refused: new Map<string, number>() };
  /** Admin HTTP requests refused for a missing or wrong token. */
  adminUnauthorized = 0;
  /** Error frames and error closes, by code. */
  readonly errors = new Map<ErrorCode, number>();
  /** Peer handshakes refused (by us or by the peer), by refusal code. */
  readonly peerRefusals = new Map<string, number>();
  /** Peer frames that failed to decode or came out of place (logged and dropped). */
  peerBadFrames = 0;
  /** Bytes of data frames and of everything else (gossip, digests, pings) on peer links. */
  readonly peerDataBytes = { in: 0, out: 0 };
  readonly peerGossipBytes = { in: 0, out: 0 };

  /** Counts one error of `code`. */
  error(code: ErrorCode): void {
    this.errors.set(code, (this.errors.get(code) ?? 0) + 1);
  }

  /** Prometheus text exposition format 0.0.4. */
  render(live: LiveCounts, config: Config, name: string, mem: MemoryUsage, mesh: MeshView | null, registry: RegistryView): string {
    const lines: string[] = [];
    const metric = (n: string, type: "counter" | "gauge", help: string, samples: [string, number][]) => {
      lines.push(`# HELP ${n} ${help}`, `# TYPE ${n} ${type}`);
      for (const [labels, value] of samples) lines.push(`${n}${labels} ${value}`);
    };
    metric("relay_info", "gauge", "Static information about this node.", [[`{node="${name}",version="${VERSION}"}`, 1]]);
    metric("relay_uptime_seconds", "gauge", "Seconds since the node started.", [["", Math.round(live.uptimeSeconds)]]);
    metric("relay_connections", "gauge", "Client connections open now.", [["", live.connections]]);
    metric("relay_connections_total", "counter", "Client connections accepted since start.", [["", this.connectionsTotal]]);
    metric("relay_subscriptions", "gauge", "Subscriptions held by clients of this node.", [["", live.subscriptions]]);
    metric("relay_channels", "gauge", "Channels with at least one subscriber on this node.", [["", live.channels]]);
    metric("relay_messages_in_total", "counter", "Frames received from clients.", [["", this.messagesIn]]);
    metric("relay_bytes_in_total", "counter", "Bytes of frames received from clients.", [["", this.bytesIn]]);
    metric("relay_publishes_total", "counter", "Publishes accepted from clients.", [["", this.publishes]]);
    metric("relay_messages_out_total", "counter", "Messages delivered to subscribers (one per subscriber).", [["", this.deliveries]]);
    metric("relay_bytes_out_total", "counter", "Bytes of messages delivered to subscribers.", [["", this.bytesOut]]);
    metric("relay_errors_total", "counter", "Errors sent to clients, by code.", [...this.errors].map(([code, n]) => [`{code="${code}"}`, n] as [string, number]));
    metric("relay_slow_consumer_cuts_total", "counter", "Clients cut for not reading fast enough.", [["", this.slowConsumerCuts]]);
    metric("relay_registry_channels", "gauge", "Live channels in the replicated registry, by protection.", [
      ['{protected="true"}', registry.protectedLive],
      ['{protected="false"}', registry.live - registry.protectedLive],
    ]);
    metric("relay_registry_synced", "gauge", "1 when this node synced the registry since the membership last changed (it may then bind names).", [["", registry.synced ? 1 : 0]]);
    metric("relay_channel_opens_total", "counter", "Opens of names this node's registry lacked, sent to the name's owner.", [["", registry.stats.opens]]);
    metric("relay_channel_binds_total", "counter", "Channels this node bound as a name's owner.", [["", registry.stats.bound]]);
    metric("relay_channel_conflicts_total", "counter", "Channel instances replaced here by the winner of a conflict (after a partition).", [["", registry.stats.conflicts]]);
    metric("relay_channel_closed_total", "counter", "Channel instances closed for lack of subscribers.", [["", registry.stats.closed]]);
    metric("relay_channel_unavailable_total", "counter", "Opens that failed with channel_unavailable (no owner answer, or no strict majority).", [["", registry.stats.unavailable]]);
    metric("relay_admin_commands_total", "counter", "Admin commands run on or sent from this node, by command.", [...this.admin.commands].map(([c, n]) => [`{command="${c}"}`, n] as [string, number]));
    metric("relay_admin_refused_total", "counter", "Admin commands from other nodes refused (bad signature, expired, replayed), by reason.", [...this.admin.refused].map(([c, n]) => [`{reason="${c}"}`, n] as [string, number]));
    metric("relay_admin_unauthorized_total", "counter", "Admin HTTP requests refused for a missing or wrong token.", [["", this.adminUnauthorized]]);
    metric("relay_limit", "gauge", "Configured limits.", [
      ['{limit="max_payload_bytes"}', config.maxPayload],
      ['{limit="max_subscriptions"}', config.maxSubscriptions],
      ['{limit="max_connections"}', config.maxConnections],
      ['{limit="publish_rate"}', config.publishRate],
      ['{limit="publish_burst"}', config.publishBurst],
      ['{limit="max_buffered_bytes"}', config.maxBuffered],
    ]);
    if (mesh) {
      const stats = mesh.stats;
      const byState = new Map<string, number>([["alive", 0], ["suspect", 0], ["dead", 0], ["left", 0]]);
      for (const state of mesh.memberStates) byState.set(state, (byState.get(state) ?? 0) + 1);
      metric("relay_peers", "gauge", "Peer links that passed the handshake.", [["", mesh.peers]]);
      metric("relay_mesh_members", "gauge", "Members of the mesh as this node sees them, by state.", [...byState].map(([s, n]) => [`{state="${s}"}`, n] as [string, number]));
      metric("relay_mesh_membership_changes_total", "counter", "Member state changes applied (joins, suspicions, deaths, leaves, refutations).", [["", stats.membershipChanges]]);
      metric("relay_mesh_routed_total", "counter", "Data frames sent to peers (originated or relayed).", [["", stats.routed]]);
      metric("relay_mesh_delivered_total", "counter", "Messages from other nodes handed to local subscribers.", [["", stats.delivered]]);
      metric("relay_mesh_duplicates_total", "counter", "Data frames dropped as already seen.", [["", stats.duplicates]]);
      metric("relay_mesh_dropped_total", "counter", "Data frames dropped (hop limit, or no link to a tree child).", [["", stats.dropped]]);
      metric("relay_mesh_late_dropped_total", "counter", "Messages not delivered here because a later one from the same origin already was (route changes keep order by dropping).", [["", stats.lateDropped]]);
      metric("relay_mesh_fallback_floods_total", "counter", "Data frames flooded because the origin's links were not yet known.", [["", stats.fallbacks]]);
      metric("relay_peer_bytes_total", "counter", "Bytes on peer links, by kind (data or gossip) and direction.", [
        ['{kind="data",direction="in"}', this.peerDataBytes.in],
        ['{kind="data",direction="out"}', this.peerDataBytes.out],
        ['{kind="gossip",direction="in"}', this.peerGossipBytes.in],
        ['{kind="gossip",direction="out"}', this.peerGossipBytes.out],
      ]);
      metric("relay_peer_refusals_total", "counter", "Peer handshakes refused, by code.", [...this.peerRefusals].map(([code, n]) => [`{code="${code}"}`, n] as [string, number]));
      metric("relay_peer_bad_frames_total", "counter", "Peer frames that failed to decode (logged and dropped).", [["", this.peerBadFrames]]);
    }
    metric("relay_process_resident_memory_bytes", "gauge", "Resident set size of the node process.", [["", mem.rss]]);
    metric("relay_process_heap_used_bytes", "gauge", "JavaScript heap in use.", [["", mem.heapUsed]]);
    return lines.join("\n") + "\n";
  }
}
