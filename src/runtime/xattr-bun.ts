import { dlopen, FFIType, read } from "bun:ffi";
import type { Xattrs } from "./types.ts";
import { type LibcXattrCalls, libcFor, libcXattrs, NO_XATTRS, XATTR_NOFOLLOW } from "./xattr-libc.ts";

const { i32, u32, u64, ptr, i64_fast } = FFIType;

/**
 * Extended attributes through libc with bun:ffi: Linux's `f*xattr`/`l*xattr`, macOS's
 * `f*xattr`/`*xattr` with XATTR_NOFOLLOW. Throws if the library cannot be opened (musl has no
 * libc.so.6); `loadRuntime` then runs without xattrs.
 */
export function loadBunXattrs(platform: string = process.platform): Xattrs {
  const libc = libcFor(platform);
  if (!libc) return NO_XATTRS;
  const calls = platform === "darwin" ? darwinCalls(libc.path) : linuxCalls(libc.path);
  return libcXattrs(calls, platform);
}

function linuxCalls(path: string): LibcXattrCalls {
  const { symbols: s } = dlopen(path, {
    flistxattr: { args: [i32, ptr, u64], returns: i64_fast },
    llistxattr: { args: [ptr, ptr, u64], returns: i64_fast },
    fgetxattr: { args: [i32, ptr, ptr, u64], returns: i64_fast },
    lgetxattr: { args: [ptr, ptr, ptr, u64], returns: i64_fast },
    fsetxattr: { args: [i32, ptr, ptr, u64, i32], returns: i32 },
    lsetxattr: { args: [ptr, ptr, ptr, u64, i32], returns: i32 },
    fremovexattr: { args: [i32, ptr], returns: i32 },
    lremovexattr: { args: [ptr, ptr], returns: i32 },
    __errno_location: { args: [], returns: ptr },
  });
  return {
    list: (t, buf, size) => Number(typeof t === "number" ? s.flistxattr(t, buf, size) : s.llistxattr(t, buf, size)),
    get: (t, name, buf, size) => Number(typeof t === "number" ? s.fgetxattr(t, name, buf, size) : s.lgetxattr(t, name, buf, size)),
    set: (t, name, value, size) => (typeof t === "number" ? s.fsetxattr(t, name, value, size, 0) : s.lsetxattr(t, name, value, size, 0)),
    remove: (t, name) => (typeof t === "number" ? s.fremovexattr(t, name) : s.lremovexattr(t, name)),
    errno: () => read.i32(s.__errno_location()!, 0),
  };
}

function darwinCalls(path: string): LibcXattrCalls {
  const { symbols: s } = dlopen(path, {
    flistxattr: { args: [i32, ptr, u64, i32], returns: i64_fast },
    listxattr: { args: [ptr, ptr, u64, i32], returns: i64_fast },
    fgetxattr: { args: [i32, ptr, ptr, u64, u32, i32], returns: i64_fast },
    getxattr: { args: [ptr, ptr, ptr, u64, u32, i32], returns: i64_fast },
    fsetxattr: { args: [i32, ptr, ptr, u64, u32, i32], returns: i32 },
    setxattr: { args: [ptr, ptr, ptr, u64, u32, i32], returns: i32 },
    fremovexattr: { args: [i32, ptr, i32], returns: i32 },
    removexattr: { args: [ptr, ptr, i32], returns: i32 },
    __error: { args: [], returns: ptr },
  });
  const NF = XATTR_NOFOLLOW;
  return {
    list: (t, buf, size) => Number(typeof t === "number" ? s.flistxattr(t, buf, size, 0) : s.listxattr(t, buf, size, NF)),
    get: (t, name, buf, size) => Number(typeof t === "number" ? s.fgetxattr(t, name, buf, size, 0, 0) : s.getxattr(t, name, buf, size, 0, NF)),
    set: (t, name, value, size) => (typeof t === "number" ? s.fsetxattr(t, name, value, size, 0, 0) : s.setxattr(t, name, value, size, 0, NF)),
    remove: (t, name) => (typeof t === "number" ? s.fremovexattr(t, name, 0) : s.removexattr(t, name, NF)),
    errno: () => read.i32(s.__error()!, 0),
  };
}
