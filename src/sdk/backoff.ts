/** Reconnect delays: exponential with full jitter, so a node restart is not met by a thundering herd. */
export interface BackoffOptions {
  /** First delay in ms. */
  initialMs: number;
  /** Largest delay in ms. */
  maxMs: number;
}

/** 100 ms doubling to 5 s: quick after a blip, gentle on a node that is down for longer. */
export const DEFAULT_BACKOFF: BackoffOptions = { initialMs: 100, maxMs: 5000 };

/** Delay before reconnect attempt `attempt` (0-based): uniform in [cap/2, cap]. */
export function backoffDelay(attempt: number, opts: BackoffOptions, random: () => number = Math.random): number {
  const cap = Math.min(opts.maxMs, opts.initialMs * 2 ** Math.min(attempt, 30));
  return cap / 2 + random() * (cap / 2);
}
