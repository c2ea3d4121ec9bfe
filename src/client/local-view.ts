import * as fs from "node:fs/promises";
import * as path from "node:path";
import process from "node:process";
import { type Content, type Entry, normalMode, symlinkContent, symlinkTargetProblem } from "../core/entry.ts";
import { PathSet } from "../core/path-set.ts";
import { parentOf } from "../core/wire-path.ts";
import { isTooLarge, withForeignXattrs, XATTR_LIMIT, type XattrSet } from "../core/xattrs.ts";
import { type BlockSink, hashFile } from "../fsutil/hash-file.ts";
import { readXattrs } from "../fsutil/xattrs.ts";
import { type LocalStat, scanTree, statLocal } from "../fsutil/scan.ts";
import type { SyncContext } from "./context.ts";
import { unchangedSince } from "./fingerprints.ts";
import { CTIME_UNKNOWN, sameStat, type Synced } from "./local-index.ts";
import { sameStamp, type WriteSettle } from "../core/write-settle.ts";

/**
 * What the collector is told of for each entry a walk finds (runtime/reclaim.ts counts bytes).
 * An entry leaves some 300 bytes of objects behind (its stat, its row from the index, its
 * path), and JavaScriptCore collects by heap growth, late: a restart over W7's 100,000 synced
 * files peaked at 124-130 MiB. Counted as 1 KiB, such a walk is collected about every 8,000
 * entries, at most a tenth of the time: 116 MiB, ready ~0.1 s later (2.15 s).
 */
export const WALKED_ENTRY_BYTES = 1024;

/** The local side of a pass: what each looked-at path holds now, with the stat it was read at. */
export interface LocalView {
  content: Map<string, Content>;
  stat: Map<string, LocalStat>;
  synced: Map<string, Synced>;
  /** Files that could not be read now (locked, permission denied), with the reason: left alone this pass. */
  unreadable: Map<string, string>;
  /** Changed files beyond this pass's reading budget: left for the next pass. */
  later: Set<string>;
  /** Bytes of small changed files, kept from hashing for the upload. */
  small: Map<string, Uint8Array>;
  /** Files still being written, with how long to wait before looking again: left alone this pass. */
  settling: Map<string, number>;
  /** Entries that exist but cannot be synced, with the reason: left alone, with all below them. */
  skipped: Map<string, string>;
  /** Unchanged files whose fingerprint lacked a ctime, with their stat now: to remember. */
  ctimes: Map<string, LocalStat>;
  /** Files read that sync without some of what they hold (extended attributes past the limit), with why: warned once. */
  notes: Map<string, string>;
}

/** New files from this size on start their upload while they are being hashed. */
export const EARLY_UPLOAD_BYTES = 8 * 1024 * 1024;

/** Changed files one pass reads at most (and bytes): later ones wait for the next pass. */
export const PASS_FILES = 500;
const PASS_BYTES = 256 * 1024 * 1024;
/**
 * Changed files read at once. For small files the cost is round trips to the I/O threads
 * (open, read, close), not hashing, and those overlap.
 */
const READ_CONCURRENCY = 8;

const utf8 = new TextDecoder("utf-8", { fatal: true });

export function absPath(root: string, wirePath: string): string {
  return path.join(root, ...wirePath.split("/"));
}

/**
 * Looks at `dirty` paths (with their subtrees) and `single` paths (just themselves). A file is
 * read only when its stat differs from the fingerprint taken when it was last synced, or when
 * it is new and no vanished file with the same inode (a move) can vouch for its content.
 * `news` (paths with remote news) are looked at alone, and read even while being written:
 * their plan cannot wait. Other files still being written (`settle`) wait until quiet, and so
 * do those whose news is no newer than what was synced: the server's echo of our own commit
 * plans nothing, and read at once it made a file being written a version per pass.
 *
 * A file or folder found in a subtree unchanged since it was synced is left out of the view
 * (the planner would plan nothing for it), unless news concerns it or a folder above it, or
 * `attended` says the caller keeps state about it: a rescan of 100,000 synced files then loads
 * only the entries of what changed, not all of them.
 *
 * `uploadEarly`, given, takes the blocks of new files of EARLY_UPLOAD_BYTES or more as they
 * are hashed (upload.ts's EarlyUploads).
 */
