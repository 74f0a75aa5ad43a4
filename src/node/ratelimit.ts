/**
 * A token bucket per connection: `rate` tokens a second, up to `burst`. One publish costs one token.
 * State is two numbers on the session, refilled lazily on use, so idle connections cost no timers.
 */
export interface Bucket {
  tokens: number;
  /** Clock reading (ms) of the last refill. */
  at: number;
}

/** A full bucket, as a new connection gets. */
export function fullBucket(burst: number, now: number): Bucket {
  return { tokens: burst, at: now };
}

/** Takes one token if there is one; false means the caller is over its rate. */
export function take(bucket: Bucket, rate: number, burst: number, now: number): boolean {
  const elapsed = now - bucket.at;
  if (elapsed > 0) {
    bucket.tokens = Math.min(burst, bucket.tokens + (elapsed * rate) / 1000);
    bucket.at = now;
  }
  if (bucket.tokens < 1) return false;
  bucket.tokens -= 1;
  return true;
}

/** Addresses tracked at once by an AddressThrottle; past this the oldest is forgotten (it gets a full bucket again). */
const MAX_TRACKED_ADDRESSES = 100_000;

/**
 * A token bucket per remote address, for WebSocket connects: a client (or a peer) that
 * reconnects in a tight loop is refused with 429 instead of costing a handshake each time.
 * Memory is bounded by MAX_TRACKED_ADDRESSES. A rate of 0 turns it off.
 */
export class AddressThrottle {
  private readonly buckets = new Map<string, Bucket>();

  constructor(
    private readonly rate: number,
    private readonly burst: number,
  ) {}

  /** Counts one connect from `address`; false when it is over its rate. */
  allow(address: string, now: number): boolean {
    if (this.rate <= 0) return true;
    let bucket = this.buckets.get(address);
    if (!bucket) {
      if (this.buckets.size >= MAX_TRACKED_ADDRESSES) this.buckets.delete(this.buckets.keys().next().value!);
      bucket = fullBucket(this.burst, now);
      this.buckets.set(address, bucket);
    }
    return take(bucket, this.rate, this.burst, now);
  }
}
