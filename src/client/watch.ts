import * as path from "node:path";
import { STATE_DIR } from "../core/wire-path.ts";
import type { Runtime, WatchSubscription } from "../runtime/types.ts";

/**
 * Turns native change events under `root` into wire paths. The events only say where to look:
 * what changed is decided by comparing the folder with the index.
 */
export async function watchFolder(
  runtime: Pick<Runtime, "loadWatcher">,
  root: string,
  onPaths: (paths: string[]) => void,
  onError: (error: Error) => void,
): Promise<WatchSubscription> {
  const watcher = await runtime.loadWatcher();
  return watcher.subscribe(
    root,
    (error, events) => {
      if (error) return onError(error);
      const paths: string[] = [];
      for (const e of events) {
        const rel = path.relative(root, e.path);
        if (rel === "" || rel.startsWith("..") || path.isAbsolute(rel)) continue;
        const wire = rel.split(path.sep).join("/");
        if (wire === STATE_DIR || wire.startsWith(`${STATE_DIR}/`)) continue;
        paths.push(wire);
      }
      if (paths.length > 0) onPaths(paths);
    },
    { ignore: [STATE_DIR] },
  );
}
