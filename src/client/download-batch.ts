import { release } from "../core/release.ts";
import * as fs from "node:fs/promises";
import type { Placement } from "../core/case-conflict.ts";
import { describeError } from "../core/errors.ts";
import type { Entry } from "../core/entry.ts";
import type { TempFile } from "../fsutil/atomic-write.ts";
import { ensureParents, resolveInside } from "../fsutil/safe-resolve.ts";
import { type LocalStat, toLocalStat } from "../fsutil/scan.ts";
import { type Download, recordPlaced, unchangedSincePlan } from "./apply-remote.ts";
import { BatchFetch } from "./batch-fetch.ts";
import { CaseGuard, markKeptApart } from "./case-guard.ts";
import type { SyncContext } from "./context.ts";
import { admitBySpace } from "./disk-space.ts";
import { claimPartials, drop, openTarget, type Resume, type Target } from "./download-target.ts";
import { beforeRename, type Synced } from "./local-index.ts";
import { LocalBlocks } from "./local-blocks.ts";
import { copyShifted } from "./patched-copy.ts";
import type { ServerPeer } from "./server-link.ts";
import { startTransfer } from "./transfer-progress.ts";

/** Temp files created ahead of the one being filled (W1, 5,000 small files: 5.2 s with 1, 4.6 s with 8). */
const OPEN_AHEAD = 8;
/** Downloads whose fsync and rename may be in flight at once. */
const MAX_FINISHING = 32;
/**
 * Files renamed into place that are recorded in the index in one transaction. A transaction
 * per file was a fifth of the receiver's CPU in W1 (5,000 files of 4 KiB). A crash before
 * the record leaves a file in place that the index does not know: the next pass finds it
 * holding what the server has, and records it (core/reconcile.ts, "record").
 */
const RECORD_EVERY = 64;

/** Tells that a file was written without part of what it carries, and why: warned once per file. */
export type Note = (path: string, why: string) => void;

/** What the files of one batch share while they are written. */
interface Batch {
  ctx: SyncContext;
  local: LocalBlocks;
  fetch: BatchFetch;
  resumes: Map<Download, Resume>;
  /** Folders known to exist (and not to be symlinks) for this batch's writes. */
  folders: Set<string>;
  note: Note;
  /** Files in place, not yet recorded in the index (`record`). */
  placed: { entry: Entry; stat: LocalStat }[];
}

/**
 * Writes the files of a batch. Blocks the folder already holds (the old version of the file,
 * other files, earlier files of this batch) are copied locally; the rest stream from the server
 * in one pipelined fetch. Each file is written to `.dropsim/tmp`, verified, fsynced, renamed.
 * Returns the entries that could not be applied (to retry later).
 */
export async function writeFiles(ctx: SyncContext, peer: ServerPeer, downloads: Download[], note: Note = () => {}): Promise<Download[]> {
  if (downloads.length === 0) return [];
  const { fits: pending, waiting: failed } = await admitBySpace(ctx, downloads);
  if (pending.length === 0) return failed;

  const synced = new Map<string, Synced>();
  for (const d of pending) {
    const known = ctx.index.get(d.entry.path);
    if (known?.entry.kind === "file") synced.set(d.entry.path, known);
  }
  const local = new LocalBlocks(ctx, synced.values());
  const resumes = await claimPartials(ctx, pending);
  // What an earlier attempt left in a partial file is one more local source of blocks: its
  // own download skips them, any other file of the batch may copy them.
  for (const r of resumes.values()) {
    let offset = 0;
    for (const [hash, size] of r.entry.blocks.slice(0, r.blocks)) {
      local.wrote(hash, { abs: r.path, offset });
      offset += size;
    }
  }
  const batch: Batch = { ctx, local, fetch: new BatchFetch(ctx, peer, pending.flatMap((d) => d.entry.blocks), local), resumes, folders: new Set(), note, placed: [] };

  // Files are filled one after another (the block stream is ordered), but their fsyncs and
  // renames overlap: concurrent fsyncs share journal commits, which is most of the cost of
  // writing thousands of small files durably.
  const finishing = new Set<Promise<void>>();
  // Temp files are opened a few files ahead of the one being filled: creating a file waits on
  // the file system's journal (busy with the fsyncs of files before it), and a batch of
  // thousands of small files would otherwise wait for each create in turn.
  const opening: Promise<Target>[] = [];
  const guard = new CaseGuard(ctx);
  try {
    for (let i = 0; i < pending.length; i++) {
      const d = pending[i]!;
      while (opening.length < OPEN_AHEAD && i + opening.length < pending.length) {
        const next = pending[i + opening.length]!;
        const p = openTarget(ctx, next, synced.get(next.entry.path), resumes.get(next));
        p.catch(() => {}); // awaited (and its failure reported) when its turn comes
        opening.push(p);
      }
      const target = await opening.shift()!;
      let error: unknown = new Error("interrupted");
      try {
        error = await fill(batch, d, target);
      } finally {
        // Whatever happened (even a lost connection mid-block), no partial file stays behind
        // but the resumable one of a big download.
        if (error !== undefined) await drop(target);
      }
      if (error !== undefined) {
        ctx.emit({ type: "file_failed", path: d.entry.path, direction: "download", reason: describeError(error), retry: true });
        failed.push(d);
        continue;
      }
      const placed = await guard.place(d.entry.path, "file");
      const p: Promise<void> = finish(batch, d, placed, target.tmp)
        .then((ok) => void (ok || failed.push(d)))
        .finally(() => finishing.delete(p));
      finishing.add(p);
      while (finishing.size >= MAX_FINISHING) await Promise.race(finishing);
    }
  } finally {
    await Promise.all(opening.map(async (p) => {
      const target = await p.catch(() => undefined);
      if (target) await drop(target);
    }));
    await Promise.all(finishing);
    await record(batch);
    await batch.fetch.close();
    await local.close();
    if (resumes.size > 0) await ctx.tmpDirs.pruneKept();
  }
  return failed;
}

