import { describe, expect, test } from "bun:test";
import { ERRORS, closeCodeOf, codeOfClose, isErrorCode } from "../../src/protocol/index.ts";

describe("error table", () => {
  test("every code is snake_case with a readable message", () => {
    for (const [code, entry] of Object.entries(ERRORS)) {
      expect(code).toMatch(/^[a-z]+(_[a-z]+)*$/);
      expect(entry.message.length).toBeGreaterThan(5);
    }
  });

  test("close codes are legal WebSocket close codes and name one error each", () => {
    const seen = new Map<number, string>();
    for (const [code, entry] of Object.entries(ERRORS)) {
      if (entry.close === null) continue;
      expect(entry.close === 1001 || entry.close === 1009 || entry.close === 1013 || (entry.close >= 4000 && entry.close <= 4999)).toBe(true);
      expect(seen.has(entry.close)).toBe(false);
      seen.set(entry.close, code);
    }
  });

  test("the codes the issue names exist, with the closes the protocol documents", () => {
    for (const code of ["bad_frame", "unknown_op", "bad_channel", "payload_too_large", "rate_limited", "too_many_subscriptions"]) {
      expect(isErrorCode(code)).toBe(true);
    }
    expect(closeCodeOf("bad_frame")).toBeNull();
    expect(closeCodeOf("payload_too_large")).toBe(1009);
    expect(closeCodeOf("slow_consumer")).toBe(4008);
    expect(closeCodeOf("too_many_connections")).toBe(1013);
    expect(codeOfClose(4008)).toBe("slow_consumer");
    expect(codeOfClose(1000)).toBeNull();
    expect(isErrorCode("toString")).toBe(false);
    expect(isErrorCode(42)).toBe(false);
  });
});
