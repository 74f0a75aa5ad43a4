import { LOAD_MIN_INTERVAL_MS, LOAD_REFRESH_MS } from "./constants.ts";
import type { LoadRecord, NodeName } from "./types.ts";

/**
 * Every member's load as it last reported it: client connections and whether it is draining.
 * The directory (`GET /nodes`) and the SDK's choice of node read it; it is soft state, so it
 * floods only when it moved enough to matter, and refreshes now and then instead of being
 * repaired by digests.
 */
export class LoadTable {
  private readonly loads = new Map<NodeName, LoadRecord>();
  private seq = 0;
  private lastSent = -Infinity;
  private reported: { connections: number; draining: boolean } | null = null;

  constructor(
    private readonly self: NodeName,
    private readonly incarnation: () => number,
  ) {}

  /**
   * This node's load now; returns a record to flood when it changed enough (10%
   * of them, at least one, or draining flipped) and LOAD_MIN_INTERVAL_MS passed, or when LOAD_REFRESH_MS
   * passed anyway.
   */
  local(connections: number, draining: boolean, now: number): LoadRecord | null {
    const r = this.reported;
    const moved = r === null || r.draining !== draining || Math.abs(connections - r.connections) >= Math.max(1, 0.1 * r.connections);
    const due = (moved && (now - this.lastSent >= LOAD_MIN_INTERVAL_MS || r?.draining !== draining)) || now - this.lastSent >= LOAD_REFRESH_MS;
    if (!due) return null;
    this.lastSent = now;
    this.reported = { connections, draining };
    const record: LoadRecord = { origin: this.self, incarnation: this.incarnation(), seq: ++this.seq, connections, draining };
    this.loads.set(this.self, record);
    return record;
  }

  /** Stores a member's record if it is newer than the one held; true when it was (flood it on). */
  apply(record: LoadRecord): boolean {
    if (record.origin === this.self) return false;
    const held = this.loads.get(record.origin);
    if (held && (held.incarnation > record.incarnation || (held.incarnation === record.incarnation && held.seq >= record.seq))) return false;
    this.loads.set(record.origin, record);
    return true;
  }

  get(name: NodeName): LoadRecord | undefined {
    return this.loads.get(name);
  }

  all(): LoadRecord[] {
    return [...this.loads.values()];
  }

  forget(name: NodeName): void {
    this.loads.delete(name);
  }
}
