import * as fs from "node:fs/promises";
import * as path from "node:path";
import { hashBlock } from "../core/block-hash.ts";
import { keptInPlace } from "../core/block-splice.ts";
import { type Placement, placeName } from "../core/case-conflict.ts";
import { conflictName } from "../core/conflict-name.ts";
import { describeError } from "../core/errors.ts";
import type { BlockRef, Entry, EntryKind } from "../core/entry.ts";
import { baseName } from "../core/wire-path.ts";
import { sameXattrs } from "../core/xattrs.ts";
import { TempFile } from "../fsutil/atomic-write.ts";
import { RangeReader } from "../fsutil/range-reader.ts";
import { renameNoReplace } from "../fsutil/rename-no-replace.ts";
import { ensureParents, realFoldersAbove, resolveInside } from "../fsutil/safe-resolve.ts";
import { type LocalStat, statLocal, toLocalStat } from "../fsutil/scan.ts";
import { RESUME_MIN_BYTES, type Resumable } from "../fsutil/temp-dirs.ts";
import type { SyncContext } from "./context.ts";
import { beforeRename, sameStat, type Synced } from "./local-index.ts";
import type { ServerPeer } from "./server-link.ts";

/** A remote entry to materialise, and the local stat the decision was based on (undefined = absent). */
export interface Download {
  entry: Entry;
  expect: LocalStat | undefined;
}

/** True when the path still holds what the plan saw: otherwise a local write raced us and wins. */
async function unchangedSincePlan(abs: string, expect: LocalStat | undefined): Promise<boolean> {
  const now = await statLocal(abs);
  if (!now || !expect) return now === expect;
  return sameStat(now, expect);
}

function fileMode(entry: Entry): number {
  return entry.mode & 0o111 ? 0o755 : 0o644;
}

async function recordWritten(ctx: SyncContext, entry: Entry, abs: string): Promise<void> {
  const st = await statLocal(abs);
  if (st) ctx.index.put(entry, st);
}

export async function makeFolder(ctx: SyncContext, entry: Entry): Promise<boolean> {
  const placed = await new CaseGuard(ctx).place(entry.path, "dir");
  const abs = resolveInside(ctx.root, placed.path);
  await ensureParents(ctx.root, placed.path);
  const st = await statLocal(abs);
  if (st && st.kind !== "dir") return false; // a file appeared meanwhile: the next pass decides
  if (!st) await fs.mkdir(abs).catch((e: NodeJS.ErrnoException) => {
    if (e.code !== "EEXIST") throw e;
  });
  if (placed.path === entry.path) await recordWritten(ctx, entry, abs);
  else keptApart(ctx, entry.path, placed);
  return true;
}

/**
 * Where remote paths land in a folder whose file system folds names (`ctx.foldsNames`: macOS,
 * Windows, casefold). There a name that differs from one already in its folder only by case or
 * normalisation would replace it, so it gets a case-conflict name instead (`placeName`), and
 * whatever goes below such a folder follows it. Each folder is listed once per guard and learns
 * the names placed in it since: the files of one batch are renamed into place concurrently.
 */
class CaseGuard {
  private readonly listings = new Map<string, Map<string, EntryKind>>();

  constructor(private readonly ctx: SyncContext) {}

  /**
   * Where `wirePath` lands: `clash` names the other spelling when its own name clashed; a path
   * below a folder that clashed lands in that folder's case-conflict folder, with no `clash`.
   */
  async place(wirePath: string, kind: EntryKind): Promise<Placement> {
    if (!this.ctx.foldsNames) return { path: wirePath };
    const names = wirePath.split("/");
    let placed: Placement = { path: "" };
    for (const [i, name] of names.entries()) {
      const k = i === names.length - 1 ? kind : "dir";
      const siblings = await this.list(placed.path);
      placed = placeName(placed.path ? `${placed.path}/${name}` : name, siblings, k);
      if (!siblings.has(baseName(placed.path))) siblings.set(baseName(placed.path), k);
    }
    return placed;
  }

