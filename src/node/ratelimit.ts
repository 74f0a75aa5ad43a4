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
