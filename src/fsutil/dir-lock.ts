import * as fs from "node:fs";
import * as os from "node:os";
import { DropsimError } from "../core/errors.ts";

/** Who holds a lock: enough for a person to find the process. */
export interface LockHolder {
  pid: number;
  host: string;
  /** When the holder took the lock (ISO 8601). */
  started: string;
}

export interface DirLock {
  /** Removes the lock file if it is still ours; also done at exit. */
  release(): void;
}

export type LockOutcome = { lock: DirLock } | { holder: LockHolder };

/** A lock file that names nobody (not written by dropsim, or damaged). */
const JUNK = "junk";
const ATTEMPTS = 3;
/** How file systems without hard links (FAT, exFAT) refuse one. */
const NO_HARD_LINKS = new Set(["EPERM", "ENOTSUP", "EOPNOTSUPP", "ENOSYS"]);

/**
 * Takes the lock file `file` for this process, or says who holds it.
 *
 * Invariant: a lock file is always whole. It is written under a name of its own, then hard-linked
 * to `file`, which fails when `file` exists (O_EXCL semantics, also on NFS). A holder whose pid
 * no longer runs on this host, or is ours (a container restarted with the same pid), is stale
 * and replaced; a holder on another host cannot be checked from here and is left to a person.
 * The lock is released at exit; after a kill or a crash it stays behind, stale.
 */
export function takeDirLock(file: string): LockOutcome {
  const me: LockHolder = { pid: process.pid, host: os.hostname(), started: new Date().toISOString() };
  const draft = `${file}.${process.pid}.new`;
  fs.writeFileSync(draft, JSON.stringify(me));
  try {
    for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
      if (_linkNew(draft, file)) return { lock: _held(file, me) };
      const holder = _readHolder(file);
      if (holder === undefined) continue; // released meanwhile
      if (holder !== JUNK && !_isStale(holder)) return { holder };
      _removeStale(file, holder);
    }
    // Others kept taking it between our looks: whoever holds it now is the answer.
    const holder = _readHolder(file);
    if (holder === undefined || holder === JUNK) throw new DropsimError("io", `Cannot take the lock "${file}": it changed hands ${ATTEMPTS} times while we tried`);
    return { holder };
  } finally {
    fs.rmSync(draft, { force: true });
  }
}

/** "pid 123 on host (started …)", with what to do when nobody here can tell whether it runs. */
export function describeHolder(holder: LockHolder, file: string): string {
  const who = `pid ${holder.pid} on ${holder.host} (started ${holder.started})`;
  return holder.host === os.hostname() ? who : `${who}; if that process has stopped, delete "${file}"`;
}

/** Puts `from`'s content at `to` unless `to` exists; false when it does. */
function _linkNew(from: string, to: string): boolean {
  try {
    fs.linkSync(from, to);
    return true;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? "";
    if (code === "EEXIST") return false;
    if (!NO_HARD_LINKS.has(code)) throw e;
  }
  // Created exclusively instead: for an instant the lock is empty, and a process starting in
  // that instant takes it for junk. Rare enough on the removable disks that lack hard links.
  try {
    fs.writeFileSync(to, fs.readFileSync(from), { flag: "wx" });
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw e;
  }
}

function _held(file: string, me: LockHolder): DirLock {
  const release = () => {
    process.off("exit", release);
    if (_sameHolder(_readHolder(file), me)) fs.rmSync(file, { force: true });
  };
  process.on("exit", release);
  return { release };
}

/**
 * Moves a stale lock aside rather than deleting it: between reading it and acting, another
 * process may have replaced it with a live lock of its own. That one is put back.
 */
function _removeStale(file: string, stale: LockHolder | typeof JUNK): void {
  const aside = `${file}.${process.pid}.stale`;
  try {
    fs.renameSync(file, aside);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return;
    throw e;
  }
  const moved = _readHolder(aside);
  if (moved !== undefined && moved !== JUNK && !_sameHolder(moved, stale) && !_isStale(moved)) _linkNew(aside, file);
  fs.rmSync(aside, { force: true });
}

/** The holder named in `file`, JUNK when it names nobody, undefined when there is no such file. */
function _readHolder(file: string): LockHolder | typeof JUNK | undefined {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw e;
  }
  try {
    const v = JSON.parse(text) as Partial<LockHolder>;
    if (Number.isSafeInteger(v.pid) && v.pid! > 0 && typeof v.host === "string" && typeof v.started === "string") {
      return { pid: v.pid!, host: v.host, started: v.started };
    }
  } catch {
    // not JSON: junk, like a JSON value of the wrong shape
  }
  return JUNK;
}

function _sameHolder(a: LockHolder | typeof JUNK | undefined, b: LockHolder | typeof JUNK): boolean {
  if (a === undefined || a === JUNK || b === JUNK) return a === b;
  return a.pid === b.pid && a.host === b.host && a.started === b.started;
}

function _isStale(holder: LockHolder): boolean {
  if (holder.host !== os.hostname()) return false;
  if (holder.pid === process.pid) return true;
  try {
    process.kill(holder.pid, 0);
    return false;
  } catch (e) {
    // EPERM: it runs, as another user.
    return (e as NodeJS.ErrnoException).code === "ESRCH";
  }
}
