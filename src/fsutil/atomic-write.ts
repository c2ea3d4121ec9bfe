import { Buffer } from "node:buffer";
import { randomUUID } from "node:crypto";
import { constants as fsConstants, fstatSync, ftruncateSync, futimesSync, type Stats } from "node:fs";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import type { XattrSet } from "../core/xattrs.ts";
import type { CopyRange, Runtime } from "../runtime/types.ts";
import { writeFully } from "../runtime/write-fully.ts";
import { writeXattrs, type XattrsWritten } from "./xattrs.ts";

export const TEMP_PREFIX = ".dropsim-tmp-";
/** Writes are gathered up to this size: a file rebuilt from 16 KiB blocks needs few system calls. */
const WRITE_BUFFER = 1024 * 1024;
/**
 * Pages of zeros this size, at this alignment in the file, are left as holes in a new file:
 * the file system's usual block, so a sparse file (a disk image, a database) stays sparse.
 * Looking costs ~50 ms per GiB of zeros; a page of data nearly always shows a non-zero first
 * or last byte.
 */
const HOLE_PAGE = 4096;
/**
 * A big file is written back to disk as it arrives, a datasync in the background after every
 * this many bytes, so that the fsync before its rename finds little left to write.
 */
const WRITEBACK_EVERY = 32 * 1024 * 1024;
const ZERO_PAGE = Buffer.alloc(HOLE_PAGE);

/**
 * A file being written under a temporary name. Its bytes become visible at `target` only
 * through `commit` (fsync, then rename), so no reader ever sees a partial file.
 *
 * `write` appends: the buffer holds the bytes from `offset` on, and the file on disk is
 * `onDisk` bytes long. In a new file, zeros filling a page (or the part of a page one write
 * covers) are skipped instead of written; the holes they leave read as zeros once `flush` has
 * made the file as long as what was written.
 */
export class TempFile {
  private buffer: Uint8Array | undefined;
  private buffered = 0;
  private offset = 0;
  private onDisk = 0;
  /** Bytes written since the last background datasync started. */
  private unflushed = 0;
  /** A background datasync while it runs (`close` waits for it); it never rejects. */
  private writeback: Promise<unknown> | undefined;
  /**
   * Why a background datasync failed. Linux tells of a failed writeback once per open file, so
   * the fsync before the rename would succeed whatever pages were lost: `commit` fails instead.
   * (A kept partial file needs no such care: a resumed download re-hashes every block in it.)
   */
  private writebackFailed: Error | undefined;

  private constructor(
    readonly path: string,
    private readonly handle: fs.FileHandle,
    private readonly bufferSize: number,
    /** False for a patched copy, whose old bytes must be overwritten, zeros included. */
    private readonly holes: boolean,
  ) {}

  /**
   * `dir` must exist: creating it here would cost a syscall per file in a batch of thousands.
   * `mode` is the final file's (the umask applies, as for any new file). `expectedSize` keeps
   * the write buffer of a small file small.
   */
  static async create(dir: string, mode = 0o644, expectedSize = WRITE_BUFFER): Promise<TempFile> {
    const p = path.join(dir, `${TEMP_PREFIX}${randomUUID()}`);
    return new TempFile(p, await fs.open(p, "wx", mode), bufferFor(expectedSize), true);
  }

  /**
   * A temp file at the fixed name `p` (a resumable download's), created if missing, keeping
   * its first `length` bytes (checked by the caller) and appended to from there; the rest of
   * what an earlier attempt left is cut off.
   */
  static async reopen(p: string, mode: number, length: number, expectedSize = WRITE_BUFFER): Promise<TempFile> {
    const handle = await fs.open(p, length > 0 ? "r+" : "w", mode);
    const tmp = new TempFile(p, handle, bufferFor(expectedSize), true);
    // An earlier attempt's file has the mode of the entry it was made for first.
    await tmp.shape(mode, length);
    tmp.offset = tmp.onDisk = length;
    return tmp;
  }

  /**
   * A temp copy of `src`, `size` bytes long, to be patched with `writeAt`: a reflink where the
   * file system has them, else a copy made inside the kernel (256 MiB in ~75 ms here, against
   * ~0.9 s through user space). An edit that keeps most of a big file in place writes little.
   */
  static async copyOf(src: string, dir: string, mode: number, size: number): Promise<TempFile> {
    const p = path.join(dir, `${TEMP_PREFIX}${randomUUID()}`);
    await fs.copyFile(src, p, fsConstants.COPYFILE_EXCL | fsConstants.COPYFILE_FICLONE);
    const handle = await fs.open(p, "r+").catch(async (e) => {
      await fs.rm(p, { force: true });
      throw e;
    });
    const tmp = new TempFile(p, handle, 1, false);
    await tmp.shape(mode, size);
    return tmp;
  }

  /** Gives the file its final mode and `length` bytes; if that fails, the file is removed. */
  private async shape(mode: number, length: number): Promise<void> {
    try {
      await this.handle.chmod(mode);
      await this.handle.truncate(length);
    } catch (e) {
      await this.abort();
      throw e;
    }
  }

  /** Copies `length` bytes of the open file `fd` at `from` to `offset` in the kernel; how many it copied (0 where unsupported). */
  copyIn(copyRange: CopyRange, fd: number, from: number, offset: number, length: number): number {
    return copyRange(fd, from, this.handle.fd, offset, length);
  }

