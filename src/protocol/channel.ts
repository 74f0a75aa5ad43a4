/**
 * Channel names: 1 to 255 bytes of ASCII letters, digits and `_ - . : / @ = + ~`.
 *
 * Why this set: it is safe in URLs, logs, Prometheus labels and shell arguments without
 * quoting, and it leaves `*`, `>`, `#` free for wildcards and `$` free for system channels
 * later, so adding them never changes the meaning of a name that is valid today.
 * Names are case-sensitive. Because the set is ASCII, length in bytes equals length in characters.
 */
export const MAX_CHANNEL_LENGTH = 255;

const CHANNEL_RE = /^[A-Za-z0-9_\-.:/@=+~]{1,255}$/;

/** Why a name was refused; the text goes into the `bad_channel` error message. */
export type ChannelProblem = "empty" | "too_long" | "bad_character" | "not_a_string";

/** Checks a channel name against the grammar; null when it is valid. */
export function channelProblem(name: unknown): ChannelProblem | null {
  if (typeof name !== "string") return "not_a_string";
  if (CHANNEL_RE.test(name)) return null;
  if (name.length === 0) return "empty";
  if (name.length > MAX_CHANNEL_LENGTH) return "too_long";
  return "bad_character";
}

/** True when `name` is a valid channel name. */
export function isChannelName(name: unknown): name is string {
  return channelProblem(name) === null;
}

/** A readable sentence for a refused name, without echoing a possibly huge name back. */
export function describeChannelProblem(problem: ChannelProblem): string {
  switch (problem) {
    case "empty":
      return "the channel name is empty";
    case "too_long":
      return `the channel name is longer than ${MAX_CHANNEL_LENGTH} bytes`;
    case "bad_character":
      return "the channel name may hold only A-Z a-z 0-9 and _ - . : / @ = + ~";
    case "not_a_string":
      return "the channel name must be a string";
  }
}