  private async list(dir: string): Promise<Map<string, EntryKind>> {
    let names = this.listings.get(dir);
    if (names) return names;
    names = new Map();
    this.listings.set(dir, names);
    try {
      for (const d of await fs.readdir(dir ? resolveInside(this.ctx.root, dir) : this.ctx.root, { withFileTypes: true })) names.set(d.name, d.isDirectory() ? "dir" : "file");
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== "ENOENT" && code !== "ENOTDIR") throw e;
    }
    return names;
  }
}

/**
 * `path` was written under a case-conflict name: there it is a new local entry, which a later
 * pass uploads. Said once, when it is made (what goes into a case-conflict folder later is not).
 */
function keptApart(ctx: SyncContext, path: string, placed: Placement): void {
  ctx.markDirty(placed.path);
  if (placed.clash) ctx.log.warn(`Case conflict: "${path}" and "${placed.clash}" are one name on this disk; kept "${path}" as "${placed.path}"`);
  else ctx.log.debug(`Wrote "${path}" as "${placed.path}", in the case-conflict folder made for a folder above it`);
}

/** Removes a path the server deleted, unless it changed locally since it was last synced. */
export async function removeLocal(ctx: SyncContext, entry: Entry, expect: LocalStat | undefined): Promise<boolean> {
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
  ctx.index.remove(entry.path);
  return true;
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
    ctx.log.warn(`Conflict on "${wirePath}": kept your version as "${name}"`);
    return name;
  }
}

/** Temp files created ahead of the one being filled (W1, 5,000 small files: 5.2 s with 1, 4.6 s with 8). */
const OPEN_AHEAD = 8;
/** Downloads whose fsync and rename may be in flight at once. */
const MAX_FINISHING = 32;

/** Files at least this big whose blocks mostly stay in place are patched copies of their old version. */
const COPY_MIN_BYTES = 1024 * 1024;

/**
 * A temp file to fill; `kept` marks the blocks a copy of the old version (stat `old`) already
 * holds in place. `resumed` is set for a partial file kept when cut short: how many blocks at
 * its front an earlier attempt left intact.
 */
interface Target {
  tmp: TempFile;
  kept?: boolean[];
  old?: LocalStat;
  resumed?: number;
}

/** Stops filling `target`: a resumable partial file stays for a later attempt, any other goes. */
function drop({ tmp, resumed }: Target): Promise<void> {
  return resumed === undefined ? tmp.abort() : tmp.keep();
}

/**
 * Opens the temp file for a download. When the file replaces a synced version (`old`) still on
 * disk untouched, and at least half its bytes come from that version (an edit, not a rewrite),
 * the temp file starts as a copy of it made by the kernel: blocks kept in place need no
 * writing, and blocks that shifted are moved by kernel copies (`copyShifted`). Otherwise a big
 * download (`resume`) writes its resumable partial file, from where an earlier attempt stopped.
 */
async function openTarget(ctx: SyncContext, d: Download, old: Synced | undefined, resume: Resumable | undefined): Promise<Target> {
  const { entry } = d;
  const mode = fileMode(entry);
  if (!resume?.blocks && entry.size >= COPY_MIN_BYTES && old?.entry.kind === "file" && d.expect && sameStat(d.expect, old.stat)) {
    const kept = keptInPlace(old.entry.blocks, entry.blocks);
    const oldHashes = new Set(old.entry.blocks.map(([h]) => h));
    let reused = 0;
    for (const [h, size] of entry.blocks) if (oldHashes.has(h)) reused += size;
    const abs = resolveInside(ctx.root, entry.path);
    if (reused * 2 >= entry.size && !(await hasHoles(abs))) {
      const tmp = await TempFile.copyOf(abs, ctx.tmpDirs.next(), mode, entry.size).catch(() => undefined);
      // Copied while untouched (same stat before and after), or not used.
      if (tmp && (await unchangedSincePlan(abs, old.stat))) return { tmp, kept, old: old.stat };
      await tmp?.abort();
    }
  }
  if (resume) return { tmp: await TempFile.reopen(resume.path, mode, resume.bytes, entry.size), resumed: resume.blocks };
  return { tmp: await TempFile.create(ctx.tmpDirs.next(), mode, entry.size) };
}

