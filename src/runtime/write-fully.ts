import { writeSync } from "node:fs";

/**
 * Writes all of `bytes` at `position` (null: at the file's current offset), synchronously.
 * Bulk writes go through here rather than `FileHandle.write`: Bun's promise-based write holds
 * extra memory per call (measured while a 1 GiB file uploads: server peak RSS 160 MiB with it,
 * 115 MiB with this), and a write into the page cache takes microseconds, so the event loop
 * hardly waits. Throws what `writeSync` throws (ENOSPC included).
 */
export function writeFully(fd: number, bytes: Uint8Array, position: number | null): void {
  let done = 0;
  while (done < bytes.length) {
    done += writeSync(fd, bytes, done, bytes.length - done, position === null ? null : position + done);
  }
}
