/** What tells one state of a file from the next without reading it. */
export interface FileStamp {
  size: number;
  mtimeMs: number;
  ino: number;
}

/** A file whose last change is this recent when it changes again is being written... */
export const HOT_MS = 2000;
/** ...and is read once it has not changed for this long (writers pause between pieces)... */
export const QUIET_MS = 1000;
/** ...or after this long in any case, so a file written for hours still syncs now and then. */
export const MAX_HOLD_MS = 60_000;

interface Track {
  stamp: FileStamp;
  /** When the stamp was last seen to change. */
  changedAt: number;
  /** When the file was first found still being written (its hold began). */
  since: number;
  /** Read because its hold ran out: the bytes read are taken even if it changed meanwhile. */
  overdue?: boolean;
}

/**
 * Tells a file being written from a file written once, so that a program writing for
 * seconds or minutes does not make every look a new version (today: 9–19 part-written
 * versions at the final name on other replicas). A change seen for the first time in a while
 * is read at once (one save arrives as fast as before); a change of a file that changed
 * moments ago waits until the file has been quiet for QUIET_MS. Clock values are passed in.
 */
export class WriteSettle {
  private readonly tracks = new Map<string, Track>();

  /** Before reading a changed file: 0 = read it now, else how long to wait before looking again. */
  check(path: string, stamp: FileStamp, now: number): number {
    const t = this.tracks.get(path);
    if (!t || now - t.changedAt > HOT_MS) {
      this.tracks.set(path, { stamp, changedAt: now, since: Number.POSITIVE_INFINITY });
      return 0;
    }
    if (!sameStamp(t.stamp, stamp)) {
      t.stamp = stamp;
      t.changedAt = now;
      t.since = Math.min(t.since, now);
    }
    const quiet = now - t.changedAt;
    if (quiet >= QUIET_MS || now - t.since >= MAX_HOLD_MS) {
      t.overdue = quiet < QUIET_MS;
      t.since = Number.POSITIVE_INFINITY;
      return 0;
    }
    return QUIET_MS - quiet;
  }

  /**
   * The file changed while it was read (its bytes may be torn): it is being written, and waits
   * again (returns how long) — unless its hold had run out: a file written without a pause
   * (a log) is always changing, so the bytes read are taken (0), else it would never sync.
   */
  changedWhileRead(path: string, stamp: FileStamp, now: number): number {
    const t = this.tracks.get(path);
    if (t?.overdue) {
      this.tracks.set(path, { stamp, changedAt: now, since: now });
      return 0;
    }
    this.tracks.set(path, { stamp, changedAt: now, since: Math.min(t?.since ?? now, now) });
    return QUIET_MS;
  }

  /** Drops tracks of files that stopped changing long ago (bounded memory in big trees). */
  prune(now: number): void {
    for (const [p, t] of this.tracks) if (now - t.changedAt > HOT_MS && t.since === Number.POSITIVE_INFINITY) this.tracks.delete(p);
  }
}

export function sameStamp(a: FileStamp, b: FileStamp): boolean {
  return a.size === b.size && a.mtimeMs === b.mtimeMs && a.ino === b.ino;
}
