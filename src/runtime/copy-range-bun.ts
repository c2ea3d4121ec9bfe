import { dlopen, FFIType, ptr } from "bun:ffi";
import type { CopyRange } from "./types.ts";

/** Linux's copy_file_range(2) from libc, called through bun:ffi. */
export function loadBunCopyRange(): CopyRange {
  const { symbols } = dlopen("libc.so.6", {
    copy_file_range: { args: [FFIType.i32, FFIType.ptr, FFIType.i32, FFIType.ptr, FFIType.u64, FFIType.u32], returns: FFIType.i64_fast },
  });
  // The kernel reads and advances the two offsets through these pointers.
  const offsets = new BigInt64Array(2);
  return (fdIn, from, fdOut, to, length) => {
    offsets[0] = BigInt(from);
    offsets[1] = BigInt(to);
    let done = 0;
    while (done < length) {
      const n = Number(symbols.copy_file_range(fdIn, ptr(offsets, 0), fdOut, ptr(offsets, 8), length - done, 0));
      if (n <= 0) break; // an error (EXDEV, ENOSYS, EINVAL…) or the source's end: the caller writes the rest
      done += n;
    }
    return done;
  };
}
