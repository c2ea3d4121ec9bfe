import type { Entry, EntryKind } from "../core/entry.ts";
import type { SqlDatabase } from "../runtime/types.ts";
import type { LocalStat } from "../fsutil/scan.ts";
import type { RateLimits } from "../core/rate.ts";
import { migrate } from "../store/sql-migrations.ts";
import { SqlTransactions } from "../store/sql-transaction.ts";
import { type EntryRow, entryFromRow, entryToRow } from "../store/entry-row.ts";

/**
 * The client's memory, in `.dropsim/state.db`: for each path the entry both sides last agreed
 * on (the merge base) and the stat fingerprint the file had then, plus the journal cursor.
 * A path whose stat still matches its fingerprint is unchanged and is not read again.
 */
export interface Synced {
  entry: Entry;
  stat: LocalStat;
  /**
   * Synced by a dropsim from before extended attributes: the file's attributes were never
   * read, so they are read once, even though its stat is unchanged (see XATTRS_UNREAD).
   */
  xattrsUnread?: true;
}

/** What the index holds of a synced path short of its entry: enough to tell it unchanged. */
export interface Fingerprint {
  path: string;
  kind: EntryKind;
  /** The synced entry's mode. */
  mode: number;
  stat: LocalStat;
  /** See `Synced.xattrsUnread`. */
  xattrsUnread: boolean;
}

/** Rows read at once by `fingerprintsUnder`. */
const FINGERPRINT_PAGE = 1000;

export interface BlockSource {
  path: string;
  offset: number;
  size: number;
}

const SCHEMA = `
PRAGMA journal_mode = WAL;
PRAGMA synchronous = NORMAL;
CREATE TABLE IF NOT EXISTS files (
  path TEXT PRIMARY KEY,
  kind TEXT NOT NULL,
  size INTEGER NOT NULL,
  mode INTEGER NOT NULL,
  hash TEXT NOT NULL,
  blocks TEXT NOT NULL,
  version INTEGER NOT NULL,
  mtime REAL NOT NULL,
  st_size INTEGER NOT NULL,
  st_mtime REAL NOT NULL,
  st_ino INTEGER NOT NULL,
  st_mode INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS local_blocks (hash TEXT NOT NULL, path TEXT NOT NULL, offset INTEGER NOT NULL, size INTEGER NOT NULL, PRIMARY KEY (hash, path, offset)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS local_blocks_by_path ON local_blocks(path);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
`;

/** files.xattrs of a row written before extended attributes were synced (never JSON, which is an array). */
const XATTRS_UNREAD = "unread";

const EXCLUDED_KEY = "excluded";
const INCLUDING_KEY = "including";
const PAUSED_KEY = "paused";
const LIMITS_KEY = "limits";

/**
 * Changes to state.db files made by older versions, by PRAGMA user_version. Fingerprints from
 * before ctimes were kept take the first ctime seen (CTIME_UNKNOWN): no file is read again.
 */
const MIGRATIONS = [
  `ALTER TABLE files ADD COLUMN st_ctime REAL NOT NULL DEFAULT -1;
   CREATE INDEX IF NOT EXISTS files_by_ino ON files(st_ino);`,
  // Symlinks: their target (NULL for files and folders).
  "ALTER TABLE files ADD COLUMN target TEXT;",
  // Extended attributes of a synced file: its canonical set as JSON (NULL when it has none).
  // Rows from before are marked unread: their files' attributes are read once and, if any, uploaded.
  `ALTER TABLE files ADD COLUMN xattrs TEXT DEFAULT '${XATTRS_UNREAD}';`,
];

interface Row extends EntryRow {
  version: number;
  st_size: number;
  st_mtime: number;
  st_ino: number;
  st_mode: number;
  st_ctime: number;
}

const FINGERPRINT_COLUMNS = `path, kind, mode, st_size, st_mtime, st_ino, st_mode, st_ctime, xattrs IS '${XATTRS_UNREAD}' AS unread`;
type FingerprintRow = Pick<Row, "path" | "kind" | "mode" | "st_size" | "st_mtime" | "st_ino" | "st_mode" | "st_ctime"> & { unread: number };

