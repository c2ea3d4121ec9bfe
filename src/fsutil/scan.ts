import type { Dirent, Stats } from "node:fs";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import type { EntryKind } from "../core/entry.ts";
import type { IgnoreRules } from "../core/ignore-rules.ts";
import { wirePathProblem } from "../core/wire-path.ts";
import { realFoldersAbove } from "./safe-resolve.ts";

/** What stat says about a path: enough to tell "unchanged" without reading it. */
export interface LocalStat {
  kind: EntryKind;
  size: number;
  mtimeMs: number;
  /** Moves with every write even when a program puts the mtime back (disk images, databases). */
  ctimeMs: number;
  ino: number;
  mode: number;
  /** Names of this inode: above 1, a write through one name changes the others too. */
  nlink: number;
}

/** What lstat (never stat: a symlink is an entry of its own, never followed) says, for what is synced. */
export function toLocalStat(st: Stats): LocalStat | undefined {
  const kind = st.isFile() ? "file" : st.isDirectory() ? "dir" : st.isSymbolicLink() ? "symlink" : undefined;
  if (!kind) return undefined; // named pipes, sockets, devices are not synced
  return { kind, size: kind === "dir" ? 0 : st.size, mtimeMs: st.mtimeMs, ctimeMs: st.ctimeMs, ino: st.ino, mode: st.mode & 0o7777, nlink: st.nlink };
}

export async function statLocal(abs: string): Promise<LocalStat | undefined> {
  try {
    return toLocalStat(await fs.lstat(abs));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") return undefined;
    throw e;
  }
}

/** A tree walked for syncing: what can be synced, and what was passed over with the reason. */
export interface ScannedTree {
  stats: Map<string, LocalStat>;
  /**
   * Paths that exist but cannot be synced (not listed in `stats`): a folder that cannot be
   * listed, a name that is not valid UTF-8 or not a valid wire path, a named pipe or device. Their
   * synced state must be left alone, never taken for a deletion.
   */
  skipped: Map<string, string>;
}

/** Errors that concern one entry (fix it, and it syncs); anything else fails the whole scan. */
const ENTRY_ERRORS: Record<string, string> = {
  EACCES: "permission denied",
  EPERM: "operation not permitted",
  ENAMETOOLONG: "its full path is longer than this system allows",
  ELOOP: "too many levels of symbolic links",
  EIO: "input/output error",
};

/**
 * Walks `root/start` (a wire path, "" for everything) and returns every syncable path under
 * it, the start included (with `subtree` false, only the start). Ignored names are skipped with
 * everything below them. An entry that cannot be synced is listed in `skipped` and never stops
 * the walk; only a failure to list the sync folder itself does. What lies below a symlink is
 * not in the folder's tree, whether the walk meets the link or starts below it (a folder moved
 * out and linked back in): its files must never be read, uploaded or deleted as the folder's.
 * `realFolders` holds folders above a start already found real (not links) in this pass.
 * An entry below the start for which `leaveOut` says true is walked but not listed: a walk of
 * 100,000 files holds only what its caller wants of them.
 */
export async function scanTree(
  root: string,
  start: string,
  ignored: IgnoreRules,
  subtree = true,
  foldsNames = false,
  realFolders = new Set<string>(),
  leaveOut: (rel: string, st: LocalStat) => boolean = () => false,
): Promise<ScannedTree> {
  const tree: ScannedTree = { stats: new Map(), skipped: new Map() };
  /** Records why `rel` cannot be synced; rethrows what is not about one entry. */
  const skip = (rel: string, e: unknown) => {
    const code = (e as NodeJS.ErrnoException).code ?? "";
    const reason = ENTRY_ERRORS[code];
    if (!reason || rel === "") throw e;
    tree.skipped.set(rel, `${reason} (${code})`);
  };
  if (start !== "") {
    let st: LocalStat | undefined;
    try {
      if (!(await realFoldersAbove(root, start, realFolders))) return tree;
      st = await lstatSyncable(path.join(root, ...start.split("/")), start, tree);
      // Where names fold, lstat finds "report.txt" as "Report.txt": another entry, not this one.
      if (st && foldsNames && !(await spelledSo(root, start))) st = undefined;
    } catch (e) {
      skip(start, e);
      return tree;
    }
    if (!st || ignored(start, st.kind === "dir")) return tree;
    tree.stats.set(start, st);
    if (st.kind !== "dir" || !subtree) return tree;
  }
  const queue = [start];
  while (queue.length > 0) {
    const dir = queue.pop()!;
    const absDir = path.join(root, ...dir.split("/"));
    let children: Dirent[];
    try {
      children = await fs.readdir(absDir, { withFileTypes: true });
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === "ENOENT" || code === "ENOTDIR") continue;
      tree.stats.delete(dir);
      skip(dir, e);
      continue;
    }
    await Promise.all(
      children.map(async (d) => {
        const rel = dir === "" ? d.name : `${dir}/${d.name}`;
        if (ignored(rel, d.isDirectory())) return;
        const problem = wirePathProblem(rel);
        if (problem) {
          tree.skipped.set(rel, `its name cannot be synced: ${problem}`);
          return;
        }
        try {
          const st = await lstatSyncable(path.join(absDir, d.name), rel, tree);
          if (!st) return;
          if (!leaveOut(rel, st)) tree.stats.set(rel, st);
          if (st.kind === "dir") queue.push(rel);
        } catch (e) {
          skip(rel, e);
        }
      }),
    );
  }
  return tree;
}

/** lstat of an entry found by a walk; what exists but is no file, folder or symlink goes to `skipped`. */
async function lstatSyncable(abs: string, rel: string, tree: ScannedTree): Promise<LocalStat | undefined> {
  let st: Stats;
  try {
    st = await fs.lstat(abs);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== "ENOENT" && code !== "ENOTDIR") throw e;
    // Listed a moment ago: either removed since, or its name did not survive decoding (readdir
    // replaces bytes that are not UTF-8 with U+FFFD, so the name found cannot be opened).
    if (rel.includes("\uFFFD")) tree.skipped.set(rel, "its name is not valid UTF-8 (rename it)");
    return undefined;
  }
  const local = toLocalStat(st);
  if (!local) tree.skipped.set(rel, `it is a ${specialKind(st)}, which is not synced`);
  return local;
}

function specialKind(st: Stats): string {
  if (st.isFIFO()) return "named pipe";
  if (st.isSocket()) return "socket";
  return "device";
}

/** True when every name along `rel` is listed under that exact spelling. */
async function spelledSo(root: string, rel: string): Promise<boolean> {
  let dir = root;
  for (const name of rel.split("/")) {
    if (!(await fs.readdir(dir)).includes(name)) return false;
    dir = path.join(dir, name);
  }
  return true;
}
