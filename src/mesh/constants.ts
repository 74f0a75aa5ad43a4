/**
 * Every timing and size constant of the mesh, in one place, each with its reason.
 * Sources: SWIM (Das et al. 2002), Lifeguard (Dadgar et al. 2018) and hashicorp/memberlist's
 * DefaultLANConfig / DefaultWANConfig for the failure detector; OSPF for link-state flooding.
 */

/** The shell calls tick this often. Short enough for 1 s pings and 100 ms gossip batching. */
export const TICK_MS = 100;

/** Each link is pinged this often; the pong measures its RTT (ARCHITECTURE.md section 4: ~1 s). */
export const PING_INTERVAL_MS = 1000;

/** A link silent this long is dead (three missed pings). A closed socket is dead at once. */
export const LINK_DEAD_MS = 3000;

/**
 * A link the overlay drops leaves this node's LSA at once but stays open this long, so every node
 * has recomputed its trees without it before it closes: messages in flight are not lost to a swap.
 */
export const LINK_DRAIN_MS = 2000;

/** Weight of a new RTT sample in the link's moving average: smooths jitter, follows shifts in ~5 samples. */
export const RTT_EWMA = 0.3;

/** An LSA re-floods only when a link's RTT moved more than this fraction, so jitter causes no gossip storms. */
export const RTT_REPORT_CHANGE = 0.2;
/** ... and by at least this many ms, so sub-millisecond loopback noise is never reported. */
export const RTT_REPORT_MIN_MS = 2;

/** Local interest changes wait this long to be sent together (ARCHITECTURE.md: batched). */
export const GOSSIP_BATCH_MS = 100;

/** Push-pull digest with one random neighbour this often repairs anything a flood missed (~30 s). */
export const PUSH_PULL_MS = 30_000;
/** ... but sooner right after a link comes up, so a joining node learns the network at once. */
export const PUSH_PULL_ON_JOIN = true;

/**
 * Suspicion timeout: memberlist's formula, SUSPICION_MULT * max(1, log10(N)) * PING_INTERVAL_MS,
 * so larger meshes (slower to spread a refutation) wait longer before declaring death.
 */
export const SUSPICION_MULT = 4;
export function suspicionTimeoutMs(members: number): number {
  return SUSPICION_MULT * Math.max(1, Math.log10(Math.max(members, 1))) * PING_INTERVAL_MS;
}

/** The failure detector looks at every member this often: well inside LINK_DEAD_MS, and cheap at 1,000 members. */
export const DETECT_EVERY_MS = 500;

/** Dead and left members are forgotten after this long (memberlist GossipToTheDeadTime is 30 s; we keep them longer for /nodes). */
export const FORGET_DEAD_MS = 10 * 60_000;

/** Overlay: at most --max-peers links; aim for this many (8 -> 6), keeping room for inbound links. */
export function targetLinks(maxPeers: number): number {
  return Math.max(Math.min(3, maxPeers), maxPeers - 2);
}
/**
 * A node takes a newcomer (a member with no other link yet) above --max-peers, to be trimmed once
 * it has other links, but only this many above: past that it points the newcomer at members with
 * room instead (REDIRECT_SAMPLE of them) and closes. Without the cap a seed holds every node of a
 * mass join at once (~1,000 links at 1,000 nodes) and its LSA floods each time it trims one.
 */
export function newcomerCap(maxPeers: number): number {
  return 2 * maxPeers;
}
/** Members named to a newcomer turned away at the cap: enough that a few dials find one with room. */
export const REDIRECT_SAMPLE = 16;
/** Never fewer than this many links where that many members exist (ARCHITECTURE.md). */
export const MIN_LINKS = 3;
/** Random long links kept beside the nearest ones, so the overlay stays an expander, not a chain of cliques. */
export const RANDOM_LINKS = 2;
/**
 * Swap a link for a candidate only if what the candidate would save, discounted by this factor
 * (half), still beats what the link saves: strong hysteresis, so swaps are rare and the overlay settles.
 */
