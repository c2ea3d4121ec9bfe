import { constants } from "node:os";
import type { Xattrs, XattrTarget } from "./types.ts";

/**
 * The part of the xattr adapters that does not depend on how a runtime calls C: buffer sizing,
 * name lists, errno. `xattr-bun.ts` and `xattr-deno.ts` only bind the libc symbols.
 */

/**
 * The libc calls an adapter binds, one per operation, choosing the fd form (`f*xattr`) for a
 * number and the no-follow path form (Linux `l*xattr`, macOS with XATTR_NOFOLLOW) for a
 * NUL-terminated path; macOS's `position` is 0. Each returns what libc does: -1 and errno on failure.
 */
export interface LibcXattrCalls {
  list(target: number | Uint8Array, buf: Uint8Array | null, size: number): number;
  get(target: number | Uint8Array, name: Uint8Array, buf: Uint8Array | null, size: number): number;
  set(target: number | Uint8Array, name: Uint8Array, value: Uint8Array, size: number): number;
  remove(target: number | Uint8Array, name: Uint8Array): number;
  /** errno as the last call left it: read right after the call, before anything else runs. */
  errno(): number;
}

/** The C library holding the xattr calls on `platform`, and its errno accessor; undefined where there is none we bind. */
export function libcFor(platform: string): { path: string; errnoSymbol: "__errno_location" | "__error" } | undefined {
  if (platform === "linux") return { path: "libc.so.6", errnoSymbol: "__errno_location" };
  if (platform === "darwin") return { path: "libSystem.B.dylib", errnoSymbol: "__error" };
  return undefined;
}

/** macOS's `options` bit that acts on a symlink itself (<sys/xattr.h>). */
export const XATTR_NOFOLLOW = 0x0001;
/** macOS's "no such attribute", which Node's errno table does not list (Linux says ENODATA). */
const ENOATTR_DARWIN = 93;
/** The list or a value may grow between asking its size and reading it: retry that many times. */
const SIZE_RETRIES = 8;

const encoder = new TextEncoder();
const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

function errnoCode(errno: number, platform: string): string {
  const table = constants.errno as Record<string, number>;
  if (platform === "darwin" && errno === ENOATTR_DARWIN) return "ENODATA";
  if (errno === table.ENOTSUP || errno === table.EOPNOTSUPP) return "ENOTSUP";
  for (const [code, n] of Object.entries(table)) if (n === errno) return code;
  return `E${errno}`;
}

/** An error shaped like Node's system errors, so that callers test `code` as they do for `node:fs`. */
export function xattrError(code: string, errno: number, syscall: string, target: XattrTarget): NodeJS.ErrnoException {
  const where = typeof target === "number" ? `file descriptor ${target}` : `"${target}"`;
  const e: NodeJS.ErrnoException = new Error(`Cannot ${syscall} on ${where}: ${code}`);
  e.code = code;
  e.errno = errno;
  e.syscall = syscall;
  if (typeof target === "string") e.path = target;
  return e;
}

function cString(s: string, what: string): Uint8Array {
  if (s.includes("\0")) throw Object.assign(new TypeError(`Cannot use ${what} ${JSON.stringify(s)}: it holds a NUL`), { code: "EINVAL" });
  return encoder.encode(`${s}\0`);
}

/** Names in a list buffer: each ends with a NUL. */
function splitNames(buf: Uint8Array, length: number): string[] {
  const names: string[] = [];
  let start = 0;
  for (let i = 0; i < length; i++) {
    if (buf[i] !== 0) continue;
    try {
      if (i > start) names.push(strictUtf8.decode(buf.subarray(start, i)));
    } catch {
      // Not UTF-8: no string names it, so it could not be read or written back anyway.
    }
    start = i + 1;
  }
  return names;
}

/** `Xattrs` over bound libc calls. */
export function libcXattrs(calls: LibcXattrCalls, platform: string): Xattrs {
  const target = (t: XattrTarget) => (typeof t === "number" ? t : cString(t, "path"));
  const failure = (syscall: string, t: XattrTarget) => {
    const errno = calls.errno();
    return xattrError(errnoCode(errno, platform), errno, syscall, t);
  };

  /** Asks the size, then reads; if what is read grew in between (ERANGE), asks again. */
  const sized = (syscall: string, t: XattrTarget, call: (buf: Uint8Array | null, size: number) => number): Uint8Array | undefined => {
    for (let attempt = 0; ; attempt++) {
      const size = call(null, 0);
      if (size < 0) {
        const e = failure(syscall, t);
        if (e.code === "ENODATA") return undefined;
        throw e;
      }
      if (size === 0) return new Uint8Array(0);
      const buf = new Uint8Array(size);
      const n = call(buf, size);
      if (n >= 0) return buf.subarray(0, n);
      const e = failure(syscall, t);
      if (e.code === "ENODATA") return undefined;
      if (e.code !== "ERANGE" || attempt === SIZE_RETRIES) throw e;
    }
  };

  return {
    supported: true,
    list(t) {
      const fd = target(t);
      const buf = sized("listxattr", t, (b, size) => calls.list(fd, b, size))!;
      return splitNames(buf, buf.length);
    },
    get(t, name) {
      const fd = target(t);
      const n = cString(name, "attribute name");
      return sized("getxattr", t, (b, size) => calls.get(fd, n, b, size));
    },
    set(t, name, value) {
      if (calls.set(target(t), cString(name, "attribute name"), value, value.length) < 0) throw failure("setxattr", t);
    },
    remove(t, name) {
      if (calls.remove(target(t), cString(name, "attribute name")) === 0) return true;
      const e = failure("removexattr", t);
      if (e.code === "ENODATA") return false;
      throw e;
    },
  };
}

/** Where no adapter can reach xattrs: every call fails as a file system without them would. */
export const NO_XATTRS: Xattrs = {
  supported: false,
  list: (t) => {
    throw xattrError("ENOTSUP", 0, "listxattr", t);
  },
  get: (t) => {
    throw xattrError("ENOTSUP", 0, "getxattr", t);
  },
  set: (t) => {
    throw xattrError("ENOTSUP", 0, "setxattr", t);
  },
  remove: (t) => {
    throw xattrError("ENOTSUP", 0, "removexattr", t);
  },
};
