import type { Entry } from "../core/entry.ts";
import type { LocalStat } from "../fsutil/scan.ts";
import type { SyncContext } from "./context.ts";

/**
 * `entry` is now on disk, and `stat` is what its path holds: from here on `entry` is the merge
 * base there, and `stat` the fingerprint that says the path has not changed since. Every write
 * of a present entry to the index goes through here. Nothing is recorded when the path holds
 * nothing (undefined) or something of another kind: a fingerprint of a folder for a file would
 * never match again, and what the path holds is news for the next pass anyway.
 */
export function recordOnDisk(ctx: Pick<SyncContext, "index">, entry: Entry, stat: LocalStat | undefined): void {
  if (stat?.kind !== entry.kind) return;
  ctx.index.put(entry, stat);
}
