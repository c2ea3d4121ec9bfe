import { Buffer } from "node:buffer";
import { createHash } from "node:crypto";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { hashBlock } from "../core/block-hash.ts";
import type { BlockRef } from "../core/entry.ts";

/**
 * Temp files are spread over this many subfolders. Thousands of files created in one folder
 * and renamed out of it queue on that folder's lock, and the file system allocates all their
 * inodes near it. Measured here (5,000 × 4 KiB, each created, written, fsynced and renamed into
 * one of 50 folders, 32 in flight; 6 alternating rounds): median 3.9 s from one folder, 2.5 s
 * from 16, 2.5 s from next to each target.
 */
const SHARDS = 16;

/** Downloads at least this big keep their partial file when cut short, to resume from it; smaller ones simply start again. */
export const RESUME_MIN_BYTES = 4 * 1024 * 1024;
/** The folder (beside the shards) holding those partial files across restarts. */
const KEPT_DIR = "kept";
/** `<content hash>-<path key>`. */
const KEPT_NAME = /^([0-9a-f]{64})-([0-9a-f]{16})$/;
/** A partial file untouched this long is given up: the download it was for is long over. */
const KEPT_MAX_AGE_MS = 7 * 24 * 3600 * 1000;
/** Disk taken by kept partial files beyond the newest one; older ones go first. */
const KEPT_MAX_BYTES = 2 * 1024 ** 3;

export interface KeptLimits {
  maxAgeMs: number;
  maxBytes: number;
}

/**
 * Where a resumable download is written: a partial file named after the content it builds,
 * and how much of it an earlier attempt left intact.
 */
export interface Resumable {
  path: string;
  /** Leading blocks of the content found in the file, each re-hashed (0 for a new file). */
  blocks: number;
  /** Their length: where writing resumes. */
  bytes: number;
}

/** What a resumable download builds: the entry's path, content hash and blocks. */
export interface ResumeTarget {
  path: string;
  hash: string;
  blocks: readonly BlockRef[];
}

/**
 * The folders partial downloads are written in, taken in turn, and the kept partial files of
 * big downloads (`<content hash>-<path key>` in `kept/`), which survive restarts. A kept file
 * is never trusted: a resumed download re-hashes each block in it before using it.
 */
export class TempDirs {
  private turn = 0;

  private constructor(
    private readonly dirs: string[],
    private readonly keptDir: string,
    private readonly limits: KeptLimits,
  ) {}

  /**
   * Creates `root` and its subfolders, dropping whatever a previous run left there (never
   * renamed into place) except the kept partial files still worth resuming (`pruneKept`).
   */
  static async prepare(root: string, limits: KeptLimits = { maxAgeMs: KEPT_MAX_AGE_MS, maxBytes: KEPT_MAX_BYTES }): Promise<TempDirs> {
    await fs.mkdir(root, { recursive: true });
    for (const name of await fs.readdir(root)) if (name !== KEPT_DIR) await fs.rm(path.join(root, name), { recursive: true, force: true });
    const dirs = Array.from({ length: SHARDS }, (_, i) => path.join(root, i.toString(16)));
    for (const d of dirs) await fs.mkdir(d);
    const keptDir = path.join(root, KEPT_DIR);
    await fs.mkdir(keptDir, { recursive: true });
    const tmpDirs = new TempDirs(dirs, keptDir, limits);
    await tmpDirs.pruneKept();
    return tmpDirs;
  }

  /** The folder for the next temp file. */
  next(): string {
    this.turn = (this.turn + 1) % this.dirs.length;
    return this.dirs[this.turn]!;
  }

