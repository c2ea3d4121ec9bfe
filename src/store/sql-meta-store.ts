import type { Entry } from "../core/entry.ts";
import type { SqlDatabase } from "../runtime/types.ts";
import { type EntryRow, entryFromRow, entryToRow, liveSize } from "./entry-row.ts";
import type { CommitStamp, EntryDraft, MetaStore, MetaTx } from "./meta-store.ts";
import { Serial } from "./serial.ts";
import { migrate } from "./sql-migrations.ts";
import { SqlTransactions } from "./sql-transaction.ts";
import { endableTx } from "./tx-handle.ts";

const SCHEMA = `
PRAGMA journal_mode = WAL;
PRAGMA synchronous = FULL;
CREATE TABLE IF NOT EXISTS journal (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  path TEXT NOT NULL,
  kind TEXT NOT NULL,
  size INTEGER NOT NULL,
  mode INTEGER NOT NULL,
  hash TEXT NOT NULL,
  blocks TEXT NOT NULL,
  deleted INTEGER NOT NULL,
  mtime REAL NOT NULL,
  moved_from TEXT
);
CREATE TABLE IF NOT EXISTS entries (path TEXT PRIMARY KEY, seq INTEGER NOT NULL) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS entries_by_seq ON entries(seq);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
`;

/**
 * Changes to meta.db files made by older versions, by PRAGMA user_version: a data dir is never
 * re-created, its journal is what every client's cursor points into.
 */
const MIGRATIONS = [
  // Symlinks: their target (NULL for every other entry, and for a symlink's tombstone).
  "ALTER TABLE journal ADD COLUMN target TEXT;",
  // Extended attributes of a file: its canonical set as JSON (NULL when it has none).
  "ALTER TABLE journal ADD COLUMN xattrs TEXT;",
  // Who committed each row and when (server ms), for history; NULL in rows from before.
  "ALTER TABLE journal ADD COLUMN committed_at INTEGER; ALTER TABLE journal ADD COLUMN client_id TEXT;",
  // The bytes of live files as a running total, kept by every append (quotas read it).
  `INSERT OR REPLACE INTO meta (key, value)
   SELECT 'live_bytes', COALESCE(SUM(j.size), 0) FROM entries e JOIN journal j ON j.seq = e.seq WHERE j.deleted = 0 AND j.kind = 'file';`,
];


type Row = EntryRow & { seq: number };

function toEntry(r: Row): Entry {
  return entryFromRow(r, r.seq);
}

const CURRENT = "SELECT j.* FROM entries e JOIN journal j ON j.seq = e.seq";

/** The statements both connections read through. */
function readQueries(db: SqlDatabase) {
  return {
    head: db.prepare("SELECT COALESCE(MAX(seq), 0) AS head FROM journal"),
    liveBytes: db.prepare("SELECT CAST(value AS INTEGER) AS n FROM meta WHERE key = 'live_bytes'"),
    get: db.prepare(`${CURRENT} WHERE e.path = ?`),
    children: db.prepare(`${CURRENT} WHERE e.path > ? AND e.path < ? AND j.deleted = 0 ORDER BY e.path`),
  };
}

type ReadQueries = ReturnType<typeof readQueries>;

function _head(q: ReadQueries): number {
  return q.head.get<{ head: number }>()!.head;
}

function _liveBytes(q: ReadQueries): number {
  return q.liveBytes.get<{ n: number }>()?.n ?? 0;
}

function _get(q: ReadQueries, path: string): Entry | undefined {
  const row = q.get.get<Row>(path);
  return row && toEntry(row);
}

/**
 * The embedded MetaStore: SQLite in WAL mode, every statement prepared once.
 *
 * Two connections to one file. Transactions write through one, one at a time: their callbacks
 * await, and SQLite has one transaction per connection. Everything else reads through the
 * other, which under WAL sees only committed transactions: a session pulling while a commit
 * awaits never sees rows that may yet be rolled back (and their sequence numbers reused).
 */
export class SqlMetaStore implements MetaStore {
  readonly serverId: string;
  private readonly serial = new Serial();
  private readonly tx: SqlTransactions;
  private readonly w;
  private readonly r;

