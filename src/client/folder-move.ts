import type { Entry } from "../core/entry.ts";
import { isInside } from "../core/wire-path.ts";
import { sameXattrs } from "../core/xattrs.ts";
import type { Action } from "../core/reconcile.ts";
import { renameNoReplace } from "../fsutil/rename-no-replace.ts";
import { ensureParents, realFoldersAbove, resolveInside } from "../fsutil/safe-resolve.ts";
import { statLocal } from "../fsutil/scan.ts";
import { type Moved, recordMoved } from "./apply-remote.ts";
import type { SyncContext } from "./context.ts";
import { sameStat } from "./local-index.ts";
import type { LocalView } from "./local-view.ts";

/**
 * A folder moved elsewhere, applied as one rename of our folder instead of one per file (a
 * 10,000-file folder took 16–33 s file by file). Only when the plan does nothing else inside
 * the old folder than remove what moved (no local change to keep there), our folder is the
 * one last synced, and nothing is at the new path. Every synced entry inside then takes the
 * server's entry at its new path with its old fingerprint (the rename left the files as they
 * were); one whose content differs from what moved keeps ours as merge base at no version,
 * and the server's is news again for the next pass. Returns the paths it took care of, old and
 * new (the plan's removals of the old ones have nothing left to do).
 */
export async function moveFolderAsOne(ctx: SyncContext, moved: Entry, planned: Action[], view: LocalView, news: Map<string, Entry>): Promise<Set<string>> {
  const done = new Set<string>();
  const from = moved.movedFrom;
  if (!from || moved.kind !== "dir") return done;
  const synced = view.synced.get(from);
  const local = view.stat.get(from);
  if (!synced || !local || !sameStat(synced.stat, local) || view.stat.has(moved.path)) return done;
  for (const a of planned) {
    if (isInside(a.path, from) && a.type !== "delete_local" && a.type !== "record") return done;
  }
  // The server moved what the folder held when the move was made. An entry we hold there that
  // it did not move (one we added since, soak seed 179888558) keeps its place on the server:
  // moving it along here would leave it synced nowhere. Then file by file.
  const inside = ctx.index.under(from);
  for (const s of inside) if (news.get(moved.path + s.entry.path.slice(from.length))?.movedFrom !== s.entry.path) return done;
  if (!(await realFoldersAbove(ctx.root, from).catch(() => false))) return done;
  await ensureParents(ctx.root, moved.path);
  if (!(await renameNoReplace(resolveInside(ctx.root, from), resolveInside(ctx.root, moved.path)))) return done;
  const st = (await statLocal(resolveInside(ctx.root, moved.path))) ?? local;
  const folder: Moved = { from, entry: moved, stat: st };
  const records = [folder];
  done.add(moved.path);
  done.add(from);
  for (const s of inside) {
    const to = moved.path + s.entry.path.slice(from.length);
    const theirs = news.get(to);
    const same = theirs && theirs.movedFrom === s.entry.path && theirs.kind === s.entry.kind && theirs.hash === s.entry.hash && sameXattrs(theirs.xattrs, s.entry.xattrs);
    records.push({ from: s.entry.path, entry: same ? theirs : { ...s.entry, path: to, version: 0 }, stat: s.stat });
    done.add(to);
    done.add(s.entry.path);
  }
  // One rename on disk: its two folders are the ones to sync.
  await recordMoved(ctx, records, [folder]);
  ctx.emit({ type: "moved", from, to: moved.path });
  return done;
}
