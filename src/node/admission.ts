import type { ChannelRecord } from "../mesh/index.ts";
import type { ErrorCode } from "../protocol/index.ts";
import { ChannelMap } from "./channel-map.ts";
import type { Admitted, ClientSocket } from "./session.ts";

/** The outcome of admitting a client to a channel: the instance it may use, or the refusal. */
export type Admission = { ok: true; admitted: Admitted } | { ok: false; code: ErrorCode; message: string };

/**
 * argon2id cost for channel verifiers: OWASP's recommended minimum for argon2id (19 MiB of memory,
 * 2 passes). Enough to make a stolen verifier expensive to attack, cheap enough for a small server
 * to check a burst of joins; Bun's default (64 MiB) would let 20 concurrent joins take 1.3 GB.
 */
const ARGON2 = { algorithm: "argon2id", memoryCost: 19_456, timeCost: 2 } as const;
/**
 * Channels one connection stays admitted to at once. Subscriptions are capped by
 * --max-subscriptions, but a client may publish to any number of channels; past this the oldest
 * admission is forgotten (the client passes the check again if it comes back to that channel).
 */
const MAX_ADMITTED = 1024;
/** At most this many argon2 runs at once; more wait their turn, so a join storm cannot exhaust memory. */
const ARGON2_PARALLEL = 4;

/** What admission needs from the node: the registry's view and a way to open a channel. */
export interface AdmissionDeps {
  /** The live record of a channel in the replicated registry. */
  channel(name: string): ChannelRecord | undefined;
  /** Asks the name's owner to bind it (or to say who holds it); rejects with a readable message on channel_unavailable. */
  open(channel: string, verifier: string | null, strict: boolean): Promise<ChannelRecord>;
  /** --strict-channels: protected opens need a majority of the mesh. */
  strict: boolean;
  /** True when the registry holds --max-channels live channels: no new one may be opened. */
  full: () => boolean;
  maxChannels: number;
}

/**
 * Channel admission: a client may use a channel instance once it passed the channel's password
 * (or the channel has none). The check runs once per connection and channel, argon2 included;
 * after that, publishing costs two map lookups (`fast`). Opens of unknown names go through the
 * mesh's confirmed open; the verifier is made here, and the password goes no further.
 */
export class ChannelAdmission {
  private running = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly deps: AdmissionDeps) {}

  /** The admission this client holds on `channel`, if its instance still holds the name; else null. The hot path. */
  fast(ws: ClientSocket, channel: string): Admitted | null {
    const admitted = ws.data.admitted?.get(channel);
    if (admitted === undefined) return null;
    return this.deps.channel(channel)?.instance === admitted.instance ? admitted : null;
  }

  /**
   * Admits a client to a channel. Checks of one connection and channel run one after another, in
   * the order the frames came, so a publish never overtakes the one before it.
   */
  admit(ws: ClientSocket, channel: string, password: string | undefined): Promise<Admission> {
    const s = ws.data;
    const stale = s.admitted?.get(channel);
    if (stale !== undefined && this.fast(ws, channel) === null) {
      // The instance it was admitted to is gone (lost a conflict, or closed). Without a password
      // it cannot be let into whatever holds the name now.
      s.admitted!.delete(channel);
      if (password === undefined) return Promise.resolve({ ok: false, code: "channel_conflict", message: `channel ${channel} was replaced since this connection joined it; join it again with its password` });
    }
    const admitting = (s.admitting ??= new Map());
    const previous = admitting.get(channel);
    const next = (previous ?? Promise.resolve(null)).then(() => this.check(ws, channel, password));
    admitting.set(channel, next);
    void next.finally(() => {
      if (admitting.get(channel) === next) admitting.delete(channel);
      if (admitting.size === 0 && s.admitting === admitting) s.admitting = null;
    });
    return next;
  }

  private async check(ws: ClientSocket, channel: string, password: string | undefined): Promise<Admission> {
    // A record can be replaced while argon2 runs (a partition healing): check again, a few times.
    for (let attempt = 0; attempt < 3; attempt++) {
      const ready = this.fast(ws, channel);
      if (ready !== null) return { ok: true, admitted: ready };
      let record = this.deps.channel(channel);
      let ours: string | null = null;
      if (!record) {
        if (this.deps.full()) return { ok: false, code: "too_many_channels", message: `the mesh holds its limit of ${this.deps.maxChannels} channels (--max-channels); ${channel} cannot be opened` };
        if (password !== undefined) ours = await this.argon2(() => Bun.password.hash(password, ARGON2));
        try {
          record = await this.deps.open(channel, ours, this.deps.strict && ours !== null);
        } catch (err) {
          return { ok: false, code: "channel_unavailable", message: err instanceof Error ? err.message : String(err) };
        }
      }
      const verdict = await this.verify(record, password, ours);
      if (!verdict.ok) return verdict;
      if (this.deps.channel(channel)?.instance !== record.instance) continue;
      const all = (ws.data.admitted ??= new ChannelMap());
      if (all.size >= MAX_ADMITTED) all.delete(all.firstKey()!);
      const admitted: Admitted = { instance: record.instance, n: 0 };
      all.set(channel, admitted);
      return { ok: true, admitted };
    }
    return { ok: false, code: "channel_unavailable", message: `channel ${channel} kept changing while this node checked it; try again` };
  }

  private async verify(record: ChannelRecord, password: string | undefined, ours: string | null): Promise<{ ok: true } | Extract<Admission, { ok: false }>> {
    const ok = { ok: true as const };
    if (record.verifier === null) {
      // A password for an open channel is refused rather than ignored: whoever sent it believes
      // the channel is private, and must not publish into a public one by mistake.
      return password === undefined ? ok : { ok: false, code: "wrong_password", message: `channel ${record.name} has no password; join it without one` };
    }
    if (password === undefined) return { ok: false, code: "wrong_password", message: `channel ${record.name} is protected: send its password` };
    // The verifier this node just made from this password bound the channel: no second argon2 run.
    if (ours !== null && ours === record.verifier) return ok;
    const verifier = record.verifier;
    let good: boolean;
    try {
      good = await this.argon2(() => Bun.password.verify(password, verifier, "argon2id"));
    } catch {
      // The codec admits only argon2id PHC strings, but a malformed one must not pass or crash.
      return { ok: false, code: "channel_unavailable", message: `channel ${record.name} has an unreadable verifier` };
    }
    return good ? ok : { ok: false, code: "wrong_password", message: `wrong password for channel ${record.name}` };
  }

  /** Runs one argon2 operation when a slot is free. */
  private async argon2<T>(run: () => Promise<T>): Promise<T> {
    if (this.running >= ARGON2_PARALLEL) await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.running++;
    try {
      return await run();
    } finally {
      this.running--;
      this.waiting.shift()?.();
    }
  }
}