export const SWAP_GAIN = 0.5;
/** ... and by at least this many ms: on one machine or one LAN, RTT noise is never a reason to swap. */
export const SWAP_MIN_GAIN_MS = 5;
/** At most one swap this often: each changes the graph, and the next choice should see the result. */
export const SWAP_EVERY_MS = 10_000;
/**
 * Swaps a node may make after it joins or loses a link, then none until the next loss: greedy
 * local improvements can chase each other around a mesh, and a fixed budget makes it settle.
 */
export const SWAPS_PER_REPAIR = 3;

/** How often a node calls on one member it thinks dead: how partitions heal (memberlist's gossip to the dead). */
export const CALL_THE_DEAD_MS = 10_000;
/**
 * ... and once none is left (a partition longer than FORGET_DEAD_MS makes each side forget the
 * other), this often on the address of one it forgot: without it such a partition never heals.
 * Rarer than calls on the dead: a member gone for good is called for as long as this node runs.
 */
export const CALL_THE_FORGOTTEN_MS = 60_000;
/** Addresses of forgotten members kept for those calls: a bounded sample (one reached is enough to merge). */
export const FORGOTTEN_KEPT = 16;
/** Overlay upkeep (connect, trim, swap) runs this often; slower than ticks so links settle between changes. */
export const OVERLAY_EVERY_MS = 1000;
/** At most this many RTT probes in flight: bounded work while learning a large mesh. */
export const MAX_PROBES_IN_FLIGHT = 8;
/** A probe result is trusted this long before the member is probed again. */
export const PROBE_TTL_MS = 5 * 60_000;

/** Redial backoff: 500 ms doubling to 30 s, with jitter in [0.5, 1] of that, per address. */
export const DIAL_BACKOFF_MIN_MS = 500;
export const DIAL_BACKOFF_MAX_MS = 30_000;
/** A dial with no link after this long counts as failed (the shell normally says so sooner). */
export const DIAL_TIMEOUT_MS = 5000;

/** Data frames travel at most this many hops: stops loops while routes converge (diameter is far lower). */
export const HOP_LIMIT = 32;
/** Per-origin dedup window: sequence numbers this far behind the highest seen count as duplicates. */
export const DEDUP_WINDOW = 4096;

// ---- channel registry (channels.ts; ARCHITECTURE.md section 5) ----

/** An open gets no answer from the name's owner within this long: the client is told channel_unavailable. */
export const OPEN_TIMEOUT_MS = 5000;
/**
 * An open unanswered this long is sent again, to the owner as the member table now names it: an
 * owner that died or was not ready is replaced by the next one without waiting for the timeout.
 */
export const OPEN_RETRY_MS = 500;
/** A strict open without acknowledgements from a majority after this long fails with channel_unavailable. */
export const VOTE_TIMEOUT_MS = 3000;
/**
 * A channel with no subscriber on any node for this long is closed by its owner. Long enough
 * that a client reconnecting after a blip finds its channel (and its password) where it was.
 */
export const CHANNEL_IDLE_MS = 60_000;
/** The owner looks for idle channels this often; closing a channel a second late costs nothing. */
export const CHANNEL_SWEEP_MS = 1000;
/**
 * A closed instance is remembered this long, so a stale copy of its record arriving late cannot
 * bring it back. Far longer than a flood takes to cross the mesh.
 */
export const TOMBSTONE_MS = 10 * 60_000;
/**
 * A node started with seeds binds no channel on its own for this long unless it joins first:
 * alone, it would bind names that already exist in the mesh it is about to join. Past this, a
 * node whose seeds are all down serves its own clients rather than refusing them.
 */
export const JOIN_GRACE_MS = 10_000;
/** Registry anti-entropy with one random neighbour this often (plus at once after a membership change). */
export const REGSYNC_EVERY_MS = 10_000;
/** Owners and requesters consider at most this many channel records per gossip frame. */
export const CHANNEL_CHUNK = 256;

// ---- load (load.ts): what the directory and the SDK's choice of node read ----

/** A node's load floods at most this often while it changes (a burst of connects is one update). */
export const LOAD_MIN_INTERVAL_MS = 1000;
/** ... and at least this often when it does not, so a node that joined late learns it. */
export const LOAD_REFRESH_MS = 15_000;
