import { dlopen, FFIType, ptr } from "bun:ffi";
import type { CopyRange } from "./types.ts";

/** Copied per call, each piece then started on its way to disk. */
const SLICE = 16 * 1024 * 1024;
/** sync_file_range(2): start writing the range's dirty pages out, wait for nothing. */
const SYNC_FILE_RANGE_WRITE = 2;

/**
 * Linux's copy_file_range(2) from libc, called through bun:ffi. Every copy made here goes into a
 * temp file that is fsynced before it is used (a patched copy of a download), and the kernel
 * copies into the page cache only: the fsync would then write everything at once. Each slice is
 * started on its way to disk as soon as it is copied, so the writing overlaps the rest of the
 * copy (256 MiB copied and fsynced: 0.39–0.60 s → 0.20–0.37 s here, the fsync 170–430 ms →
 * 8–100 ms).
 */
export function loadBunCopyRange(): CopyRange {
  const { symbols } = dlopen("libc.so.6", {
    copy_file_range: { args: [FFIType.i32, FFIType.ptr, FFIType.i32, FFIType.ptr, FFIType.u64, FFIType.u32], returns: FFIType.i64_fast },
    sync_file_range: { args: [FFIType.i32, FFIType.i64, FFIType.i64, FFIType.u32], returns: FFIType.i32 },
  });
  // The kernel reads and advances the two offsets through these pointers.
  const offsets = new BigInt64Array(2);
  return (fdIn, from, fdOut, to, length) => {
    offsets[0] = BigInt(from);
    offsets[1] = BigInt(to);
    let done = 0;
    while (done < length) {
      const n = Number(symbols.copy_file_range(fdIn, ptr(offsets, 0), fdOut, ptr(offsets, 8), Math.min(SLICE, length - done), 0));
      if (n <= 0) break; // an error (EXDEV, ENOSYS, EINVAL…) or the source's end: the caller writes the rest
      // Only a hint: where it fails (a file system without writeback), the fsync does it all.
      symbols.sync_file_range(fdOut, to + done, n, SYNC_FILE_RANGE_WRITE);
      done += n;
    }
    return done;
  };
}
