import * as fs from "node:fs";
import * as path from "node:path";
import { STATE_DIR } from "../core/wire-path.ts";
import { type DirLock, describeHolder, takeDirLock } from "../fsutil/dir-lock.ts";
import { dataDirProblem, syncFolderProblem } from "../fsutil/folder-roles.ts";

/*
 * One process per data dir and per sync folder, each in a place that cannot feed back into
 * itself. A refusal is one sentence and a failing exit code; the caller then just returns.
 */

type Log = { error(message: string): void };

/** Takes `dataDir` for `serve`. Only serving locks it: admin commands such as fsck work beside a server. */
export function claimDataDir(dataDir: string, log: Log): DirLock | undefined {
  const misplaced = dataDirProblem(dataDir);
  if (misplaced) return _refuse(log, misplaced);
  fs.mkdirSync(dataDir, { recursive: true });
  const file = path.join(dataDir, "serve.lock");
  const taken = takeDirLock(file);
  if ("holder" in taken) return _refuse(log, `Cannot serve "${dataDir}": it is already served by ${describeHolder(taken.holder, file)}`);
  return taken.lock;
}

/** Takes `root` (created if missing) for `sync`. */
export function claimSyncFolder(root: string, log: Log): DirLock | undefined {
  const misplaced = syncFolderProblem(root);
  if (misplaced) return _refuse(log, misplaced);
  const stateDir = path.join(root, STATE_DIR);
  fs.mkdirSync(stateDir, { recursive: true });
  const file = path.join(stateDir, "sync.lock");
  const taken = takeDirLock(file);
  if ("holder" in taken) return _refuse(log, `Cannot sync "${root}": it is already synced by ${describeHolder(taken.holder, file)}`);
  return taken.lock;
}

function _refuse(log: Log, why: string): undefined {
  log.error(why);
  process.exitCode = 1;
  return undefined;
}