/**
 * True when `abs` takes less room than its size: a kernel copy would write its holes out as
 * zeros (1 GiB for a disk image holding 1 MiB), so it is rebuilt instead, its zeros skipped.
 */
async function hasHoles(abs: string): Promise<boolean> {
  const st = await fs.stat(abs).catch(() => undefined);
  return st !== undefined && st.blocks * 512 < st.size;
}

/** Where a block's bytes can be read locally: an earlier file of this batch, or a synced file. */
interface Source {
  abs: string;
  offset: number;
  /** Set while the block is in a file of this batch not renamed into place yet. */
  tmp?: TempFile;
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

  /** Blocks written earlier in this batch; their temp path until `renamedTo` knows the final one. */
  const written = new Map<string, Source>();
  const renamedTo = new Map<string, string>();
  // The version each file replaces holds most of its blocks, at known offsets: looked up here
  // once instead of one index query per block.
  const synced = new Map<string, Synced>();
  const previous = new Map<string, Source>();
  for (const d of pending) {
    const known = ctx.index.get(d.entry.path);
    if (known?.entry.kind !== "file") continue;
    synced.set(d.entry.path, known);
    const abs = resolveInside(ctx.root, d.entry.path);
    let offset = 0;
    for (const [hash, size] of known.entry.blocks) {
      if (!previous.has(hash)) previous.set(hash, { abs, offset });
      offset += size;
    }
  }
  const resumes = await claimPartials(ctx, pending);
  // What an earlier attempt left in a partial file is one more local source of blocks: its
  // own download skips them, any other file of the batch may copy them.
  for (const r of resumes.values()) {
    let offset = 0;
    for (const [hash, size] of r.entry.blocks.slice(0, r.blocks)) {
      if (!written.has(hash)) written.set(hash, { abs: r.path, offset });
      offset += size;
    }
  }
  /** Folders known to exist (and not to be symlinks) for this batch's writes. */
  const folders = new Set<string>();
  const fetchList: BlockRef[] = [];
  const willFetch = new Set<string>();
  for (const d of pending) {
    for (const ref of d.entry.blocks) {
      if (willFetch.has(ref[0]) || written.has(ref[0]) || previous.has(ref[0]) || ctx.index.findBlock(ref[0]).length > 0) continue;
      willFetch.add(ref[0]);
      fetchList.push(ref);
    }
  }
  const stream = ctx.fetcher.fetch(peer, fetchList);
  const fetched = new Set<string>();
  const reader = new RangeReader(ctx.runtime.reclaimAfter);

  const nextFetched = async (hash: string): Promise<Uint8Array> => {
    const r = await stream.next();
    if (r.done) throw new Error(`block stream ended before ${hash.slice(0, 12)}…`);
    fetched.add(hash);
    return r.value;
  };

  const readLocal = async (hash: string, size: number): Promise<Uint8Array | undefined> => {
    const w = written.get(hash);
    const p = previous.get(hash);
    // The index is asked only when the likely places fail: one query per block adds up.
    const candidates = [...(w ? [{ ...w, abs: renamedTo.get(w.abs) ?? w.abs }] : []), ...(p ? [p] : []), undefined];
    for (const c of candidates) {
      if (!c) {
        candidates.push(...ctx.index.findBlock(hash).map((s) => ({ abs: path.join(ctx.root, ...s.path.split("/")), offset: s.offset })));
        continue;
      }
      if (c.tmp?.path === c.abs) await c.tmp.flush();
      const bytes = await reader.read(c.abs, c.offset, size).catch(() => undefined);
      if (bytes && hashBlock(bytes) === hash) return bytes;
    }
    return undefined;
  };

  const fetchOne = async (ref: BlockRef): Promise<Uint8Array> => {
    for await (const bytes of ctx.fetcher.fetch(peer, [ref])) return bytes;
    throw new Error(`block ${ref[0].slice(0, 12)}… did not arrive`);
  };

