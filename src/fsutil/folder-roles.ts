import * as fs from "node:fs";
import * as path from "node:path";
import { STATE_DIR } from "../core/wire-path.ts";

/*
 * A sync folder inside another sync folder, or inside a server's data dir (or the other way
 * round), feeds back into itself: what one writes, the other picks up as a change, forever.
 * These checks look only at the folder and its ancestors; none of them walks a tree.
 */

/** Why `root` cannot be a sync folder, or undefined when it can. */
export function syncFolderProblem(root: string): string | undefined {
  for (const dir of _selfAndAncestors(root)) {
    if (_isDataDir(dir)) {
      return dir === root ? `Cannot sync "${root}": it is a server data dir` : `Cannot sync "${root}": it is inside the server data dir "${dir}"`;
    }
    if (dir !== root && _isSyncFolder(dir)) return `Cannot sync "${root}": it is inside the sync folder "${dir}"`;
  }
  return undefined;
}

/** Why `dataDir` cannot hold a server's data, or undefined when it can. */
export function dataDirProblem(dataDir: string): string | undefined {
  for (const dir of _selfAndAncestors(dataDir)) {
    if (!_isSyncFolder(dir)) continue;
    return dir === dataDir ? `Cannot serve "${dataDir}": it is a sync folder` : `Cannot serve "${dataDir}": it is inside the sync folder "${dir}"`;
  }
  return undefined;
}

function* _selfAndAncestors(dir: string): Generator<string> {
  for (let d = path.resolve(dir); ; d = path.dirname(d)) {
    yield d;
    if (path.dirname(d) === d) return;
  }
}

/**
 * What every server data dir holds (store/data-dir.ts), whether or not a server runs on it:
 * its access store (`access.db`); or, from before tokens, its blocks and its shares' journals
 * (`shares/`), or the one journal of a data dir from before shares (`meta.db`).
 */
function _isDataDir(dir: string): boolean {
  if (fs.existsSync(path.join(dir, "access.db"))) return true;
  const journal = fs.existsSync(path.join(dir, "shares")) || fs.existsSync(path.join(dir, "meta.db"));
  return journal && fs.existsSync(path.join(dir, "blocks"));
}

function _isSyncFolder(dir: string): boolean {
  return fs.existsSync(path.join(dir, STATE_DIR, "state.db"));
}
