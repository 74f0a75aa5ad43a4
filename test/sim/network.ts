/**
 * The simulated network's geometry: which region each node sits in and the RTT between any two
 * nodes. Inter-region RTTs are the measured Azure P50 matrix (region-rtt.json, a copy of
 * ../shared/data/region-rtt.json; source and CC BY 4.0 attribution are inside the file and in
 * README.md here). Nodes in the same region are 1-2 ms apart, fixed per pair.
 */

import matrix from "./region-rtt.json" with { type: "json" };
import { hashString } from "./random.ts";

/** A region of the matrix: its id (e.g. "westeurope") and continent, for reports. */
export interface Region {
  id: string;
  continent: string;
}

/** The 28 regions, in matrix order. */
export const REGIONS: readonly Region[] = matrix.regions.map((r) => ({ id: r.id, continent: r.continent }));

/** rtt[i][j] in ms between regions i and j (symmetric, zero diagonal). */
const RTT: readonly (readonly number[])[] = matrix.rtt;

/** Whether the matrix holds up: square, symmetric, one row per region. Checked once at load. */
function validate(): void {
  if (RTT.length !== REGIONS.length) throw new Error("region-rtt.json: rtt rows do not match regions");
  for (let i = 0; i < RTT.length; i++) {
    const row = RTT[i] as readonly number[];
    if (row.length !== REGIONS.length) throw new Error(`region-rtt.json: row ${i} has ${row.length} columns`);
    for (let j = 0; j < row.length; j++) {
      if (row[j] !== RTT[j]?.[i]) throw new Error(`region-rtt.json: rtt[${i}][${j}] is not symmetric`);
    }
  }
}
validate();

/** Inter-region RTT (ms); 0 on the diagonal (same-region pairs use intraRegionRtt). */
export function regionRtt(a: number, b: number): number {
  return RTT[a]?.[b] ?? 0;
}

/**
 * RTT between two nodes in the same region: 1 ms plus a per-pair fraction in [0, 1), from a hash of
 * the two names in a fixed order, so (a, b) and (b, a) agree and every run gives the same value.
 */
export function intraRegionRtt(nameA: string, nameB: string): number {
  const key = nameA < nameB ? `${nameA}|${nameB}` : `${nameB}|${nameA}`;
  return 1 + (hashString(key) % 1000) / 1000;
}

/** Where nodes go: round-robin over the regions (even spread), or uniformly at random. */
export type Placement = "round-robin" | "random";

/**
 * The region index of each of `count` nodes. Round-robin gives every region floor(count/28) or one
 * more node, which makes the figures comparable across seeds; random is the rougher case.
 */
export function placeNodes(count: number, placement: Placement, random: () => number): number[] {
  const out: number[] = [];
  for (let i = 0; i < count; i++) {
    out.push(placement === "round-robin" ? i % REGIONS.length : Math.floor(random() * REGIONS.length));
  }
  return out;
}
