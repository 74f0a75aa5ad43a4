import { describe, expect, test } from "bun:test";
import { TurnBatches, type Batch } from "../../src/node/turn-batches.ts";
import { waitFor } from "../helpers/wait.ts";

interface Dest {
  name: string;
  pending: Batch<string> | null;
}
const dest = (name: string): Dest => ({ name, pending: null });

describe("TurnBatches", () => {
  test("sends each destination's frames of one turn together, in order, at the end of the turn", async () => {
    const sent: string[] = [];
    const tb = new TurnBatches<Dest, string>(1_000, (d, frames) => sent.push(`${d.name}:${frames.join(",")}`));
    const a = dest("a");
    const b = dest("b");
    tb.add(a, "1", 1);
    tb.add(b, "2", 1);
    tb.add(a, "3", 1);
    expect(sent).toEqual([]);
    await waitFor(() => sent.length === 2, "the end-of-turn flush", 2_000);
    expect(sent).toEqual(["a:1,3", "b:2"]);
    expect(a.pending).toBeNull();
  });

  test("a batch reaching maxBytes leaves at once, and later frames start a new one", async () => {
    const sent: string[] = [];
    const tb = new TurnBatches<Dest, string>(10, (d, frames) => sent.push(`${d.name}:${frames.join(",")}`));
    const a = dest("a");
    tb.add(a, "x", 6);
    tb.add(a, "y", 6);
    expect(sent).toEqual(["a:x,y"]);
    tb.add(a, "z", 1);
    await waitFor(() => sent.length === 2, "the end-of-turn flush", 2_000);
    expect(sent).toEqual(["a:x,y", "a:z"]);
  });

  test("flush(key) sends early; the key can batch again in the same turn and is sent once", async () => {
    const sent: string[] = [];
    const tb = new TurnBatches<Dest, string>(1_000, (d, frames) => sent.push(`${d.name}:${frames.join(",")}`));
    const a = dest("a");
    tb.add(a, "1", 1);
    tb.flush(a);
    tb.add(a, "2", 1);
    tb.flushAll();
    tb.flushAll();
    expect(sent).toEqual(["a:1", "a:2"]);
  });

  test("a frame added while batches are sent goes out in the next flush", async () => {
    const sent: string[] = [];
    const a = dest("a");
    const b = dest("b");
    const tb: TurnBatches<Dest, string> = new TurnBatches<Dest, string>(1_000, (d, frames) => {
      sent.push(`${d.name}:${frames.join(",")}`);
      if (d === a && frames[0] === "1") tb.add(b, "late", 1);
    });
    tb.add(a, "1", 1);
    tb.flushAll();
    expect(sent).toEqual(["a:1"]);
    await waitFor(() => sent.length === 2, "the end-of-turn flush", 2_000);
    expect(sent).toEqual(["a:1", "b:late"]);
  });
});
