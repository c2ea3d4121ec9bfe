import type { FileHandle } from "node:fs/promises";

/**
 * Fills `buffers` end to end from `position` of an open file, with one `readv` when the kernel
 * gives everything at once (as it does for a regular file); resolves with the bytes read, fewer
 * than asked only where the file ends.
 */
export async function readInto(handle: FileHandle, buffers: readonly Uint8Array[], position: number): Promise<number> {
  let total = 0;
  for (const b of buffers) total += b.length;
  let got = (await handle.readv(buffers as Uint8Array[], position)).bytesRead;
  // A short read that is not the end of the file: go on from where it stopped, buffer by buffer.
  let skip = got;
  for (const b of buffers) {
    if (got === total) break;
    if (skip >= b.length) {
      skip -= b.length;
      continue;
    }
    while (skip < b.length) {
      const { bytesRead } = await handle.read(b, skip, b.length - skip, position + got);
      if (bytesRead === 0) return got;
      skip += bytesRead;
      got += bytesRead;
    }
    skip = 0;
  }
  return got;
}
