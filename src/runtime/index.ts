import type { Runtime } from "./types.ts";

/**
 * Picks the adapters for the runtime we are on. They are loaded by dynamic import after
 * detection: a static `import "bun:sqlite"` anywhere would stop Deno from loading the program.
 */
export async function loadRuntime(): Promise<Runtime> {
  if (typeof globalThis.Bun !== "undefined") {
    const [{ bunTcp }, { openBunDatabase }] = await Promise.all([import("./tcp-bun.ts"), import("./sqlite-bun.ts")]);
    return { name: "bun", tcp: bunTcp, openDatabase: openBunDatabase };
  }
  const [{ nodeTcp }, { openNodeDatabase }] = await Promise.all([import("./tcp-node.ts"), import("./sqlite-node.ts")]);
  return { name: "Deno" in globalThis ? "deno" : "node", tcp: nodeTcp, openDatabase: openNodeDatabase };
}
