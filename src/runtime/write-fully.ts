import { writevSync, writeSync } from "node:fs";

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

/** Writes `buffers` end to end at `position`, synchronously, in one `writev` when the kernel takes it all. */
export function writeAllV(fd: number, buffers: readonly Uint8Array[], position: number): void {
  let written = writevSync(fd, buffers as Uint8Array[], position);
  // A partial write (a signal, a nearly full disk): the rest buffer by buffer, from where it stopped.
  let at = position;
  for (const b of buffers) {
    const done = Math.min(written, b.length);
    if (done < b.length) writeFully(fd, b.subarray(done), at + done);
    written -= done;
    at += b.length;
  }
}