  /** Writes `bytes` at `offset` now (patching a copy made by `copyOf`). */
  writeAt(bytes: Uint8Array, offset: number): void {
    writeFully(this.handle.fd, bytes, offset);
  }

  /** Copies `bytes` (the caller may reuse them); they reach the file by `flush` or `commit` at the latest. */
  async write(bytes: Uint8Array): Promise<void> {
    if (!this.holes) return this.append(bytes);
    // Each page of the file that `bytes` covers, or covers in part, is written or skipped
    // whole. Skipping a part of a page is right too (the rest reads as zeros until written),
    // and is what keeps a long run of zeros cut into blocks at odd offsets unallocated.
    const start = this.offset + this.buffered;
    const view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
    let from = 0;
    for (let i = 0; i < bytes.length; ) {
      const next = Math.min(bytes.length, (Math.floor((start + i) / HOLE_PAGE) + 1) * HOLE_PAGE - start);
      if (isZero(view, i, next)) {
        if (from < i) this.append(bytes.subarray(from, i));
        this.drain();
        this.offset += next - i;
        from = next;
      }
      i = next;
    }
    if (from < bytes.length) this.append(bytes.subarray(from));
  }

  /** Makes everything written so far readable through the file. */
  async flush(): Promise<void> {
    this.drain();
    // A hole at the end is no part of the file until the file is made that long.
    if (this.onDisk < this.offset) {
      ftruncateSync(this.handle.fd, this.offset);
      this.onDisk = this.offset;
    }
  }

  private append(bytes: Uint8Array): void {
    if (this.buffered + bytes.length > this.bufferSize) this.drain();
    if (bytes.length >= this.bufferSize) return this.writeOut(bytes);
    this.buffer ??= new Uint8Array(this.bufferSize);
    this.buffer.set(bytes, this.buffered);
    this.buffered += bytes.length;
  }

  /** Writes the buffer out (a hole may be left before it). */
  private drain(): void {
    if (this.buffered === 0) return;
    const n = this.buffered;
    this.buffered = 0;
    this.writeOut(this.buffer!.subarray(0, n));
  }

  private writeOut(bytes: Uint8Array): void {
    writeFully(this.handle.fd, bytes, this.offset);
    this.offset += bytes.length;
    this.onDisk = this.offset;
    if ((this.unflushed += bytes.length) >= WRITEBACK_EVERY && !this.writeback) {
      this.unflushed = 0;
      this.writeback = this.handle.datasync().then(
        () => (this.writeback = undefined),
        (e: Error) => {
          this.writeback = undefined;
          this.writebackFailed ??= e;
        },
      );
    }
  }

  /**
   * Makes the file durable and moves it to `target`, with modification time `mtimeMs` if given
   * (set before the rename: nobody sees the file with another). Returns its stat from just
   * before the rename (which keeps inode, size and mtime): what was written, even if someone
   * edits it the moment it appears, and without another round trip to the I/O threads.
   */
  async commit(target: string, mtimeMs?: number): Promise<Stats> {
    let st: Stats;
    try {
      await this.flush();
      this.buffer = undefined;
      // In seconds, not as a Date: a Date would drop what the sender's clock had below the ms.
      if (mtimeMs !== undefined) futimesSync(this.handle.fd, Date.now() / 1000, mtimeMs / 1000);
      await this.handle.sync();
      await this.writeback;
      if (this.writebackFailed) throw this.writebackFailed;
      st = fstatSync(this.handle.fd);
    } finally {
      await this.close();
    }
    await fs.rename(this.path, target);
    return st;
  }

  /**
   * Makes the file's synced extended attributes exactly `set`, through its descriptor: call it
   * before `commit`, so the file appears with them (and whatever a patched copy or a kept
   * partial carried is replaced). See `writeXattrs` for what is skipped and "unsupported".
   */
  setXattrs(runtime: Pick<Runtime, "xattrs">, set: XattrSet): XattrsWritten | "unsupported" {
    return writeXattrs(runtime, this.handle.fd, set);
  }

  /** Stops writing and leaves the file, with everything written so far, for a later `reopen`. */
  async keep(): Promise<void> {
    try {
      await this.flush();
    } finally {
      this.buffer = undefined;
      await this.close();
    }
  }

  async abort(): Promise<void> {
    await this.close().catch(() => {});
    await fs.rm(this.path, { force: true });
  }

  /** After the background datasync, if one runs: a descriptor closed under it could be reused by another file. */
  private async close(): Promise<void> {
    await this.writeback;
    await this.handle.close();
  }
}

/** The write buffer for a file of about `expectedSize` bytes: a small file's stays small. */
function bufferFor(expectedSize: number): number {
  return Math.max(1, Math.min(WRITE_BUFFER, expectedSize));
}

function isZero(bytes: Buffer, from: number, to: number): boolean {
  // Data pages almost always fail on their first or last byte, without a call into native code.
  if (bytes[from] !== 0 || bytes[to - 1] !== 0) return false;
  // Compared from the data's side: Deno checks the other buffer's end against this one's length.
  return bytes.compare(ZERO_PAGE, 0, to - from, from, to) === 0;
}