function toFingerprint(r: FingerprintRow): Fingerprint {
  const stat: LocalStat = { kind: r.kind, size: r.st_size, mtimeMs: r.st_mtime, ctimeMs: r.st_ctime, ino: r.st_ino, mode: r.st_mode, nlink: 1 };
  return { path: r.path, kind: r.kind, mode: r.mode, stat, xattrsUnread: r.unread === 1 && r.kind === "file" };
}

function toSynced(r: Row): Synced {
  const unread = r.xattrs === XATTRS_UNREAD;
  const entry = entryFromRow(unread ? { ...r, xattrs: null } : r, r.version);
  const synced: Synced = { entry, stat: { kind: r.kind, size: r.st_size, mtimeMs: r.st_mtime, ctimeMs: r.st_ctime, ino: r.st_ino, mode: r.st_mode, nlink: 1 } };
  if (unread && r.kind === "file") synced.xattrsUnread = true;
  return synced;
}

export class LocalIndex {
  private readonly q;
  private readonly tx: SqlTransactions;

  constructor(private readonly db: SqlDatabase) {
    // Another process may hold the file for a moment (`dropsim status`, `exclude` or `pause`
    // reading it while the client starts and writes its schema): wait for it, do not fail.
    db.exec("PRAGMA busy_timeout = 5000");
    db.exec(SCHEMA);
    migrate(db, MIGRATIONS, "This folder's .dropsim/state.db");
    this.tx = new SqlTransactions(db);
    this.q = {
      get: db.prepare("SELECT * FROM files WHERE path = ?"),
      all: db.prepare("SELECT * FROM files"),
      under: db.prepare("SELECT * FROM files WHERE path > ? AND path < ?"),
      fingerprint: db.prepare(`SELECT ${FINGERPRINT_COLUMNS} FROM files WHERE path = ?`),
      countUnder: db.prepare("SELECT COUNT(*) AS n FROM files WHERE path > ? AND path < ?"),
      fingerprintsAll: db.prepare(`SELECT ${FINGERPRINT_COLUMNS} FROM files WHERE path > ? ORDER BY path LIMIT ?`),
      fingerprintsUnder: db.prepare(`SELECT ${FINGERPRINT_COLUMNS} FROM files WHERE path > ? AND path < ? ORDER BY path LIMIT ?`),
      put: db.prepare(
        `INSERT INTO files (path, kind, size, mode, hash, blocks, version, mtime, st_size, st_mtime, st_ino, st_mode, st_ctime, target, xattrs)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(path) DO UPDATE SET
         kind = excluded.kind, size = excluded.size, mode = excluded.mode, hash = excluded.hash, blocks = excluded.blocks,
         version = excluded.version, mtime = excluded.mtime, st_size = excluded.st_size, st_mtime = excluded.st_mtime,
         st_ino = excluded.st_ino, st_mode = excluded.st_mode, st_ctime = excluded.st_ctime, target = excluded.target,
         xattrs = excluded.xattrs`,
      ),
      byIno: db.prepare("SELECT path FROM files WHERE st_ino = ?"),
      setStat: db.prepare("UPDATE files SET st_size = ?, st_mtime = ?, st_ino = ?, st_mode = ?, st_ctime = ? WHERE path = ?"),
      xattrsRead: db.prepare(`UPDATE files SET xattrs = NULL WHERE path = ? AND xattrs = '${XATTRS_UNREAD}'`),
      remove: db.prepare("DELETE FROM files WHERE path = ?"),
      dropBlocks: db.prepare("DELETE FROM local_blocks WHERE path = ?"),
      addBlock: db.prepare("INSERT OR IGNORE INTO local_blocks VALUES (?, ?, ?, ?)"),
      findBlock: db.prepare("SELECT path, offset, size FROM local_blocks WHERE hash = ? LIMIT 4"),
      getMeta: db.prepare("SELECT value FROM meta WHERE key = ?"),
      setMeta: db.prepare("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value"),
      count: db.prepare("SELECT COUNT(*) AS n FROM files"),
      totals: db.prepare("SELECT COUNT(*) AS files, COALESCE(SUM(size), 0) AS bytes FROM files WHERE kind = 'file'"),
    };
  }

