/**
 * The progress line: before each run, how far the bench is, how long it has taken and about how long
 * is left (extrapolated from the runs so far, so it settles after the first few).
 */
export class Progress {
  private done = 0;
  private readonly started = performance.now();

  constructor(
    private readonly total: number,
    private readonly log: (line: string) => void,
  ) {}

  /** Announces the next run. */
  step(what: string): void {
    const elapsed = (performance.now() - this.started) / 1000;
    const left = this.done > 0 ? (elapsed / this.done) * (this.total - this.done) : NaN;
    this.done++;
    const pct = Math.round((100 * (this.done - 1)) / this.total);
    this.log(`[${this.done}/${this.total} ${pct}% · ${clock(elapsed)} elapsed${Number.isFinite(left) ? ` · ~${clock(left)} left` : ""}] ${what}`);
  }
}

function clock(seconds: number): string {
  const s = Math.round(seconds);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}