  /**
   * In a patched copy, moves the blocks that shifted within the file (after an insert or a
   * removal) with kernel copies, one per run of blocks contiguous on both sides. Returns the
   * blocks now in place: those the kernel would not copy, or all of them if the old file changed
   * meanwhile, are left to the verified path.
   */
  const copyShifted = async (d: Download, tmp: TempFile, kept: boolean[], oldStat: LocalStat): Promise<boolean[]> => {
    const done = kept.map(() => false);
    const abs = resolveInside(ctx.root, d.entry.path);
    const old = await fs.open(abs, "r").catch(() => undefined);
    if (!old) return done;
    try {
      let run: { from: number; to: number; length: number; blocks: number[] } | undefined;
      const copyRun = async () => {
        if (run && tmp.copyIn(ctx.runtime.copyRange, old.fd, run.from, run.to, run.length) === run.length) for (const i of run.blocks) done[i] = true;
        run = undefined;
      };
      let offset = 0;
      for (const [i, [hash, size]] of d.entry.blocks.entries()) {
        const src = previous.get(hash);
        if (kept[i] || willFetch.has(hash) || src?.abs !== abs) await copyRun();
        else if (run && run.from + run.length === src.offset && run.to + run.length === offset) {
          run.length += size;
          run.blocks.push(i);
        } else {
          await copyRun();
          run = { from: src.offset, to: offset, length: size, blocks: [i] };
        }
        offset += size;
      }
      await copyRun();
    } finally {
      await old.close();
    }
    // These bytes were not hashed on the way: they are trusted only if the file stayed as synced.
    return (await unchangedSincePlan(abs, oldStat)) ? done : kept.map(() => false);
  };

  /** Fills `tmp` with the entry's blocks (those `kept` are there already); the error that spoiled it, if any. */
  const fill = async (d: Download, { tmp, kept, old, resumed = 0 }: Target): Promise<unknown> => {
    const { entry } = d;
    const shifted = kept && old ? await copyShifted(d, tmp, kept, old) : undefined;
    let offset = 0;
    let error: unknown;
    for (const [i, ref] of entry.blocks.entries()) {
      const [hash, size] = ref;
      const streamed = willFetch.has(hash) && !fetched.has(hash);
      const inPlace = (i < resumed || kept?.[i] || shifted?.[i]) && !streamed;
      // Blocks of the batch stream must be consumed in order even after this file failed.
      const bytes = inPlace
        ? undefined
        : streamed
          ? await nextFetched(hash)
          : error === undefined
            ? ((await readLocal(hash, size)) ?? (await fetchOne(ref)))
            : undefined;
      if (bytes && error === undefined) {
        try {
          if (kept) tmp.writeAt(bytes, offset);
          else await tmp.write(bytes);
        } catch (e) {
          error = e;
        }
      }
      if (!written.has(hash)) written.set(hash, { abs: tmp.path, offset, tmp });
      offset += size;
    }
    if (error === undefined && offset !== entry.size) error = new Error(`blocks add up to ${offset} bytes, expected ${entry.size}`);
    return error;
  };

  /** fsync and rename; false (and the temp file gone) if the path changed locally meanwhile. */
  const finish = async (d: Download, placed: Placement, tmp: TempFile): Promise<boolean> => {
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
    renamedTo.set(tmp.path, abs);
    // Done: a partial file of this content that was not the one renamed (a patched copy was
    // made instead) is no longer wanted.
    const resume = resumes.get(d);
    if (resume) await fs.rm(resume.path, { force: true });
    await reader.forget(abs);
    if (!own) keptApart(ctx, d.entry.path, placed);
    else if (st) ctx.index.put(d.entry, beforeRename(st));
    ctx.log.debug(`Downloaded "${d.entry.path}" (${d.entry.size} bytes)`);
    return true;
  };