export async function readLocalView(
  ctx: SyncContext,
  dirty: Iterable<string>,
  news: ReadonlyMap<string, Entry>,
  settle: WriteSettle,
  now: number,
  attended: (path: string) => boolean = () => false,
  uploadEarly?: (path: string, stamp: LocalStat) => BlockSink | undefined,
): Promise<LocalView> {
  const view: LocalView = {
    content: new Map(),
    stat: new Map(),
    synced: new Map(),
    unreadable: new Map(),
    later: new Set(),
    small: new Map(),
    settling: new Map(),
    skipped: new Map(),
    ctimes: new Map(),
    notes: new Map(),
  };
  const mustPlan = _concernedByNews(news, attended);
  /** Paths whose entry was looked up: a dirty path found new is not looked up twice. */
  const asked = new Set<string>();
  /** Adds what the index knows of `p` (and, with `subtree`, of everything below it). */
  const addKnown = (p: string, subtree: boolean) => {
    asked.add(p);
    const known = ctx.index.get(p);
    if (known) view.synced.set(p, known);
    if (subtree) for (const s of ctx.index.under(p)) view.synced.set(s.entry.path, s);
  };
  /** Folders found real (not symlinks) above the paths looked at: each is checked once a pass. */
  const realFolders = new Set<string>();
  ctx.emit({ type: "phase", phase: "scanning" });
  for (const p of dirty) {
    // What is found unchanged below `p` is left out as the walk finds it (from the view too,
    // if an earlier dirty path put it there); the entries of the rest are loaded.
    const leftOut = new PathSet();
    const leaveOut = (rel: string, st: LocalStat) => {
      ctx.runtime.reclaimAfter(WALKED_ENTRY_BYTES);
      const f = ctx.index.fingerprint(rel);
      if (!f || !unchangedSince(f, st) || mustPlan(rel)) return false;
      leftOut.add(rel);
      view.stat.delete(rel);
      view.synced.delete(rel);
      asked.delete(rel);
      return true;
    };
    const tree = await scanTree(ctx.root, p, ctx.ignored, true, ctx.foldsNames, realFolders, leaveOut);
    for (const [rel, st] of tree.stats) view.stat.set(rel, st);
    for (const [rel, why] of tree.skipped) view.skipped.set(rel, why);
    addKnown(p, false);
    // Entries below `p` not left out changed or vanished (found, they are loaded below with
    // what is new); when every entry was left out, there is none to look for.
    if (ctx.index.countUnder(p) === leftOut.size) continue;
    for (const f of ctx.index.fingerprintsUnder(p)) if (!leftOut.has(f.path)) view.synced.set(f.path, ctx.index.get(f.path)!);
  }
  for (const p of news.keys()) {
    if (view.stat.has(p) || view.synced.has(p)) continue;
    const tree = await scanTree(ctx.root, p, ctx.ignored, false, ctx.foldsNames, realFolders);
    for (const [rel, why] of tree.skipped) view.skipped.set(rel, why);
    const st = tree.stats.get(p);
    if (st) view.stat.set(p, st);
    addKnown(p, false);
  }
  for (const p of view.stat.keys()) if (!view.synced.has(p) && !asked.has(p)) addKnown(p, false);

  // A vanished path means its folders may have vanished too, and the watcher does not always
  // say so (events for a removed folder can be lost with its watch): look upwards.
  const checked = new Set<string>();
  for (const p of [...view.synced.keys()]) {
    if (view.stat.has(p)) continue;
    for (let q = parentOf(p); q !== "" && !checked.has(q) && !view.stat.has(q); q = parentOf(q)) {
      checked.add(q);
      // A folder we cannot stat (permissions) is not known to be gone.
      if (await statLocal(absPath(ctx.root, q)).catch(() => true)) break;
      addKnown(q, true);
    }
  }

  // Synced files that vanished, by inode: a new path with the same inode and stat was moved.
  const vanished = new Map<number, Synced>();
  for (const [p, s] of view.synced) if (!view.stat.has(p)) vanished.set(s.stat.ino, s);

  /**
   * The synced extended attributes of a file just hashed, read by path (lgetxattr: a file
   * replaced by a link since is not followed). Attributes this replica cannot hold are kept
   * from `known` (see withForeignXattrs); a set past the limit is left out, with a note.
   */
  const readAttrs = (p: string, known: XattrSet | undefined): XattrSet | undefined => {
    const read = readXattrs(ctx.runtime, absPath(ctx.root, p));
    if (isTooLarge(read)) {
      view.notes.set(p, `its extended attributes total more than ${XATTR_LIMIT / 1024} KiB (at least ${read.bytes} bytes): it syncs without them`);
      return undefined;
    }
    return withForeignXattrs(read, known, process.platform);
  };

  /** An unchanged file synced before attributes were: its attributes, read this once (unreadable: none). */
  const firstXattrs = (p: string): { xattrs?: XattrSet } => {
    try {
      const xattrs = readAttrs(p, undefined);
      return xattrs ? { xattrs } : {};
    } catch {
      return {};
    }
  };

  /** Reads and hashes one changed file into the view. */
  const readFile = async (p: string, st: LocalStat, known: XattrSet | undefined, isNew: boolean) => {
    try {
      const sink = isNew && st.size >= EARLY_UPLOAD_BYTES ? uploadEarly?.(p, st) : undefined;
      const { bytes, after, ...digest } = await hashFile(absPath(ctx.root, p), ctx.runtime.reclaimAfter, st.size, sink);
      if (digest.size !== st.size || !sameStamp(after, st)) {
        // Written while we read it: the bytes may be torn, and the stat no fingerprint of them
        // (kept as is, so the next look reads it again). A file overdue is taken as read.
        const wait = settle.changedWhileRead(p, after, now);
        if (wait > 0) {
          view.settling.set(p, wait);
          return;
        }
      }
      const xattrs = readAttrs(p, known);
      view.content.set(p, { kind: "file", mode: normalMode("file", st.mode), ...digest, ...(xattrs ? { xattrs } : {}) });
      // A write through one name of a hard-linked file changes the others, and the watcher
      // reports only the name written through.
      if (st.nlink > 1) for (const other of ctx.index.namesOf(st.ino)) if (other !== p) ctx.markDirty(other);
      if (bytes) view.small.set(p, bytes);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === "ENOENT") {
        view.stat.delete(p);
        return;
      }
      // Never mistake a file we cannot read for a deleted one.
      view.unreadable.set(p, `cannot read it now (${code ?? (e as Error).message}); retried until it can be read`);
    }
  };

  /**
   * A symlink's content is its target as the link holds it: read with readlink, never opened,
   * followed or hashed (a link to /dev/zero or to a folder outside costs nothing).
   */
  const readLink = async (p: string) => {
    let bytes: Uint8Array;
    try {
      bytes = await fs.readlink(absPath(ctx.root, p), { encoding: "buffer" });
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === "ENOENT") view.stat.delete(p);
      // Replaced by something else since the scan (EINVAL), or unreadable: never a deletion.
      else view.unreadable.set(p, `cannot read the link now (${code ?? (e as Error).message}); retried until it can be read`);
      return;
    }
    const target = _decodeUtf8(bytes);
    const problem = target === undefined ? "it is not valid UTF-8" : symlinkTargetProblem(target);
    if (problem) view.skipped.set(p, `it is a symbolic link whose target cannot be synced: ${problem}`);
    else view.content.set(p, symlinkContent(target!));
  };
  const links: string[] = [];

  const toRead: [string, LocalStat, XattrSet | undefined, boolean][] = [];
  let hashedBytes = 0;
  let wait = 0;
  for (const [p, st] of view.stat) {
    const known = view.synced.get(p) ?? vanished.get(st.ino);
    if (st.kind === "dir") {
      view.content.set(p, { kind: "dir", size: 0, mode: normalMode("dir", st.mode), hash: "", blocks: [] });
    } else if (st.kind === "symlink") {
      links.push(p);
    } else if (known && known.entry.kind === "file" && sameStat(known.stat, st)) {
      view.content.set(p, { ...known.entry, mode: normalMode("file", st.mode), ...(known.xattrsUnread ? firstXattrs(p) : {}) });
      if (known.stat.ctimeMs === CTIME_UNKNOWN && view.synced.get(p) === known) view.ctimes.set(p, st);
    } else if ((news.get(p)?.version ?? 0) <= (view.synced.get(p)?.entry.version ?? 0) && (wait = settle.check(p, st, now)) > 0) {
      view.settling.set(p, wait);
    } else if (toRead.length >= PASS_FILES || hashedBytes >= PASS_BYTES) {
      // A pass that reads everything first commits nothing until the end; bounded passes let
      // the first files reach the server (and other replicas) while the rest are still read.
      view.later.add(p);
    } else {
      hashedBytes += st.size;
      toRead.push([p, st, known?.entry.kind === "file" ? known.entry.xattrs : undefined, !known]);
    }
  }
  if (toRead.length > 0) ctx.emit({ type: "phase", phase: "hashing", files: toRead.length, bytes: hashedBytes });
  await Promise.all([_inPool(toRead, ([p, st, attrs, isNew]) => readFile(p, st, attrs, isNew)), _inPool(links, readLink)]);
  return view;
}

/**
 * Paths the planner must see even unchanged: those `attended`, those with news, the old paths
 * of news that moved, and everything below any of them (a folder deleted or moved elsewhere is
 * planned with what it still holds here).
 */
function _concernedByNews(news: ReadonlyMap<string, Entry>, attended: (path: string) => boolean): (path: string) => boolean {
  const roots = new Set<string>();
  for (const [p, e] of news) {
    roots.add(p);
    if (e.movedFrom !== undefined) roots.add(e.movedFrom);
  }
  return (p) => {
    if (attended(p)) return true;
    if (roots.size === 0) return false;
    for (let q = p; q !== ""; q = parentOf(q)) if (roots.has(q)) return true;
    return false;
  };
}

/** Runs `work` on every item, READ_CONCURRENCY at a time. */
async function _inPool<T>(items: readonly T[], work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await work(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(READ_CONCURRENCY, items.length) }, worker));
}

/** Link targets that are not UTF-8 cannot travel (the wire is JSON): said, never mangled. */
function _decodeUtf8(bytes: Uint8Array): string | undefined {
  try {
    return utf8.decode(bytes);
  } catch {
    return undefined;
  }
}
