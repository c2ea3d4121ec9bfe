import { rationedCollector } from "./reclaim.ts";
import { syncDir } from "./sync-dir.ts";
import type { CopyRange, Reclaim, Runtime, Xattrs } from "./types.ts";
import { loadWatcher } from "./watcher.ts";
import { NO_XATTRS } from "./xattr-libc.ts";

/** Where the kernel cannot copy for us: the caller writes every byte itself. */
const NO_COPY_RANGE: CopyRange = () => 0;
/** Runtimes whose collector keeps up with buffer traffic on its own. */
const NO_RECLAIM: Reclaim = () => {};

/**
 * Picks the adapters for the runtime we are on: the one place that looks at which runtime
 * this is. They are loaded by dynamic import after detection: a static `import "bun:sqlite"`
 * anywhere would stop Deno from loading the program.
 */
export async function loadRuntime(): Promise<Runtime> {
  if (typeof globalThis.Bun !== "undefined") {
    const reclaimAfter = rationedCollector(() => Bun.gc(true), () => process.memoryUsage.rss());
    const [{ bunTcp }, { openBunDatabase }, xattrs, copyRange] = await Promise.all([
      import("./tcp-bun.ts"),
      import("./sqlite-bun.ts"),
      loadXattrs("bun"),
      loadBunCopyRange(),
    ]);
    return { name: "bun", tcp: bunTcp(reclaimAfter), openDatabase: openBunDatabase, xattrs, copyRange, reclaimAfter, syncDir, loadWatcher };
  }
  const name = "Deno" in globalThis ? "deno" : "node";
  const [{ nodeTcp }, { openNodeDatabase }, xattrs] = await Promise.all([import("./tcp-node.ts"), import("./sqlite-node.ts"), loadXattrs(name)]);
  return { name, tcp: nodeTcp, openDatabase: openNodeDatabase, xattrs, copyRange: NO_COPY_RANGE, reclaimAfter: NO_RECLAIM, syncDir, loadWatcher };
}

/** copy_file_range through bun:ffi: Linux only, and not where libc cannot be opened (musl) or FFI is refused. */
async function loadBunCopyRange(): Promise<CopyRange> {
  if (process.platform !== "linux") return NO_COPY_RANGE;
  try {
    return (await import("./copy-range-bun.ts")).loadBunCopyRange();
  } catch {
    return NO_COPY_RANGE;
  }
}

/** Extended attributes through libc by FFI; none on Node (no FFI), Windows, or where libc cannot be opened (musl) or FFI is refused. */
async function loadXattrs(name: Runtime["name"]): Promise<Xattrs> {
  try {
    if (name === "bun") return (await import("./xattr-bun.ts")).loadBunXattrs();
    if (name === "deno") return (await import("./xattr-deno.ts")).loadDenoXattrs();
  } catch {
    // Run without: reads find no attributes to sync, and writes are skipped as on a file system without them.
  }
  return NO_XATTRS;
}
