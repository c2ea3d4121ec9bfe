import process from "node:process";
import type { Xattrs } from "./types.ts";
import { type LibcXattrCalls, libcFor, libcXattrs, NO_XATTRS, XATTR_NOFOLLOW } from "./xattr-libc.ts";

/**
 * The slice of Deno's FFI used here, typed locally: the project type-checks against bun-types,
 * which know no `Deno`. Deno passes a typed array as a "buffer" parameter by its address, and
 * returns "isize" as a bigint.
 */
type NativeType = "i32" | "u32" | "usize" | "isize" | "buffer" | "pointer";
type Call = (...args: (number | Uint8Array | null)[]) => number | bigint | object | null;
interface DenoFfi {
  dlopen(path: string, symbols: Record<string, { parameters: NativeType[]; result: NativeType }>): { symbols: Record<string, Call> };
  UnsafePointerView: new (pointer: object) => { getInt32(offset?: number): number };
}

/**
 * Extended attributes through libc with `Deno.dlopen`: the same symbols as `xattr-bun.ts`.
 * Throws if the library cannot be opened or FFI is not allowed (`--allow-ffi`); `loadRuntime`
 * then runs without xattrs.
 */
export function loadDenoXattrs(platform: string = process.platform): Xattrs {
  const libc = libcFor(platform);
  if (!libc) return NO_XATTRS;
  const ffi = (globalThis as unknown as { Deno: DenoFfi }).Deno;
  const calls = platform === "darwin" ? darwinCalls(ffi, libc.path) : linuxCalls(ffi, libc.path);
  return libcXattrs(calls, platform);
}

const errnoReader = (ffi: DenoFfi, accessor: Call) => () => new ffi.UnsafePointerView(accessor() as object).getInt32(0);

function linuxCalls(ffi: DenoFfi, path: string): LibcXattrCalls {
  const { symbols: s } = ffi.dlopen(path, {
    flistxattr: { parameters: ["i32", "buffer", "usize"], result: "isize" },
    llistxattr: { parameters: ["buffer", "buffer", "usize"], result: "isize" },
    fgetxattr: { parameters: ["i32", "buffer", "buffer", "usize"], result: "isize" },
    lgetxattr: { parameters: ["buffer", "buffer", "buffer", "usize"], result: "isize" },
    fsetxattr: { parameters: ["i32", "buffer", "buffer", "usize", "i32"], result: "i32" },
    lsetxattr: { parameters: ["buffer", "buffer", "buffer", "usize", "i32"], result: "i32" },
    fremovexattr: { parameters: ["i32", "buffer"], result: "i32" },
    lremovexattr: { parameters: ["buffer", "buffer"], result: "i32" },
    __errno_location: { parameters: [], result: "pointer" },
  });
  return {
    list: (t, buf, size) => Number(typeof t === "number" ? s.flistxattr!(t, buf, size) : s.llistxattr!(t, buf, size)),
    get: (t, name, buf, size) => Number(typeof t === "number" ? s.fgetxattr!(t, name, buf, size) : s.lgetxattr!(t, name, buf, size)),
    set: (t, name, value, size) => Number(typeof t === "number" ? s.fsetxattr!(t, name, value, size, 0) : s.lsetxattr!(t, name, value, size, 0)),
    remove: (t, name) => Number(typeof t === "number" ? s.fremovexattr!(t, name) : s.lremovexattr!(t, name)),
    errno: errnoReader(ffi, s.__errno_location!),
  };
}

function darwinCalls(ffi: DenoFfi, path: string): LibcXattrCalls {
  const { symbols: s } = ffi.dlopen(path, {
    flistxattr: { parameters: ["i32", "buffer", "usize", "i32"], result: "isize" },
    listxattr: { parameters: ["buffer", "buffer", "usize", "i32"], result: "isize" },
    fgetxattr: { parameters: ["i32", "buffer", "buffer", "usize", "u32", "i32"], result: "isize" },
    getxattr: { parameters: ["buffer", "buffer", "buffer", "usize", "u32", "i32"], result: "isize" },
    fsetxattr: { parameters: ["i32", "buffer", "buffer", "usize", "u32", "i32"], result: "i32" },
    setxattr: { parameters: ["buffer", "buffer", "buffer", "usize", "u32", "i32"], result: "i32" },
    fremovexattr: { parameters: ["i32", "buffer", "i32"], result: "i32" },
    removexattr: { parameters: ["buffer", "buffer", "i32"], result: "i32" },
    __error: { parameters: [], result: "pointer" },
  });
  const NF = XATTR_NOFOLLOW;
  return {
    list: (t, buf, size) => Number(typeof t === "number" ? s.flistxattr!(t, buf, size, 0) : s.listxattr!(t, buf, size, NF)),
    get: (t, name, buf, size) => Number(typeof t === "number" ? s.fgetxattr!(t, name, buf, size, 0, 0) : s.getxattr!(t, name, buf, size, 0, NF)),
    set: (t, name, value, size) => Number(typeof t === "number" ? s.fsetxattr!(t, name, value, size, 0, 0) : s.setxattr!(t, name, value, size, 0, NF)),
    remove: (t, name) => Number(typeof t === "number" ? s.fremovexattr!(t, name, 0) : s.removexattr!(t, name, NF)),
    errno: errnoReader(ffi, s.__error!),
  };
}