/**
 * Fills `tmp` with the entry's blocks (those `kept`, or resumed, are there already), telling
 * the download's start and progress; the error that spoiled it, if any.
 */
async function fill({ ctx, local, fetch, resumes }: Batch, d: Download, target: Target): Promise<unknown> {
  const { entry } = d;
  const { tmp, kept, old, resumed = 0 } = target;
  const progress = startTransfer(ctx.emit, entry.path, "download", entry.size, resumes.get(d)?.bytes || undefined);
  const shifted = kept && old ? await copyShifted(ctx, entry, { tmp, kept, old }, local) : undefined;
  let offset = 0;
  let error: unknown;
  for (const [i, ref] of entry.blocks.entries()) {
    const [hash, size] = ref;
    const streamed = fetch.ahead(hash);
    const inPlace = (i < resumed || kept?.[i] || shifted?.[i]) && !streamed;
    // Blocks of the batch stream must be consumed in order even after this file failed.
    const fromLocal = !inPlace && !streamed && error === undefined ? await local.read(hash, size) : undefined;
    const fromServer = inPlace || fromLocal ? undefined : streamed ? await fetch.next(hash) : error === undefined ? await fetch.one(ref) : undefined;
    const bytes = fromLocal ?? fromServer;
    if (bytes && error === undefined) {
      try {
        if (kept) tmp.writeAt(bytes, offset);
        else await tmp.write(bytes);
      } catch (e) {
        error = e;
      }
    }
    // Copied or written: a received block (its frame's own buffer, delivered to this file
    // alone) is not needed again; a local one is a view of a shared read window.
    if (fromServer) release(fromServer.buffer);
    local.wrote(hash, { abs: tmp.path, offset, tmp });
    offset += size;
    if (error === undefined) progress.at(offset);
  }
  if (error === undefined && offset !== entry.size) error = new Error(`blocks add up to ${offset} bytes, expected ${entry.size}`);
  return error;
}

/**
 * fsync, rename and record; false (and the temp file gone) if the path changed locally
 * meanwhile or the file could not be written (told as a failed download).
 */
async function finish(batch: Batch, d: Download, placed: Placement, tmp: TempFile): Promise<boolean> {
  try {
    return await commit(batch, d, placed, tmp);
  } catch (e) {
    batch.ctx.emit({ type: "file_failed", path: d.entry.path, direction: "download", reason: describeError(e), retry: true });
    await tmp.abort();
    return false;
  }
}

async function commit(batch: Batch, d: Download, placed: Placement, tmp: TempFile): Promise<boolean> {
  const { ctx, local, resumes, folders, note } = batch;
  const own = placed.path === d.entry.path;
  const abs = resolveInside(ctx.root, placed.path);
  await ensureParents(ctx.root, placed.path, folders);
  // A case-conflict name was free when chosen; what the plan saw was the other spelling.
  if (!(await unchangedSincePlan(abs, own ? d.expect : undefined))) {
    await tmp.abort();
    ctx.markDirty(d.entry.path);
    return false;
  }
  writeAttrs(ctx, d.entry, tmp, note);
  // The sender's time, not ours: it is what the file's owner knows it by (and what make,
  // backups and "sort by date" go by).
  const st = toLocalStat(await tmp.commit(abs, d.entry.mtime));
  await local.renamed(tmp.path, abs);
  // Done: a partial file of this content that was not the one renamed (a patched copy was
  // made instead) is no longer wanted.
  const resume = resumes.get(d);
  if (resume) await fs.rm(resume.path, { force: true });
  if (!own) markKeptApart(ctx, d.entry.path, placed);
  else if (st) {
    batch.placed.push({ entry: d.entry, stat: beforeRename(st) });
    if (batch.placed.length >= RECORD_EVERY) await record(batch);
  }
  ctx.emit({ type: "file_done", path: d.entry.path, direction: "download", bytes: d.entry.size, version: d.entry.version });
  return true;
}

/** Records the files of the batch now in place (see `recordPlaced`, and RECORD_EVERY). */
function record({ ctx, placed }: Batch): Promise<void> {
  return recordPlaced(ctx, placed.splice(0));
}

/**
 * Gives a download's temp file the entry's extended attributes (none: removes any a patched
 * copy carried). Names this system does not sync, or that the file system refuses, are left
 * out with a note; the index still records the entry as synced with them, so an edit here
 * keeps those this system cannot hold (local-view.ts). A file system that keeps none: silent.
 */
function writeAttrs(ctx: SyncContext, entry: Entry, tmp: TempFile, note: Note): void {
  const written = tmp.setXattrs(ctx.runtime, entry.xattrs ?? []);
  if (written === "unsupported") {
    ctx.emit({ type: "xattrs_unsupported", path: entry.path });
    return;
  }
  if (written.skipped.length === 0) return;
  const what = written.skipped.map((x) => `"${x.name}" (${x.reason})`).join(", ");
  note(entry.path, `written without ${written.skipped.length === 1 ? "the extended attribute" : "the extended attributes"} ${what}`);
}