  transaction<T>(fn: () => T): T {
    return this.tx.run("update the sync state", fn);
  }

  get(path: string): Synced | undefined {
    const r = this.q.get.get<Row>(path);
    return r && toSynced(r);
  }

  all(): Synced[] {
    return this.q.all.all<Row>().map(toSynced);
  }

  count(): number {
    return this.q.count.get<{ n: number }>()!.n;
  }

  /** The files synced and their bytes: what "Up to date" reports. */
  totals(): { files: number; bytes: number } {
    return this.q.totals.get<{ files: number; bytes: number }>()!;
  }

  /** Entries strictly inside `folder` ("" = everything). */
  under(folder: string): Synced[] {
    if (folder === "") return this.all();
    return this.q.under.all<Row>(`${folder}/`, `${folder}0`).map(toSynced);
  }

  /** What the index holds of `path` short of its entry, if anything. */
  fingerprint(path: string): Fingerprint | undefined {
    const r = this.q.fingerprint.get<FingerprintRow>(path);
    return r && toFingerprint(r);
  }

  /** How many entries lie strictly inside `folder` ("" = everything). */
  countUnder(folder: string): number {
    if (folder === "") return this.count();
    return this.q.countUnder.get<{ n: number }>(`${folder}/`, `${folder}0`)!.n;
  }

  /**
   * The fingerprints of the entries strictly inside `folder` ("" = everything), in path order,
   * read a page at a time: a look at a folder finds the entries it did not find unchanged
   * without holding every entry as an object (100,000 of them took some 300 MiB). Pages are
   * keyed by path, so writes between pages neither repeat nor skip a path that stays.
   */
  *fingerprintsUnder(folder: string): Generator<Fingerprint> {
    let after = folder === "" ? "" : `${folder}/`;
    for (;;) {
      const rows = folder === ""
        ? this.q.fingerprintsAll.all<FingerprintRow>(after, FINGERPRINT_PAGE)
        : this.q.fingerprintsUnder.all<FingerprintRow>(after, `${folder}0`, FINGERPRINT_PAGE);
      for (const r of rows) yield toFingerprint(r);
      if (rows.length < FINGERPRINT_PAGE) return;
      after = rows.at(-1)!.path;
    }
  }

  put(entry: Entry, stat: LocalStat): void {
    const c = entryToRow(entry);
    this.transaction(() => {
      this.q.put.run(
        c.path,
        c.kind,
        c.size,
        c.mode,
        c.hash,
        c.blocks,
        entry.version,
        c.mtime,
        stat.size,
        stat.mtimeMs,
        stat.ino,
        stat.mode,
        stat.ctimeMs,
        c.target,
        c.xattrs,
      );
      this.q.dropBlocks.run(entry.path);
      let offset = 0;
      for (const [hash, size] of entry.blocks) {
        this.q.addBlock.run(hash, entry.path, offset, size);
        offset += size;
      }
    });
  }

  remove(path: string): void {
    this.transaction(() => {
      this.q.remove.run(path);
      this.q.dropBlocks.run(path);
    });
  }

  /** A new fingerprint for an entry whose content is unchanged. */
  setStat(path: string, stat: LocalStat): void {
    this.q.setStat.run(stat.size, stat.mtimeMs, stat.ino, stat.mode, stat.ctimeMs, path);
  }

  /** A file synced before attributes were, whose attributes were read and found none: not read again. */
  setXattrsRead(path: string): void {
    this.q.xattrsRead.run(path);
  }

