import type { Log } from "../core/log.ts";

/** The first retry of an entry that cannot be synced, doubled each time up to RETRY_MAX_MS. */
const RETRY_MIN_MS = 5000;
const RETRY_MAX_MS = 5 * 60_000;

interface Problem {
  reason: string;
  attempts: number;
}

/**
 * Entries that cannot be synced now, each with its reason. A problem is logged once when it
 * appears (or its reason changes), not at every retry, and once when it clears; the list is
 * what `status` will show.
 */
export class Problems {
  private readonly open = new Map<string, Problem>();

  constructor(private readonly log: Log) {}

  /** Records that `path` cannot be synced; returns how long to wait before trying again. */
  report(path: string, reason: string): number {
    const known = this.open.get(path);
    if (known?.reason === reason) {
      known.attempts++;
    } else {
      this.open.set(path, { reason, attempts: 0 });
      this.log.warn(`Not syncing "${path}": ${reason}. Everything else keeps syncing.`);
    }
    return Math.min(RETRY_MAX_MS, RETRY_MIN_MS * 2 ** (this.open.get(path)!.attempts));
  }

  /** `path` synced (or is gone): its problem, if any, is over. */
  clear(path: string, gone = false): void {
    if (!this.open.delete(path)) return;
    if (!gone) this.log.info(`"${path}" syncs again`);
  }

  paths(): IterableIterator<string> {
    return this.open.keys();
  }

  get(path: string): string | undefined {
    return this.open.get(path)?.reason;
  }
}
