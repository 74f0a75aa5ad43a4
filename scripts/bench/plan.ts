/**
 * What the bench runs: the four scenarios with their sizes and durations, and how often.
 * The full plan takes about three minutes on the 2-core VM; `--quick` is a short smoke run for
 * working on the bench itself (its figures are too short to trust, so it does not write the docs).
 */
import type { Scenario } from "./types.ts";

/**
 * Which core runs what: the VM has two, so the server gets one and the load generator the other,
 * and each figure says what one core of server does while the other core drives it.
 */
export const CORES = { server: 0, generator: 1 } as const;

export type ScenarioId = "fanout" | "channels" | "latency" | "memory";
export const SCENARIO_IDS: readonly ScenarioId[] = ["fanout", "channels", "latency", "memory"];

/** A scenario minus where the server is, which only the run knows. */
export type ScenarioSpec = Scenario extends infer S ? (S extends Scenario ? Omit<S, "port" | "serverPid"> : never) : never;

export interface PlannedScenario {
  id: ScenarioId;
  title: string;
  /** One-line description for the report. */
  what: string;
  spec: ScenarioSpec;
  /** Runs per system, alternating Relay and raw Bun (relay, raw, relay, raw, ...). */
  reps: number;
  /**
   * Whether a run that other processes disturbed is repeated. Not for memory: RSS does not depend
   * on a neighbour's CPU use, so a disturbed memory run is only flagged.
   */
  repeatWhenDisturbed: boolean;
}

export interface Plan {
  scenarios: PlannedScenario[];
  quick: boolean;
}

/** Builds the plan; `quick` shortens every run, `only` keeps a subset. */
export function makePlan(quick: boolean, only: ReadonlySet<ScenarioId> | null): Plan {
  // Every run starts a fresh server, whose JIT needs about a second of load before it is warm.
  const warmupMs = quick ? 500 : 1500;
  const durationMs = quick ? 1500 : 5000;
  const reps = quick ? 1 : 3;
  const all: PlannedScenario[] = [
    {
      id: "fanout",
      title: "Fan-out: 1 publisher, 100 subscribers, one channel",
      what: "64-byte payloads, closed loop with 64 publishes in flight",
      spec: { kind: "closed-loop", subscribers: 100, channels: 1, payloadBytes: 64, window: 64, warmupMs, durationMs },
      reps,
      repeatWhenDisturbed: true,
    },
    {
      id: "channels",
      title: "Many channels: 1,000 subscribers, each on its own channel",
      what: "64-byte payloads, publisher round-robin over the 1,000 channels, closed loop with 64 publishes in flight",
      spec: { kind: "closed-loop", subscribers: 1000, channels: 1000, payloadBytes: 64, window: 64, warmupMs, durationMs },
      reps,
      repeatWhenDisturbed: true,
    },
    {
      id: "latency",
      title: "Latency: 1,000 msg/s to 10 subscribers",
      what: "open loop, paced every millisecond; each payload (about 64 bytes) carries its send time",
      spec: { kind: "latency", subscribers: 10, ratePerSecond: 1000, payloadBytes: 64, warmupMs: quick ? 500 : 1000, durationMs },
      reps,
      repeatWhenDisturbed: true,
    },
    {
      id: "memory",
      title: "Memory: 5,000 idle connections",
      what: "each subscribed to one of 100 channels, opened 250 at a time, then left idle",
      spec: { kind: "idle-connections", connections: quick ? 1000 : 5000, channels: 100, batch: 250, settleMs: quick ? 500 : 1500, idleMs: quick ? 1000 : 2000 },
      reps: 1,
      repeatWhenDisturbed: false,
    },
  ];
  return { scenarios: all.filter((s) => !only || only.has(s.id)), quick };
}

/** How long a run of `spec` may take before it is considered hung (setup and drain included). */
export function runTimeoutMs(spec: ScenarioSpec): number {
  switch (spec.kind) {
    case "closed-loop":
    case "latency":
      return spec.warmupMs + spec.durationMs + 60_000;
    case "idle-connections":
      return spec.settleMs + 2 * spec.idleMs + 90_000;
  }
}
