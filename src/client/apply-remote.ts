import * as fs from "node:fs/promises";
import * as path from "node:path";
import { conflictName } from "../core/conflict-name.ts";
import type { Entry } from "../core/entry.ts";
import { sameXattrs } from "../core/xattrs.ts";
import { renameNoReplace } from "../fsutil/rename-no-replace.ts";
import { ensureParents, realFoldersAbove, resolveInside } from "../fsutil/safe-resolve.ts";
import { type LocalStat, statLocal } from "../fsutil/scan.ts";
import { CaseGuard, markKeptApart } from "./case-guard.ts";
import type { SyncContext } from "./context.ts";
import { beforeRename, sameStat, type Synced } from "./local-index.ts";
import { recordOnDisk } from "./record.ts";

/** A remote entry to materialise, and the local stat the decision was based on (undefined = absent). */
export interface Download {
  entry: Entry;
  expect: LocalStat | undefined;
}

/** True when the path still holds what the plan saw: otherwise a local write raced us and wins. */
export async function unchangedSincePlan(abs: string, expect: LocalStat | undefined): Promise<boolean> {
  const now = await statLocal(abs);
  if (!now || !expect) return now === expect;
  return sameStat(now, expect);
}

/**
 * Makes the folder `entry` at its path; what it placed is added to `placed`, to be recorded
 * once durable (`recordPlaced`).
 */
export async function makeFolder(ctx: SyncContext, entry: Entry, placed: Synced[]): Promise<boolean> {
  const where = await new CaseGuard(ctx).place(entry.path, "dir");
  const abs = resolveInside(ctx.root, where.path);
  await ensureParents(ctx.root, where.path);
  const st = await statLocal(abs);
  if (st && st.kind !== "dir") return false; // a file appeared meanwhile: the next pass decides
  if (!st) await fs.mkdir(abs).catch((e: NodeJS.ErrnoException) => {
    if (e.code !== "EEXIST") throw e;
  });
  if (where.path !== entry.path) markKeptApart(ctx, entry.path, where);
  else {
    const made = await statLocal(abs);
    if (made) placed.push({ entry, stat: made });
  }
  return true;
}

/**
 * Records entries now in place (folders made, links and files renamed into place), in one
 * transaction, once the folders holding them are synced: a new name is durable only then.
 * Recorded before, a power cut could leave the index saying a path holds what the server has
 * while the disk holds something older, or nothing: the next pass would send the old bytes
 * over the new, or delete the path everywhere. Entries whose folder cannot be synced stay
 * unrecorded, as after a crash; the next pass finds them holding what the server has.
 */
export async function recordPlaced(ctx: Pick<SyncContext, "root" | "index" | "runtime">, placed: readonly Synced[]): Promise<void> {
  if (placed.length > 0 && (await syncFoldersOf(ctx, placed.map(({ entry }) => entry.path)))) ctx.index.transaction(() => placed.forEach(({ entry, stat }) => recordOnDisk(ctx, entry, stat)));
}

/**
 * Removes a path the server deleted, unless it changed locally since it was last synced.
 * `forget` drops it from the index once it is gone from the disk; a caller removing many may
 * collect them and forget them together (`forgetRemoved`).
 */
export async function removeLocal(ctx: SyncContext, entry: Entry, expect: LocalStat | undefined, forget = (p: string) => ctx.index.remove(p)): Promise<boolean> {
  const abs = resolveInside(ctx.root, entry.path);
  const now = await statLocal(abs);
  if (!now) {
    ctx.index.remove(entry.path);
    return true;
  }
  if (!expect || !sameStat(now, expect)) return false;
  if (expect.kind === "dir") {
    try {
      await fs.rmdir(abs);
    } catch (e) {
      // Files the server never saw are still inside: keep the folder, they will be uploaded.
      if ((e as NodeJS.ErrnoException).code === "ENOTEMPTY") {
        ctx.index.remove(entry.path);
        ctx.markDirty(entry.path);
        return true;
      }
      if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
    }
  } else {
    await fs.rm(abs, { force: true });
  }
  forget(entry.path);
  return true;
}

