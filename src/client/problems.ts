import type { Emit } from "./events.ts";

/** The first retry of an entry that cannot be synced, doubled each time up to RETRY_MAX_MS. */
const RETRY_MIN_MS = 5000;
const RETRY_MAX_MS = 5 * 60_000;

interface Problem {
  reason: string;
  attempts: number;
}

/**
 * Entries that cannot be synced now, each with its reason. A problem is told once when it
 * appears (or its reason changes), not at every retry, and once when it clears.
 */
export class Problems {
  private readonly open = new Map<string, Problem>();

  constructor(private readonly emit: Emit) {}

  /** Records that `path` cannot be synced; returns how long to wait before trying again. */
  report(path: string, reason: string): number {
    const known = this.open.get(path);
    if (known?.reason === reason) {
      known.attempts++;
      return _retryIn(known.attempts);
    }
    this.open.set(path, { reason, attempts: 0 });
    this.emit({ type: "problem", path, reason, retryInMs: _retryIn(0) });
    return _retryIn(0);
  }

  /** `path` synced (or is gone): its problem, if any, is over. */
  clear(path: string, gone = false): void {
    if (this.open.delete(path)) this.emit({ type: "problem_cleared", path, gone });
  }

  paths(): IterableIterator<string> {
    return this.open.keys();
  }
}

function _retryIn(attempts: number): number {
  return Math.min(RETRY_MAX_MS, RETRY_MIN_MS * 2 ** attempts);
}