  private constructor(
    private readonly writer: SqlDatabase,
    private readonly reader: SqlDatabase,
  ) {
    this.tx = new SqlTransactions(writer, "BEGIN IMMEDIATE");
    this.w = {
      ...readQueries(writer),
      insert: writer.prepare(
        `INSERT INTO journal (path, kind, size, mode, hash, blocks, deleted, mtime, moved_from, target, xattrs, committed_at, client_id)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING seq`,
      ),
      point: writer.prepare("INSERT INTO entries (path, seq) VALUES (?, ?) ON CONFLICT(path) DO UPDATE SET seq = excluded.seq"),
      grow: writer.prepare("UPDATE meta SET value = CAST(value AS INTEGER) + ? WHERE key = 'live_bytes'"),
    };
    this.r = {
      ...readQueries(reader),
      since: reader.prepare(`${CURRENT} WHERE e.seq > ? ORDER BY e.seq LIMIT ?`),
      dangling: reader.prepare("SELECT e.path AS path, e.seq AS seq FROM entries e LEFT JOIN journal j ON j.seq = e.seq WHERE j.seq IS NULL"),
      crossed: reader.prepare("SELECT e.path AS path, e.seq AS seq, j.path AS jpath FROM entries e JOIN journal j ON j.seq = e.seq WHERE j.path <> e.path"),
      pointers: reader.prepare("SELECT path, seq FROM entries"),
      summed: reader.prepare("SELECT COALESCE(SUM(j.size), 0) AS n FROM entries e JOIN journal j ON j.seq = e.seq WHERE j.deleted = 0 AND j.kind = 'file'"),
      newest: reader.prepare("SELECT path, MAX(seq) AS seq FROM journal GROUP BY path"),
    };
    const getMeta = writer.prepare("SELECT value FROM meta WHERE key = ?");
    let id = getMeta.get<{ value: string }>("server_id")?.value;
    if (!id) {
      id = crypto.randomUUID();
      writer.prepare("INSERT INTO meta (key, value) VALUES (?, ?)").run("server_id", id);
    }
    this.serverId = id;
  }

  /** Opens (creating or migrating) the meta.db at `file`. */
  static open(file: string, openDatabase: (file: string) => SqlDatabase): SqlMetaStore {
    const writer = openDatabase(file);
    try {
      writer.exec(SCHEMA);
      migrate(writer, MIGRATIONS, "This data dir's meta.db");
      // Opened after the migrations: its statements are prepared against the current columns.
      return new SqlMetaStore(writer, openDatabase(file));
    } catch (e) {
      writer.close();
      throw e;
    }
  }

  async head(): Promise<number> {
    return _head(this.r);
  }

  async get(path: string): Promise<Entry | undefined> {
    return _get(this.r, path);
  }

  async liveBytes(): Promise<number> {
    return _liveBytes(this.r);
  }

  async changesSince(since: number, limit: number): Promise<Entry[]> {
    return this.r.since.all<Row>(since, limit).map(toEntry);
  }

  transaction<T>(stamp: CommitStamp, fn: (tx: MetaTx) => Promise<T>): Promise<T> {
    return this.serial.run(async () => {
      const w = this.w;
      const handle = endableTx({
        head: async () => _head(w),
        get: async (path) => _get(w, path),
        // Paths inside `folder` sort between "folder/" and "folder0" ("0" follows "/").
        liveChildren: async (folder) => w.children.all<Row>(`${folder}/`, `${folder}0`).map(toEntry),
        liveBytes: async () => _liveBytes(w),
        append: async (d: EntryDraft) => {
          const grows = liveSize(d) - liveSize(_get(w, d.path));
          if (grows !== 0) w.grow.run(grows);
          const c = entryToRow(d);
          const { seq } = w.insert.get<{ seq: number }>(
            c.path,
            c.kind,
            c.size,
            c.mode,
            c.hash,
            c.blocks,
            c.deleted,
            c.mtime,
            c.moved_from,
            c.target,
            c.xattrs,
            stamp.at,
            stamp.clientId,
          )!;
          w.point.run(d.path, seq);
          return { ...d, version: seq };
        },
      });
      try {
        return await this.tx.runAsync("commit changes", () => fn(handle.tx));
      } finally {
        handle.end();
      }
    });
  }

  /**
   * entries ↔ journal, which no reader through the interface can see: each entry points at an
   * existing journal row of its own path, the newest one of that path, and every journalled path
   * has an entry. Read in one snapshot, so a server committing beside the check cannot make a
   * pointer look stale.
   */
  async check(): Promise<string[]> {
    const problems: string[] = [];
    this.reader.exec("BEGIN");
    try {
      for (const d of this.r.dangling.all<{ path: string; seq: number }>()) problems.push(`Entry "${d.path}" points at journal row ${d.seq}, which does not exist`);
      for (const m of this.r.crossed.all<{ path: string; seq: number; jpath: string }>()) {
        problems.push(`Entry "${m.path}" points at journal row ${m.seq}, which is about "${m.jpath}"`);
      }
      const pointer = new Map<string, number>();
      for (const e of this.r.pointers.all<{ path: string; seq: number }>()) pointer.set(e.path, e.seq);
      for (const j of this.r.newest.all<{ path: string; seq: number }>()) {
        const at = pointer.get(j.path);
        if (at === undefined) problems.push(`Journal row ${j.seq} is about "${j.path}", which has no entry`);
        else if (at !== j.seq) problems.push(`Entry "${j.path}" points at journal row ${at}, but the newest row for that path is ${j.seq}`);
      }
      const summed = this.r.summed.get<{ n: number }>()!.n;
      const kept = _liveBytes(this.r);
      if (summed !== kept) problems.push(`The live files add up to ${summed} bytes, but the running total says ${kept}`);
    } finally {
      this.reader.exec("COMMIT");
    }
    return problems;
  }

  async close(): Promise<void> {
    // After the transactions already queued: closing under one would fail its COMMIT.
    await this.serial.run(async () => {});
    this.reader.close();
    this.writer.close();
  }
}