/**
 * Drops paths removed from the disk from the index, once their folders are synced: a removal
 * is durable only then. Forgotten before, a power cut could bring back a file the index no
 * longer knows, and the next pass would upload it again as new. Paths whose folder cannot be
 * synced stay in the index; the next pass finds them gone on both sides and forgets them.
 */
export async function forgetRemoved(ctx: Pick<SyncContext, "root" | "index" | "runtime">, paths: readonly string[]): Promise<void> {
  if (paths.length > 0 && (await syncFoldersOf(ctx, paths))) ctx.index.transaction(() => paths.forEach((p) => ctx.index.remove(p)));
}

/**
 * Syncs the folders holding `paths` (wire paths), in parallel: what was created, renamed or
 * removed in them is durable once this resolves true. False if one could not be synced.
 */
export function syncFoldersOf(ctx: Pick<SyncContext, "root" | "runtime">, paths: readonly string[]): Promise<boolean> {
  const folders = new Set(paths.map((p) => path.dirname(resolveInside(ctx.root, p))));
  return Promise.all([...folders].map((d) => ctx.runtime.syncDir(d))).then(
    () => true,
    () => false,
  );
}

/** Moves local bytes aside under a conflict name; the next pass uploads them as a new file. */
export async function moveAside(ctx: SyncContext, wirePath: string, date: Date): Promise<string> {
  const taken = new Set<string>();
  const origin = { host: ctx.hostName, clientId: ctx.clientId, date };
  for (;;) {
    const name = conflictName(wirePath, origin, (p) => taken.has(p) || ctx.index.get(p) !== undefined);
    if (!(await renameNoReplace(resolveInside(ctx.root, wirePath), resolveInside(ctx.root, name)))) {
      taken.add(name);
      continue;
    }
    ctx.markDirty(name);
    ctx.emit({ type: "conflict", side: "local", path: wirePath, copy: name });
    return name;
  }
}

/** A file renamed on disk for a move on another replica, recorded once durable (`recordMoved`). */
export interface Moved {
  from: string;
  entry: Entry;
  stat: LocalStat;
}

/** A move on another replica: rename our copy if it is still what was synced. */
export async function renameMoved(ctx: SyncContext, d: Download): Promise<Moved | undefined> {
  const from = d.entry.movedFrom;
  if (!from) return undefined;
  const known = ctx.index.get(from);
  // Retagged elsewhere on the way: downloaded (from local blocks) instead, so the attributes come too.
  if (!known || known.entry.kind !== "file" || known.entry.hash !== d.entry.hash || !sameXattrs(known.entry.xattrs, d.entry.xattrs) || d.expect) return undefined;
  const src = resolveInside(ctx.root, from);
  // A folder above it replaced by a link would move a file from outside into the folder.
  if (!(await realFoldersAbove(ctx.root, from).catch(() => false))) return undefined;
  const st = await statLocal(src);
  if (!st || !sameStat(st, known.stat)) return undefined;
  const dst = resolveInside(ctx.root, d.entry.path);
  await ensureParents(ctx.root, d.entry.path);
  await fs.rename(src, dst);
  ctx.emit({ type: "moved", from, to: d.entry.path });
  return { from, entry: d.entry, stat: beforeRename(st) };
}

/**
 * Records moved paths at their new places once the folders on both sides of each rename are
 * synced (`renames`: the renames done on disk, `moved` itself unless one folder's rename moved
 * everything in it). Recorded before, a power cut could leave the file at its old path while the
 * index knew only the new one: the next pass would upload the old path as new and delete the new
 * one, undoing the move everywhere. If a folder cannot be synced the index stays as it was; the
 * next pass finds the old paths gone and the new ones holding what the server has, and records them.
 */
export async function recordMoved(ctx: Pick<SyncContext, "root" | "index" | "runtime">, moved: readonly Moved[], renames: readonly Moved[] = moved): Promise<void> {
  if (moved.length === 0 || !(await syncFoldersOf(ctx, renames.flatMap((m) => [m.from, m.entry.path])))) return;
  ctx.index.transaction(() => {
    for (const m of moved) {
      ctx.index.remove(m.from);
      recordOnDisk(ctx, m.entry, m.stat);
    }
  });
}