  /**
   * The partial file for a download of `target`: one kept from an earlier attempt at the same
   * content (for this path or another: it is renamed as this path's), else a new name. Kept
   * files of the same path for other content are removed: that version was superseded. The
   * caller writes the file (one download of a content at a time) and renames it into place, or
   * leaves it for a later attempt.
   */
  async resumable(target: ResumeTarget): Promise<Resumable> {
    const { file, found } = await this.keptFor(target);
    if (!found) return { path: file, blocks: 0, bytes: 0 };
    await fs.rename(found, file);
    return { path: file, ...(await intactPrefix(file, target.blocks)) };
  }

  /**
   * Makes `partial`, a temp file whose first `prefix.blocks` blocks of `target` were checked
   * as they were written (a download streamed ahead of its commit), the partial file of
   * `target`'s download, in place of any kept one.
   */
  async adopt(target: ResumeTarget, partial: string, prefix: { blocks: number; bytes: number }): Promise<Resumable> {
    const { file, found } = await this.keptFor(target);
    if (found) await fs.rm(found, { force: true });
    await fs.rename(partial, file);
    return { path: file, ...prefix };
  }

  /** Where `target`'s partial file goes, and one kept for its content; kept files of its path for other content are removed. */
  private async keptFor(target: ResumeTarget): Promise<{ file: string; found: string | undefined }> {
    const key = pathKey(target.path);
    const file = path.join(this.keptDir, `${target.hash}-${key}`);
    let found: string | undefined;
    for (const name of await fs.readdir(this.keptDir)) {
      const [, hash, forPath] = KEPT_NAME.exec(name) ?? [];
      if (hash === target.hash) found ??= path.join(this.keptDir, name);
      else if (forPath === key) await fs.rm(path.join(this.keptDir, name), { force: true });
    }
    return { file, found };
  }

  /**
   * Removes kept partial files no longer worth keeping: empty ones, any not written to for
   * `maxAgeMs`, strays, and, from the oldest on, those that would make the ones beyond the
   * newest take more than `maxBytes` of disk.
   */
  async pruneKept(now = Date.now()): Promise<void> {
    const files: { file: string; mtimeMs: number; bytes: number }[] = [];
    for (const name of await fs.readdir(this.keptDir)) {
      const file = path.join(this.keptDir, name);
      const st = await fs.stat(file).catch(() => undefined);
      if (!st) continue;
      if (st.isFile() && KEPT_NAME.test(name) && st.size > 0 && now - st.mtimeMs <= this.limits.maxAgeMs) files.push({ file, mtimeMs: st.mtimeMs, bytes: st.blocks * 512 });
      else await fs.rm(file, { recursive: true, force: true });
    }
    files.sort((a, b) => b.mtimeMs - a.mtimeMs);
    let total = 0;
    for (const [i, f] of files.entries()) {
      total += i === 0 ? 0 : f.bytes;
      if (total > this.limits.maxBytes) await fs.rm(f.file, { force: true });
    }
  }
}

/** A path's share of a kept file's name: short, fixed-length, and free of separators. */
function pathKey(wirePath: string): string {
  return createHash("sha256").update(wirePath).digest("hex").slice(0, 16);
}

/**
 * How many of `blocks`, from the first, `file` holds intact. Partial files are written front
 * to back, so what follows the first block that fails (torn by a crash, damaged on disk, or
 * past the end) is written again rather than searched.
 */
async function intactPrefix(file: string, blocks: readonly BlockRef[]): Promise<{ blocks: number; bytes: number }> {
  const handle = await fs.open(file, "r").catch(() => undefined);
  if (!handle) return { blocks: 0, bytes: 0 };
  try {
    let buffer = Buffer.alloc(0);
    let bytes = 0;
    for (const [i, [hash, size]] of blocks.entries()) {
      if (buffer.length < size) buffer = Buffer.alloc(size);
      const { bytesRead } = await handle.read(buffer, 0, size, bytes);
      if (bytesRead !== size || hashBlock(buffer.subarray(0, size)) !== hash) return { blocks: i, bytes };
      bytes += size;
    }
    return { blocks: blocks.length, bytes };
  } finally {
    await handle.close();
  }
}
