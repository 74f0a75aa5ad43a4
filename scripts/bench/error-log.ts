/** Errors the servers reported during a run: any at all makes a figure suspect, so they are counted and the first is kept. */
import type { ErrorTally } from "./types.ts";

export class ErrorLog implements ErrorTally {
  count = 0;
  /** The first error's text, to tell why. */
  first: string | null = null;

  note(text: string): void {
    this.count++;
    this.first ??= text;
  }

  toJSON(): ErrorTally {
    return { count: this.count, first: this.first };
  }
}
