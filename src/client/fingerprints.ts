import { normalMode } from "../core/entry.ts";
import type { LocalStat } from "../fsutil/scan.ts";
import { CTIME_UNKNOWN, type Fingerprint, sameStat } from "./local-index.ts";

/**
 * A synced file or folder whose stat matches its fingerprint holds what was synced there: a
 * pass would plan nothing for it. Not so for a file whose fingerprint lacks its ctime or its
 * attributes (both are taken on the next look), whose exec bit no longer matches the entry's,
 * nor for symlinks (their target is read at every look).
 */
export function unchangedSince(f: Fingerprint, st: LocalStat): boolean {
  if (f.kind !== st.kind || !sameStat(f.stat, st)) return false;
  if (st.kind === "dir") return true;
  return st.kind === "file" && !f.xattrsUnread && f.stat.ctimeMs !== CTIME_UNKNOWN && normalMode("file", st.mode) === normalMode("file", f.mode);
}
