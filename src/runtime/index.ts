import type { Runtime, Xattrs } from "./types.ts";
import { NO_XATTRS } from "./xattr-libc.ts";

/**
 * Picks the adapters for the runtime we are on. They are loaded by dynamic import after
 * detection: a static `import "bun:sqlite"` anywhere would stop Deno from loading the program.
 */
export async function loadRuntime(): Promise<Runtime> {
  if (typeof globalThis.Bun !== "undefined") {
    const [{ bunTcp }, { openBunDatabase }, xattrs] = await Promise.all([import("./tcp-bun.ts"), import("./sqlite-bun.ts"), loadXattrs("bun")]);
    return { name: "bun", tcp: bunTcp, openDatabase: openBunDatabase, xattrs };
  }
  const name = "Deno" in globalThis ? "deno" : "node";
  const [{ nodeTcp }, { openNodeDatabase }, xattrs] = await Promise.all([import("./tcp-node.ts"), import("./sqlite-node.ts"), loadXattrs(name)]);
  return { name, tcp: nodeTcp, openDatabase: openNodeDatabase, xattrs };
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
