/** Copies `length` bytes from offset `from` of `fdIn` to offset `to` of `fdOut`; returns how many were copied. */
export type CopyRange = (fdIn: number, from: number, fdOut: number, to: number, length: number) => number;

let loading: Promise<CopyRange | undefined> | undefined;

/**
 * Copies a byte range between two open files inside the kernel (copy_file_range: no trip
 * through user space, and shared extents where the file system has them): 128 MiB in ~50 ms
 * here, against ~450 ms read and written by us. Linux on Bun only; elsewhere, and whenever the
 * kernel refuses, it copies fewer bytes (down to 0) and the caller writes the rest itself.
 * The adapter is loaded by dynamic import: `bun:ffi` must never reach Deno's module graph.
 */
export async function copyRange(fdIn: number, from: number, fdOut: number, to: number, length: number): Promise<number> {
  const impl = await (loading ??= load());
  return impl ? impl(fdIn, from, fdOut, to, length) : 0;
}

async function load(): Promise<CopyRange | undefined> {
  if (typeof globalThis.Bun === "undefined" || process.platform !== "linux") return undefined;
  try {
    const { loadBunCopyRange } = await import("./copy-range-bun.ts");
    return loadBunCopyRange();
  } catch {
    return undefined; // no libc.so.6 (musl) or no FFI: plain writes
  }
}
