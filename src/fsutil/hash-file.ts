import * as fs from "node:fs/promises";
import { hashBlock, hashBlockList } from "../core/block-hash.ts";
import { chunkParamsFor, cutChunks } from "../core/chunker.ts";
import type { BlockRef } from "../core/entry.ts";
import type { Reclaim } from "../runtime/types.ts";

const READ_SIZE = 1024 * 1024;

export interface FileDigest {
  size: number;
  hash: string;
  blocks: BlockRef[];
  /** The whole content, for small files read in one go: uploading them needs no second read. */
  bytes?: Uint8Array;
  /** What the open file looked like once read: differs from the stat before if it was written meanwhile. */
  after: { size: number; mtimeMs: number; ino: number };
}

/**
 * Takes a file's blocks as they are cut, in file order, and then its end (also when reading
 * fails): lets a new file's upload run behind its hashing (upload.ts's EarlyUploads).
 */
export interface BlockSink {
  add(blocks: readonly BlockRef[]): void;
  end(): void;
}

/** Files up to this size keep their bytes from hashing to upload. */
export const SMALL_FILE = 64 * 1024;

/**
 * Reads a file once, cutting and hashing blocks as it goes; memory stays at a few MiB.
 * `sizeHint` (the size stat saw) picks the chunk sizes and keeps the read buffer small for small files.
 */
export async function hashFile(abs: string, reclaimAfter: Reclaim, sizeHint?: number, sink?: BlockSink): Promise<FileDigest> {
  let handle: fs.FileHandle | undefined;
  try {
    handle = await fs.open(abs, "r");
    sizeHint ??= (await handle.stat()).size;
    const params = chunkParamsFor(sizeHint);
    const blocks: BlockRef[] = [];
    // One byte over the hint, so a file that is exactly its hint is read to EOF in one call.
    // A zeroed 1 MiB for each of thousands of small files cost more than reading them (W1:
    // 0.4 s of the sender's 1.6 s): big buffers only for big files.
    const big = READ_SIZE + params.max;
    let buf = new Uint8Array(sizeHint >= READ_SIZE ? big : Math.max(4096, sizeHint + 1));
    // buf[0, end) is read and not yet cut; the next read goes after it, so the bytes of a cut
    // that needs more are never copied but for the short rest moved to the front.
    let end = 0;
    let size = 0;
    let reads = 0;
    let moved = false;
    const cut = (final: boolean) => {
      const before = blocks.length;
      const rest = cutChunks(buf, 0, end, params, final, (at, length) => {
        blocks.push([hashBlock(buf.subarray(at, at + length)), length]);
      });
      if (sink && blocks.length > before) sink.add(blocks.slice(before));
      return rest;
    };
    for (;;) {
      if (end === buf.length) {
        // Bigger than its hint: read on in big pieces.
        const bigger = new Uint8Array(big);
        bigger.set(buf);
        buf = bigger;
        moved = true;
      }
      const { bytesRead } = await handle.read(buf, end, buf.length - end, null);
      if (bytesRead === 0) break;
      reads++;
      size += bytesRead;
      end += bytesRead;
      reclaimAfter(bytesRead);
      const rest = cut(false);
      if (rest > 0) {
        buf.copyWithin(0, rest, end);
        end -= rest;
        moved = true;
      }
    }
    cut(true);
    // The bytes of a small file are its only read, still where they were read to.
    const bytes = reads === 1 && !moved && size <= SMALL_FILE ? buf.subarray(0, size) : undefined;
    const { size: afterSize, mtimeMs, ino } = await handle.stat();
    const after = { size: afterSize, mtimeMs, ino };
    return { size, hash: hashBlockList(blocks.map((b) => b[0])), blocks, after, ...(bytes ? { bytes } : {}) };
  } finally {
    sink?.end();
    await handle?.close();
  }
}
