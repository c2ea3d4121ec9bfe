import * as fs from "node:fs/promises";
import { readInto } from "../runtime/read-into.ts";
import type { Reclaim } from "../runtime/types.ts";

/** Bytes read per system call: blocks of an old version are asked for in order, so read ahead. */
const WINDOW = 1024 * 1024;
/** Open files kept at once; the least recently opened is closed first. */
const MAX_OPEN = 16;

interface OpenFile {
  handle: fs.FileHandle;
  start: number;
  bytes: Uint8Array;
}

/**
 * Reads byte ranges of local files for a batch of writes. Handles stay open and each system
 * call reads a window ahead: rebuilding a 256 MiB file from its old version's 16 KiB blocks
 * would otherwise cost an open, a read and a close per block — 16,000 of each.
 * Returned bytes are views of a window; a window is never reused, so views stay valid.
 */
export class RangeReader {
  private files = new Map<string, OpenFile>();

  constructor(private readonly reclaimAfter: Reclaim) {}

  /** `size` bytes at `offset`, or undefined if the file is gone or shorter. */
  async read(abs: string, offset: number, size: number): Promise<Uint8Array | undefined> {
    let f = this.files.get(abs);
    if (!f) {
      const handle = await fs.open(abs, "r").catch(() => undefined);
      if (!handle) return undefined;
      if (this.files.size >= MAX_OPEN) await this.forget(this.files.keys().next().value!);
      f = { handle, start: 0, bytes: new Uint8Array(0) };
      this.files.set(abs, f);
    }
    if (offset < f.start || offset + size > f.start + f.bytes.length) {
      const bytes = new Uint8Array(Math.max(WINDOW, size));
      const got = await readInto(f.handle, [bytes], offset);
      this.reclaimAfter(got);
      f.start = offset;
      f.bytes = bytes.subarray(0, got);
      if (got < size) return undefined;
    }
    return f.bytes.subarray(offset - f.start, offset - f.start + size);
  }

  /** Closes `abs`: its content is about to change (or has), so nothing cached may be served. */
  async forget(abs: string): Promise<void> {
    const f = this.files.get(abs);
    if (!f) return;
    this.files.delete(abs);
    await f.handle.close().catch(() => {});
  }

  async close(): Promise<void> {
    await Promise.all([...this.files.keys()].map((abs) => this.forget(abs)));
  }
}