  // Files are filled one after another (the block stream is ordered), but their fsyncs and
  // renames overlap: concurrent fsyncs share journal commits, which is most of the cost of
  // writing thousands of small files durably.
  const finishing = new Set<Promise<void>>();
  const settle = (d: Download, placed: Placement, tmp: TempFile) => {
    const p: Promise<void> = finish(d, placed, tmp)
      .then(
        (ok) => void (ok || failed.push(d)),
        async (e) => {
          ctx.log.warn(`Cannot write "${d.entry.path}": ${describeError(e)}`);
          await tmp.abort();
          failed.push(d);
        },
      )
      .finally(() => finishing.delete(p));
    finishing.add(p);
  };

  const create = (d: Download) => {
    const p = openTarget(ctx, d, synced.get(d.entry.path), resumes.get(d));
    p.catch(() => {}); // awaited (and its failure reported) when its turn comes
    return p;
  };
  // Temp files are opened a few files ahead of the one being filled: creating a file waits on
  // the file system's journal (busy with the fsyncs of files before it), and a batch of
  // thousands of small files would otherwise wait for each create in turn.
  const opening: Promise<Target>[] = [];
  const openAhead = (i: number) => {
    while (opening.length < OPEN_AHEAD && i + opening.length < pending.length) opening.push(create(pending[i + opening.length]!));
  };
  const guard = new CaseGuard(ctx);
  try {
    for (let i = 0; i < pending.length; i++) {
      const d = pending[i]!;
      openAhead(i);
      const target = await opening.shift()!;
      let error: unknown = new Error("interrupted");
      try {
        error = await fill(d, target);
      } finally {
        // Whatever happened (even a lost connection mid-block), no partial file stays behind
        // but the resumable one of a big download.
        if (error !== undefined) await drop(target);
      }
      if (error !== undefined) {
        ctx.log.warn(`Cannot write "${d.entry.path}": ${describeError(error)}`);
        failed.push(d);
        continue;
      }
      settle(d, await guard.place(d.entry.path, "file"), target.tmp);
      while (finishing.size >= MAX_FINISHING) await Promise.race(finishing);
    }
  } finally {
    await Promise.all(opening.map(async (p) => {
      const target = await p.catch(() => undefined);
      if (target) await drop(target);
    }));
    await Promise.all(finishing);
    await stream.return(undefined);
    await reader.close();
    if (resumes.size > 0) await ctx.tmpDirs.pruneKept();
  }
  return failed;
}

/** Tells that a file was written without part of what it carries, and why: warned once per file. */
export type Note = (path: string, why: string) => void;

/**
 * Gives a download's temp file the entry's extended attributes (none: removes any a patched
 * copy carried). Names this system does not sync, or that the file system refuses, are left
 * out with a note; the index still records the entry as synced with them, so an edit here
 * keeps those this system cannot hold (local-view.ts). A file system that keeps none: silent.
 */
function writeAttrs(ctx: SyncContext, entry: Entry, tmp: TempFile, note: Note): void {
  const written = tmp.setXattrs(ctx.runtime, entry.xattrs ?? []);
  if (written === "unsupported") {
    ctx.log.debug(`"${entry.path}" is written without its extended attributes: this file system keeps none`);
    return;
  }
  if (written.skipped.length === 0) return;
  const what = written.skipped.map((x) => `"${x.name}" (${x.reason})`).join(", ");
  note(entry.path, `written without ${written.skipped.length === 1 ? "the extended attribute" : "the extended attributes"} ${what}`);
}

/** A download resuming from (or starting) its partial file, and the entry it builds. */
interface Resume extends Resumable {
  entry: Entry;
}

/**
 * The partial files this batch's big downloads write, each with what an earlier attempt left
 * intact in it (re-hashed here, before the fetch list is made). One download per content:
 * another file with the same bytes copies them from the first.
 */
