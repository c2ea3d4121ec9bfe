import { randomUUID } from "node:crypto";
import { constants as fsConstants } from "node:fs";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { keptInPlace } from "../core/block-splice.ts";
import type { Entry } from "../core/entry.ts";
import { TEMP_PREFIX, TempFile } from "../fsutil/atomic-write.ts";
import { resolveInside } from "../fsutil/safe-resolve.ts";
import type { LocalStat } from "../fsutil/scan.ts";
import { type Download, unchangedSincePlan } from "./apply-remote.ts";
import type { SyncContext } from "./context.ts";
import { sameStat, type Synced } from "./local-index.ts";
import type { LocalBlocks } from "./local-blocks.ts";

/** Files at least this big whose blocks mostly stay in place are patched copies of their old version. */
const COPY_MIN_BYTES = 1024 * 1024;

/** A temp copy of a file's old version (stat `old`); `kept` marks the blocks it holds in place already. */
export interface PatchedCopy {
  tmp: TempFile;
  kept: boolean[];
  old: LocalStat;
}

/**
 * The temp file for a download as a copy of the synced version it replaces (`old`), made by
 * the kernel: when that version is still on disk untouched, and at least half the new bytes
 * come from it (an edit, not a rewrite). Blocks kept in place then need no writing, and blocks
 * that shifted are moved by kernel copies (`copyShifted`). Undefined when that does not pay.
 *
 * A reflink of the whole file where the file system has them (free); else only the blocks
 * kept in place are copied, run by run: a whole copy would copy the blocks that shifted twice
 * (W4b, 16 bytes inserted in the middle of 256 MiB: 384 MiB instead of 256), and the runs go
 * to disk while they are copied (copy-range-bun.ts). A whole copy where neither works.
 */
export async function openPatchedCopy(ctx: SyncContext, d: Download, old: Synced | undefined, mode: number): Promise<PatchedCopy | undefined> {
  const { entry } = d;
  if (entry.size < COPY_MIN_BYTES || old?.entry.kind !== "file" || !d.expect || !sameStat(d.expect, old.stat)) return undefined;
  const kept = keptInPlace(old.entry.blocks, entry.blocks);
  const oldHashes = new Set(old.entry.blocks.map(([h]) => h));
  let reused = 0;
  for (const [h, size] of entry.blocks) if (oldHashes.has(h)) reused += size;
  const abs = resolveInside(ctx.root, entry.path);
  if (reused * 2 < entry.size || (await hasHoles(abs))) return undefined;
  const tmp =
    (await cloneOf(abs, ctx.tmpDirs.next(), mode, entry.size)) ??
    (await copyKept(ctx, abs, entry, kept, mode)) ??
    (await TempFile.copyOf(abs, ctx.tmpDirs.next(), mode, entry.size).catch(() => undefined));
  // Copied while untouched (same stat before and after), or not used.
  if (tmp && (await unchangedSincePlan(abs, old.stat))) return { tmp, kept, old: old.stat };
  await tmp?.abort();
  return undefined;
}

/** A reflink of `abs` (shared extents, nothing copied), or undefined where the file system has none. */
async function cloneOf(abs: string, dir: string, mode: number, size: number): Promise<TempFile | undefined> {
  const p = path.join(dir, `${TEMP_PREFIX}${randomUUID()}`);
  try {
    await fs.copyFile(abs, p, fsConstants.COPYFILE_EXCL | fsConstants.COPYFILE_FICLONE_FORCE);
    return await TempFile.reopen(p, mode, size, size);
  } catch {
    await fs.rm(p, { force: true });
    return undefined;
  }
}

/**
 * A new temp file holding the blocks `kept` in place, copied by the kernel, one call per run
 * of them. Undefined if the kernel does not copy them all (no copy_file_range on this runtime
 * or system).
 */
async function copyKept(ctx: SyncContext, abs: string, entry: Entry, kept: boolean[], mode: number): Promise<TempFile | undefined> {
  const runs: { from: number; length: number }[] = [];
  let offset = 0;
  for (const [i, [, size]] of entry.blocks.entries()) {
    const last = runs.at(-1);
    if (kept[i] && last && last.from + last.length === offset) last.length += size;
    else if (kept[i]) runs.push({ from: offset, length: size });
    offset += size;
  }
  const old = await fs.open(abs, "r").catch(() => undefined);
  const tmp = old && (await TempFile.create(ctx.tmpDirs.next(), mode, entry.size).catch(() => undefined));
  try {
    if (tmp && runs.every((r) => tmp.copyIn(ctx.runtime.copyRange, old!.fd, r.from, r.from, r.length) === r.length)) return tmp;
  } finally {
    await old?.close();
  }
  await tmp?.abort();
  return undefined;
}

/**
 * True when `abs` takes less room than its size: a kernel copy would write its holes out as
 * zeros (1 GiB for a disk image holding 1 MiB), so it is rebuilt instead, its zeros skipped.
 */
async function hasHoles(abs: string): Promise<boolean> {
  const st = await fs.stat(abs).catch(() => undefined);
  return st !== undefined && st.blocks * 512 < st.size;
}

/**
 * In a patched copy, moves the blocks that shifted within the file (after an insert or a
 * removal) with kernel copies, one per run of blocks contiguous on both sides. Returns the
 * blocks now in place: those the kernel would not copy, or all of them if the old file changed
 * meanwhile, are left to the verified path.
 */
export async function copyShifted(ctx: SyncContext, entry: Entry, { tmp, kept, old: oldStat }: PatchedCopy, local: LocalBlocks): Promise<boolean[]> {
  const done = kept.map(() => false);
  const abs = resolveInside(ctx.root, entry.path);
  const runs = shiftedRuns(entry, kept, abs, local);
  // An overwrite shifts nothing: no second look at the old file.
  if (runs.length === 0) return done;
  const old = await fs.open(abs, "r").catch(() => undefined);
  if (!old) return done;
  try {
    for (const r of runs) if (tmp.copyIn(ctx.runtime.copyRange, old.fd, r.from, r.to, r.length) === r.length) for (const i of r.blocks) done[i] = true;
  } finally {
    await old.close();
  }
  // These bytes were not hashed on the way: they are trusted only if the file stayed as synced.
  return (await unchangedSincePlan(abs, oldStat)) ? done : kept.map(() => false);
}

/** The blocks of `entry` found at another offset of the old file `abs`, as runs contiguous on both sides. */
function shiftedRuns(entry: Entry, kept: boolean[], abs: string, local: LocalBlocks): { from: number; to: number; length: number; blocks: number[] }[] {
  const runs: { from: number; to: number; length: number; blocks: number[] }[] = [];
  let run: (typeof runs)[number] | undefined;
  let offset = 0;
  for (const [i, [hash, size]] of entry.blocks.entries()) {
    const src = kept[i] ? undefined : local.replacedAt(hash);
    if (src?.abs !== abs) run = undefined;
    else if (run && run.from + run.length === src.offset && run.to + run.length === offset) {
      run.length += size;
      run.blocks.push(i);
    } else runs.push((run = { from: src.offset, to: offset, length: size, blocks: [i] }));
    offset += size;
  }
  return runs;
}
