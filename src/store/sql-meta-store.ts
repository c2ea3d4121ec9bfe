import { migrate } from "./sql-migrations.ts";
import type { Entry, EntryKind } from "../core/entry.ts";
import type { XattrSet } from "../core/xattrs.ts";
import type { SqlDatabase } from "../runtime/types.ts";
import type { EntryDraft, MetaStore } from "./meta-store.ts";
import { SqlTransactions } from "./sql-transaction.ts";

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
];

interface Row {
  seq: number;
  path: string;
  kind: EntryKind;
  size: number;
  mode: number;
  hash: string;
  blocks: string;
  deleted: number;
  mtime: number;
  moved_from: string | null;
  target: string | null;
  xattrs: string | null;
}

function toEntry(r: Row): Entry {
  const e: Entry = {
    path: r.path,
    kind: r.kind,
    size: r.size,
    mode: r.mode,
    hash: r.hash,
    blocks: JSON.parse(r.blocks),
    version: r.seq,
    deleted: r.deleted === 1,
    mtime: r.mtime,
  };
  if (r.moved_from !== null) e.movedFrom = r.moved_from;
  if (r.target !== null) e.target = r.target;
  if (r.xattrs !== null) e.xattrs = JSON.parse(r.xattrs) as XattrSet;
  return e;
}

const CURRENT = "SELECT j.* FROM entries e JOIN journal j ON j.seq = e.seq";

/** The embedded MetaStore: SQLite in WAL mode, every statement prepared once. */
export class SqlMetaStore implements MetaStore {
  readonly serverId: string;
  private readonly q;
  private readonly tx: SqlTransactions;

  constructor(private readonly db: SqlDatabase) {
    db.exec(SCHEMA);
    migrate(db, MIGRATIONS, "This data dir's meta.db");
    this.tx = new SqlTransactions(db, "BEGIN IMMEDIATE");
    this.q = {
      head: db.prepare("SELECT COALESCE(MAX(seq), 0) AS head FROM journal"),
      get: db.prepare(`${CURRENT} WHERE e.path = ?`),
      children: db.prepare(`${CURRENT} WHERE e.path > ? AND e.path < ? AND j.deleted = 0 ORDER BY e.path`),
      insert: db.prepare(
        "INSERT INTO journal (path, kind, size, mode, hash, blocks, deleted, mtime, moved_from, target, xattrs) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING seq",
      ),
      point: db.prepare("INSERT INTO entries (path, seq) VALUES (?, ?) ON CONFLICT(path) DO UPDATE SET seq = excluded.seq"),
      since: db.prepare(`${CURRENT} WHERE e.seq > ? ORDER BY e.seq LIMIT ?`),
      getMeta: db.prepare("SELECT value FROM meta WHERE key = ?"),
      setMeta: db.prepare("INSERT INTO meta (key, value) VALUES (?, ?)"),
    };
    let id = this.q.getMeta.get<{ value: string }>("server_id")?.value;
    if (!id) {
      id = crypto.randomUUID();
      this.q.setMeta.run("server_id", id);
    }
    this.serverId = id;
  }

  head(): number {
    return this.q.head.get<{ head: number }>()!.head;
  }

  transaction<T>(fn: () => T): T {
    return this.tx.run("commit changes", fn);
  }

  get(path: string): Entry | undefined {
    const row = this.q.get.get<Row>(path);
    return row && toEntry(row);
  }

  liveChildren(folder: string): Entry[] {
    // Paths inside `folder` sort between "folder/" and "folder0" ("0" follows "/").
    return this.q.children.all<Row>(`${folder}/`, `${folder}0`).map(toEntry);
  }

  append(d: EntryDraft): Entry {
    const { seq } = this.q.insert.get<{ seq: number }>(
      d.path,
      d.kind,
      d.size,
      d.mode,
      d.hash,
      JSON.stringify(d.blocks),
      d.deleted ? 1 : 0,
      d.mtime,
      d.movedFrom ?? null,
      d.target ?? null,
      d.xattrs?.length ? JSON.stringify(d.xattrs) : null,
    )!;
    this.q.point.run(d.path, seq);
    return { ...d, version: seq };
  }

  changesSince(since: number, limit: number): Entry[] {
    return this.q.since.all<Row>(since, limit).map(toEntry);
  }

  close(): void {
    this.db.close();
  }
}