async function claimPartials(ctx: SyncContext, pending: Download[]): Promise<Map<Download, Resume>> {
  const resumes = new Map<Download, Resume>();
  const claimed = new Set<string>();
  for (const d of pending) {
    const { entry } = d;
    if (entry.size < RESUME_MIN_BYTES || claimed.has(entry.hash)) continue;
    claimed.add(entry.hash);
    const r = await ctx.tmpDirs.resumable(entry);
    if (r.bytes > 0) ctx.log.info(`Resuming "${entry.path}": ${_formatBytes(r.bytes)} of ${_formatBytes(entry.size)} kept from an earlier attempt`);
    resumes.set(d, { ...r, entry });
  }
  return resumes;
}

/**
 * Splits a batch into the downloads that fit on the folder's disk, keeping `ctx.minDiskFree`
 * free (a full disk breaks every program using it, not only this one), and those that wait:
 * returned as failed, so they are retried, and reported once each until they fit. One statfs
 * per batch, each admitted file's blocks taken off what it said: a batch of thousands of small
 * files asks once, and files admitted earlier in the batch are counted though not written yet.
 * Counted at full size: a patched copy or a sparse file may take less, never more.
 */
async function admitBySpace(ctx: SyncContext, downloads: Download[]): Promise<{ fits: Download[]; waiting: Download[] }> {
  const disk = await fs.statfs(ctx.root);
  const floor = ctx.minDiskFree;
  const keep = "percent" in floor ? (disk.blocks * disk.bsize * floor.percent) / 100 : floor.bytes;
  let free = disk.bavail * disk.bsize;
  const fits: Download[] = [];
  const waiting: Download[] = [];
  for (const d of downloads) {
    const { path: p, size } = d.entry;
    const need = Math.ceil(size / disk.bsize) * disk.bsize;
    if (need === 0 || free - need >= keep) {
      free -= need;
      ctx.waitingForSpace.delete(p);
      fits.push(d);
      continue;
    }
    waiting.push(d);
    if (ctx.waitingForSpace.has(p)) {
      ctx.log.debug(`Still no room for "${p}" (${_formatBytes(size)}): ${_formatBytes(free)} free`);
      continue;
    }
    ctx.waitingForSpace.add(p);
    const kept = "percent" in floor ? `${floor.percent}%` : _formatBytes(floor.bytes);
    ctx.log.warn(`Not downloading "${p}" (${_formatBytes(size)}): only ${_formatBytes(Math.max(0, free))} free on the disk, keeping ${kept} free; it is retried when space frees up`);
  }
  return { fits, waiting };
}

const BYTE_UNITS = ["bytes", "KiB", "MiB", "GiB", "TiB"];

/** 1073741824 → "1.0 GiB", 300 → "300 bytes". */
function _formatBytes(n: number): string {
  let unit = 0;
  while (n >= 1024 && unit < BYTE_UNITS.length - 1) {
    n /= 1024;
    unit++;
  }
  return unit === 0 ? `${n} bytes` : `${n.toFixed(1)} ${BYTE_UNITS[unit]}`;
}

/** A move on another replica: rename our copy if it is still what was synced. */
export async function renameMoved(ctx: SyncContext, d: Download): Promise<boolean> {
  const from = d.entry.movedFrom;
  if (!from) return false;
  const known = ctx.index.get(from);
  // Retagged elsewhere on the way: downloaded (from local blocks) instead, so the attributes come too.
  if (!known || known.entry.kind !== "file" || known.entry.hash !== d.entry.hash || !sameXattrs(known.entry.xattrs, d.entry.xattrs) || d.expect) return false;
  const src = resolveInside(ctx.root, from);
  // A folder above it replaced by a link would move a file from outside into the folder.
  if (!(await realFoldersAbove(ctx.root, from).catch(() => false))) return false;
  const st = await statLocal(src);
  if (!st || !sameStat(st, known.stat)) return false;
  const dst = resolveInside(ctx.root, d.entry.path);
  await ensureParents(ctx.root, d.entry.path);
  await fs.rename(src, dst);
  ctx.index.transaction(() => {
    ctx.index.remove(from);
    ctx.index.put(d.entry, beforeRename(st));
  });
  ctx.log.debug(`Moved "${from}" to "${d.entry.path}"`);
  return true;
}
