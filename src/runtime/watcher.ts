import * as os from "node:os";
import type { Watcher } from "./types.ts";

/**
 * From sources (Bun or Deno) this is the npm package, which picks its platform's prebuilt
 * addon at run time with a computed `require` — which `bun build --compile` cannot follow.
 * So in a standalone binary, scripts/build-binaries.ts resolves this very import to a
 * generated module that requires the target's `watcher.node` by a literal path (embedding
 * it) and wraps it with the package's own wrapper.js: the same API either way.
 */
export async function loadWatcher(): Promise<Watcher> {
  try {
    return (await import("@parcel/watcher")) as Watcher;
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    throw new Error(`Cannot load the file watcher (@parcel/watcher) on ${os.platform()}-${os.arch()}: ${why}`, { cause: e });
  }
}