  /** Synced paths whose file had inode `ino`: the other names of a hard-linked file. */
  namesOf(ino: number): string[] {
    return this.q.byIno.all<{ path: string }>(ino).map((r) => r.path);
  }

  /** Local files that held this block when they were last synced (callers re-verify). */
  findBlock(hash: string): BlockSource[] {
    return this.q.findBlock.all<BlockSource>(hash);
  }

  getMeta(key: string): string | undefined {
    return this.q.getMeta.get<{ value: string }>(key)?.value;
  }

  setMeta(key: string, value: string): void {
    this.q.setMeta.run(key, value);
  }

  /*
   * What the user chose for this folder (issue 13), kept across restarts and changed by
   * `dropsim exclude/include/pause/resume/limit` whether or not a client runs.
   */

  /** Paths left out by selective sync, sorted. */
  excluded(): string[] {
    return this.jsonMeta<string[]>(EXCLUDED_KEY, []);
  }

  setExcluded(paths: readonly string[]): void {
    this.setMeta(EXCLUDED_KEY, JSON.stringify([...new Set(paths)].sort()));
  }

  /** Paths included again whose server entries the client has yet to fetch. */
  pendingIncludes(): string[] {
    return this.jsonMeta<string[]>(INCLUDING_KEY, []);
  }

  setPendingIncludes(paths: readonly string[]): void {
    this.setMeta(INCLUDING_KEY, JSON.stringify([...new Set(paths)].sort()));
  }

  /** Selective sync of `path` (relative to the root): excluded now, and no longer waiting to be fetched. */
  exclude(path: string): void {
    this.transaction(() => {
      this.setExcluded([...this.excluded(), path]);
      this.setPendingIncludes(this.pendingIncludes().filter((p) => p !== path));
    });
  }

  /** Undoes `exclude(path)`; false when it was not excluded. The client fetches what it missed. */
  include(path: string): boolean {
    const excluded = this.excluded();
    if (!excluded.includes(path)) return false;
    this.transaction(() => {
      this.setExcluded(excluded.filter((p) => p !== path));
      this.setPendingIncludes([...this.pendingIncludes(), path]);
    });
    return true;
  }

  paused(): boolean {
    return this.getMeta(PAUSED_KEY) === "1";
  }

  setPaused(paused: boolean): void {
    this.setMeta(PAUSED_KEY, paused ? "1" : "0");
  }

  limits(): RateLimits {
    return this.jsonMeta<RateLimits>(LIMITS_KEY, { up: null, down: null });
  }

  setLimits(limits: RateLimits): void {
    this.setMeta(LIMITS_KEY, JSON.stringify({ up: limits.up, down: limits.down }));
  }

  private jsonMeta<T>(key: string, none: T): T {
    const text = this.getMeta(key);
    return text === undefined ? none : (JSON.parse(text) as T);
  }

  close(): void {
    this.db.close();
  }
}

/**
 * The ctime of a fingerprint taken before our own rename (a download, a move made elsewhere),
 * which moves the ctime: any ctime is accepted, and the first one seen is kept (`setStat`).
 */
export const CTIME_UNKNOWN = -1;

/** `st` as a fingerprint of a file we are about to rename. */
export function beforeRename(st: LocalStat): LocalStat {
  return { ...st, ctimeMs: CTIME_UNKNOWN };
}

/** Same file, untouched since the fingerprint was taken (inode, size, mtime, ctime, kind, exec bit). */
export function sameStat(a: LocalStat, b: LocalStat): boolean {
  if (a.kind !== b.kind || a.ino !== b.ino) return false;
  // A folder's mtime moves with every child; only its identity matters.
  if (a.kind === "dir") return true;
  const sameCtime = a.ctimeMs === b.ctimeMs || a.ctimeMs === CTIME_UNKNOWN || b.ctimeMs === CTIME_UNKNOWN;
  return sameCtime && a.mtimeMs === b.mtimeMs && a.size === b.size && (a.mode & 0o111) === (b.mode & 0o111);
}
