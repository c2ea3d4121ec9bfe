import * as fs from "node:fs";
import * as path from "node:path";
import { STATE_DIR } from "../core/wire-path.ts";
import { type DirLock, describeHolder, type LockOutcome, takeDirLock } from "../fsutil/dir-lock.ts";
import { dataDirProblem, syncFolderProblem } from "../fsutil/folder-roles.ts";
import { EXIT_FAILURE, EXIT_USAGE } from "./exit-codes.ts";

/*
 * One process per data dir and per sync folder, each in a place that cannot feed back into
 * itself. A refusal is one sentence and a failing exit code; the caller then just returns.
 */

type Log = { error(message: string): void };

/** Takes `dataDir` for `serve`. Only serving locks it: admin commands such as fsck work beside a server. */
export function claimDataDir(dataDir: string, log: Log): DirLock | undefined {
  const misplaced = dataDirProblem(dataDir);
  if (misplaced) return _refuse(log, misplaced, EXIT_USAGE);
  const file = path.join(dataDir, "serve.lock");
  const taken = _lockIn(dataDir, file, `Cannot serve "${dataDir}"`);
  if (typeof taken === "string") return _refuse(log, taken, EXIT_USAGE);
  if ("holder" in taken) return _refuse(log, `Cannot serve "${dataDir}": it is already served by ${describeHolder(taken.holder, file)}`);
  return taken.lock;
}

/** Takes `root` (created if missing) for `sync`. */
export function claimSyncFolder(root: string, log: Log): DirLock | undefined {
  const misplaced = syncFolderProblem(root);
  if (misplaced) return _refuse(log, misplaced, EXIT_USAGE);
  const stateDir = path.join(root, STATE_DIR);
  const file = path.join(stateDir, "sync.lock");
  const taken = _lockIn(stateDir, file, `Cannot sync "${root}"`);
  if (typeof taken === "string") return _refuse(log, taken, EXIT_USAGE);
  if ("holder" in taken) return _refuse(log, `Cannot sync "${root}": it is already synced by ${describeHolder(taken.holder, file)}`);
  return taken.lock;
}

/**
 * Makes `dir` and takes `file` in it; a path that cannot hold it (a file on the way, no write
 * permission, a read-only disk) is one sentence, starting with `cannot` when a file is in the way.
 */
function _lockIn(dir: string, file: string, cannot: string): LockOutcome | string {
  try {
    fs.mkdirSync(dir, { recursive: true });
    return takeDirLock(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOTDIR" || code === "EEXIST") return `${cannot}: a file is in the way of ${dir} (choose a folder)`;
    if (code === "EACCES" || code === "EPERM") return `Cannot write ${dir}: permission denied (choose a folder you own)`;
    if (code === "EROFS") return `Cannot write ${dir}: the disk is read-only (choose a writable folder)`;
    throw e;
  }
}

function _refuse(log: Log, why: string, exitCode = EXIT_FAILURE): undefined {
  log.error(why);
  process.exitCode = exitCode;
  return undefined;
}
