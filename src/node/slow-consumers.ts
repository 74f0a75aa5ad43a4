import type { ConsolaInstance } from "consola/core";
import { ERRORS } from "../protocol/index.ts";
import type { Metrics } from "./metrics.ts";
import type { ClientSocket } from "./session.ts";

/** How often send buffers are checked for slow consumers. */
export const SLOW_CONSUMER_SWEEP_MS = 100;
/** How long a cut slow consumer may take to read up to its close frame before the socket is dropped. */
export const SLOW_CONSUMER_GRACE_MS = 1000;

/**
 * Where Bun cuts a client by itself: far enough above --max-buffered that the sweep normally
 * cuts first (a client would have to fall 8 MiB further behind within one 100 ms sweep), and
 * still a hard bound on the memory one client can pin.
 */
export function backstopBytes(maxBuffered: number): number {
  return maxBuffered * 4 + 8 * 1024 * 1024;
}

/**
 * Slow consumers. A client's send buffer is filled by native fan-out, so JS cannot watch it grow
 * per message. Instead a sweep reads every buffer a few times a second (per client, never per
 * message) and cuts clients past --max-buffered with slow_consumer (4008), leaving everyone else
 * alone. Bun's own cut at backstopBytes() bounds memory between sweeps.
 */
export class SlowConsumerGuard {
  /** Deliveries counted at the last sweep: buffers only grow through deliveries, so an idle node skips the walk. */
  private deliveriesAtLastSweep = -1;

  constructor(
    private readonly sessions: ReadonlySet<ClientSocket>,
    private readonly maxBuffered: number,
    private readonly metrics: Metrics,
    private readonly log: ConsolaInstance,
  ) {}

  /** Checks every client's send buffer; returns how many it cut. */
  sweep(): number {
    if (this.metrics.deliveries === this.deliveriesAtLastSweep) return 0;
    this.deliveriesAtLastSweep = this.metrics.deliveries;
    let cuts = 0;
    for (const ws of this.sessions) {
      const backlog = ws.getBufferedAmount();
      ws.data.backlog = backlog;
      if (backlog <= this.maxBuffered || ws.data.closing !== null) continue;
      ws.data.closing = "slow_consumer";
      this.metrics.error("slow_consumer");
      this.log.warn(`client ${ws.data.id} (${ws.data.remote}) cut as a slow consumer: ${backlog} bytes unsent`);
      ws.close(ERRORS.slow_consumer.close, "slow_consumer");
      // The close frame waits behind the backlog, and a client that does not read never answers
      // it: give it a moment to read up and see 4008, then drop the socket and free its buffer.
      setTimeout(() => {
        if (this.sessions.has(ws)) ws.terminate();
      }, SLOW_CONSUMER_GRACE_MS).unref?.();
      cuts++;
    }
    return cuts;
  }

  /**
   * Accounts for a closed client. Past the backstop Bun cuts a socket by itself (1006, no reason);
   * if the last sweep saw that client well behind, the cut is counted as a slow consumer, since an
   * ordinary drop has little backlog.
   */
  onClose(ws: ClientSocket, code: number): void {
    if (ws.data.closing === null && code === 1006 && ws.data.backlog >= this.maxBuffered / 4) {
      ws.data.closing = "slow_consumer";
      this.metrics.error("slow_consumer");
    }
    if (ws.data.closing === "slow_consumer") this.metrics.slowConsumerCuts++;
  }
}
