import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { ChannelMap } from "../../src/node/channel-map.ts";

/** One operation on both maps; keys from a small alphabet so sets, overwrites and deletes collide. */
const op = fc.oneof(
  fc.record({ kind: fc.constant("set" as const), key: fc.integer({ min: 0, max: 40 }), value: fc.integer() }),
  fc.record({ kind: fc.constant("delete" as const), key: fc.integer({ min: 0, max: 40 }) }),
  fc.record({ kind: fc.constant("clear" as const) }),
);

describe("ChannelMap", () => {
  test("behaves as a Map through any sequence of operations, across the switch from flat array to Map", () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 200 }), (ops) => {
        const ours = new ChannelMap<number>();
        const model = new Map<string, number>();
        for (const o of ops) {
          if (o.kind === "set") {
            ours.set(`ch-${o.key}`, o.value);
            model.set(`ch-${o.key}`, o.value);
          } else if (o.kind === "delete") {
            expect(ours.delete(`ch-${o.key}`)).toBe(model.delete(`ch-${o.key}`));
          } else {
            ours.clear();
            model.clear();
          }
          expect(ours.size).toBe(model.size);
          expect([...ours]).toEqual([...model]);
          expect(ours.firstKey()).toBe(model.keys().next().value);
          for (let k = 0; k <= 40; k++) {
            expect(ours.get(`ch-${k}`)).toBe(model.get(`ch-${k}`));
            expect(ours.has(`ch-${k}`)).toBe(model.has(`ch-${k}`));
          }
        }
      }),
      { numRuns: 300 },
    );
  });
});
