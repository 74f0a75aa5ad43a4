import { describe, expect, test } from "bun:test";
import { fullBucket, take } from "../../src/node/ratelimit.ts";
import { backoffDelay } from "../../src/sdk/backoff.ts";

describe("token bucket", () => {
  test("allows the burst, then the rate", () => {
    const b = fullBucket(3, 0);
    expect([take(b, 10, 3, 0), take(b, 10, 3, 0), take(b, 10, 3, 0), take(b, 10, 3, 0)]).toEqual([true, true, true, false]);
    expect(take(b, 10, 3, 50)).toBe(false); // half a token after 50 ms at 10/s
    expect(take(b, 10, 3, 100)).toBe(true); // one token after 100 ms
    expect(take(b, 10, 3, 100)).toBe(false);
  });

  test("never holds more than the burst", () => {
    const b = fullBucket(2, 0);
    take(b, 1000, 2, 1_000_000);
    expect(b.tokens).toBeLessThanOrEqual(2);
  });

  test("a clock that goes backwards adds nothing", () => {
    const b = fullBucket(1, 100);
    expect(take(b, 10, 1, 100)).toBe(true);
    expect(take(b, 10, 1, 50)).toBe(false);
  });
});

describe("reconnect backoff", () => {
  const opts = { initialMs: 100, maxMs: 5000 };
  test("doubles from the initial delay up to the cap, with jitter in [cap/2, cap]", () => {
    expect(backoffDelay(0, opts, () => 0)).toBe(50);
    expect(backoffDelay(0, opts, () => 1)).toBe(100);
    expect(backoffDelay(3, opts, () => 1)).toBe(800);
    expect(backoffDelay(10, opts, () => 1)).toBe(5000);
    expect(backoffDelay(1000, opts, () => 0.5)).toBe(3750);
  });
});
