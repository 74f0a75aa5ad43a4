import { describe, expect, test } from "bun:test";
import { channelProblem, describeChannelProblem, isChannelName, MAX_CHANNEL_LENGTH } from "../../src/protocol/index.ts";

describe("channel grammar", () => {
  test.each(["a", "chat", "room/42", "user:alice@example.com", "a.b-c_d=e+f~g", "0", "x".repeat(MAX_CHANNEL_LENGTH)])("accepts %p", (name) => {
    expect(channelProblem(name)).toBeNull();
    expect(isChannelName(name)).toBe(true);
  });

  test.each([
    ["", "empty"],
    ["x".repeat(256), "too_long"],
    ["has space", "bad_character"],
    ["wild*", "bad_character"],
    ["wild>", "bad_character"],
    ["hash#", "bad_character"],
    ["$sys", "bad_character"],
    ["quote\"", "bad_character"],
    ["back\\slash", "bad_character"],
    ["café", "bad_character"],
    ["new\nline", "bad_character"],
  ])("refuses %p as %s", (name, problem) => {
    expect(channelProblem(name)).toBe(problem as ReturnType<typeof channelProblem>);
    expect(isChannelName(name)).toBe(false);
  });

  test.each([[42], [null], [undefined], [{}], [["a"]]])("refuses non-string %p", (name) => {
    expect(channelProblem(name)).toBe("not_a_string");
  });

  test("every problem has a sentence that does not echo the name", () => {
    for (const p of ["empty", "too_long", "bad_character", "not_a_string"] as const) {
      expect(describeChannelProblem(p)).toMatch(/^the channel name/);
    }
  });
});
