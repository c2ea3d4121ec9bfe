import type { Entry } from "../core/entry.ts";
import type { SqlDatabase } from "../runtime/types.ts";
import { type EntryRow, entryFromRow, entryToRow, liveSize } from "./entry-row.ts";
import type { CommitStamp, EntryDraft, HistoryQuery, JournalRecord, MetaStore, MetaTx, TrashItem, TrashQuery, VersionRow } from "./meta-store.ts";
import { Serial } from "./serial.ts";
import { migrate } from "./sql-migrations.ts";
import { SqlTransactions } from "./sql-transaction.ts";
import { endableTx, refusedDrop } from "./tx-handle.ts";

/** Another process (gc, fsck, share commands) holding the write lock makes us wait, not fail. */
const BUSY = "PRAGMA busy_timeout = 5000;";

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
  // History, trash and restore (issue 12): why a row was written, who the clients are, what retention dropped.
  // journal(path, seq) serves one path's history and treeAt's newest row per path; committed_at, seqAt;
  // moved_from, telling a path moved away from one deleted.
  `ALTER TABLE journal ADD COLUMN cause TEXT;
   CREATE TABLE clients (client_id TEXT PRIMARY KEY, host TEXT NOT NULL) WITHOUT ROWID;
   CREATE INDEX journal_by_path ON journal(path, seq);
   CREATE INDEX journal_by_time ON journal(committed_at);
   CREATE INDEX journal_by_move ON journal(moved_from) WHERE moved_from IS NOT NULL;
   INSERT OR IGNORE INTO meta (key, value) VALUES ('pruned_through', '0');`,
];


type Row = EntryRow & { seq: number; committed_at: number | null; client_id: string | null; cause: "restore" | null };

function toEntry(r: Row): Entry {
  return entryFromRow(r, r.seq);
}

function toRecord(r: Row): JournalRecord {
  return { ...toEntry(r), committedAt: r.committed_at, clientId: r.client_id, cause: r.cause };
}

/**
 * A statement over the rows at or inside a path, prepared twice: for the whole share, and for
 * one path F, whose insides sort between "F/" and "F0" ("0" follows "/") while F itself needs its
 * own term ("F b" sorts between "F" and "F/"). `sql` puts the scope term where it is told; both
 * take the parameters (path, "F/", "F0", ...its own as ?4 on).
 */
function scopedQuery(db: SqlDatabase, sql: (scope: (col: string) => string) => string) {
  const share = db.prepare(sql(() => "1"));
  const under = db.prepare(sql((col) => `(${col} = ?1 OR (${col} > ?2 AND ${col} < ?3))`));
  return (path: string) => ({ stmt: path === "" ? share : under, params: [path, `${path}/`, `${path}0`] });
}

const CURRENT = "SELECT j.* FROM entries e JOIN journal j ON j.seq = e.seq";

/** The statements both connections read through. */
function readQueries(db: SqlDatabase) {
  return {
    // AUTOINCREMENT's counter, not MAX(seq): dropping the newest rows must not take the head back.
    head: db.prepare("SELECT COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'journal'), 0) AS head"),
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
        `INSERT INTO journal (path, kind, size, mode, hash, blocks, deleted, mtime, moved_from, target, xattrs, committed_at, client_id, cause)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING seq`,
      ),
      versions: writer.prepare(
        "SELECT j.seq AS seq, j.path AS path, j.committed_at AS committedAt, j.deleted AS deleted, e.seq IS NOT NULL AS current FROM journal j LEFT JOIN entries e ON e.seq = j.seq ORDER BY j.seq",
      ),
      // drop's statements take the seqs as one JSON array: a path whose current row is among
      // them goes whole (its every row, then its entry).
      liveAmong: writer.prepare("SELECT j.path AS path, j.seq AS seq FROM entries e JOIN journal j ON j.seq = e.seq WHERE e.seq IN (SELECT value FROM json_each(?)) AND j.deleted = 0 LIMIT 1"),
      dropRows: writer.prepare(
        `DELETE FROM journal WHERE seq IN (SELECT value FROM json_each(?1))
           OR path IN (SELECT path FROM entries WHERE seq IN (SELECT value FROM json_each(?1))) RETURNING seq`,
      ),
      dropEntries: writer.prepare("DELETE FROM entries WHERE seq IN (SELECT value FROM json_each(?))"),
      prune: writer.prepare("UPDATE meta SET value = MAX(CAST(value AS INTEGER), ?) WHERE key = 'pruned_through'"),
      referenced: writer.prepare("SELECT DISTINCT json_extract(b.value, '$[0]') AS hash FROM journal j, json_each(j.blocks) b"),
      noteClient: writer.prepare("INSERT INTO clients (client_id, host) VALUES (?, ?) ON CONFLICT(client_id) DO UPDATE SET host = excluded.host"),
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
      pruned: reader.prepare("SELECT CAST(value AS INTEGER) AS n FROM meta WHERE key = 'pruned_through'"),
      bySeq: reader.prepare("SELECT * FROM journal WHERE seq = ?"),
      pathHistory: reader.prepare("SELECT * FROM journal WHERE path = ?1 AND seq < ?2 ORDER BY seq DESC LIMIT ?3"),
      belowHistory: scopedQuery(reader, (scope) => `SELECT * FROM journal WHERE ${scope("path")} AND seq < ?4 ORDER BY seq DESC LIMIT ?5`),
      // Each path's newest row up to the seq, found on journal(path, seq): one query for any tree.
      treeAt: scopedQuery(
        reader,
        (scope) => `SELECT j.* FROM (SELECT path, MAX(seq) AS seq FROM journal WHERE ${scope("path")} AND seq <= ?4 GROUP BY path) m
          JOIN journal j ON j.seq = m.seq WHERE j.deleted = 0 ORDER BY j.path`,
      ),
      firstAfter: reader.prepare("SELECT MIN(seq) AS seq FROM journal WHERE committed_at > ?"),
      // A current tombstone, its path's last live row, unless a row moved the path away in between.
      trash: scopedQuery(
        reader,
        (scope) => `SELECT tseq, lseq FROM (
            SELECT e.path AS tpath, e.seq AS tseq, (SELECT MAX(x.seq) FROM journal x WHERE x.path = e.path AND x.seq < e.seq AND x.deleted = 0) AS lseq
            FROM entries e JOIN journal t ON t.seq = e.seq WHERE t.deleted = 1 AND ${scope("e.path")} AND e.seq < ?4)
          WHERE lseq IS NOT NULL AND NOT EXISTS (SELECT 1 FROM journal m WHERE m.moved_from = tpath AND m.seq > lseq AND m.seq < tseq)
          ORDER BY tseq DESC LIMIT ?5`,
      ),
      host: reader.prepare("SELECT host FROM clients WHERE client_id = ?"),
      hosts: reader.prepare("SELECT client_id AS id, host FROM clients WHERE client_id IN (SELECT value FROM json_each(?))"),
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
      writer.exec(BUSY + SCHEMA);
      migrate(writer, MIGRATIONS, "This data dir's meta.db");
      // Opened after the migrations: its statements are prepared against the current columns.
      const reader = openDatabase(file);
      reader.exec(BUSY);
      return new SqlMetaStore(writer, reader);
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
            stamp.cause ?? null,
          )!;
          w.point.run(d.path, seq);
          return { ...d, version: seq };
        },
        versions: async () => w.versions.all<Omit<VersionRow, "deleted" | "current"> & { deleted: number; current: number }>().map((v) => ({ ...v, deleted: v.deleted === 1, current: v.current === 1 })),
        drop: async (seqs) => {
          const list = JSON.stringify(seqs);
          const live = w.liveAmong.get<{ path: string; seq: number }>(list);
          if (live) throw refusedDrop(live.path, live.seq);
          const gone = w.dropRows.all<{ seq: number }>(list);
          w.dropEntries.run(list);
          if (gone.length > 0) w.prune.run(Math.max(...gone.map((g) => g.seq)));
        },
        referencedBlocks: async () => new Set(w.referenced.all<{ hash: string }>().map((r) => r.hash)),
      });
      try {
        return await this.tx.runAsync("commit changes", () => fn(handle.tx));
      } finally {
        handle.end();
      }
    });
  }

  async prunedThrough(): Promise<number> {
    return this.r.pruned.get<{ n: number }>()?.n ?? 0;
  }

  async history(q: HistoryQuery): Promise<JournalRecord[]> {
    const before = q.before ?? Number.MAX_SAFE_INTEGER;
    if (!q.below) return this.r.pathHistory.all<Row>(q.path, before, q.limit).map(toRecord);
    const { stmt, params } = this.r.belowHistory(q.path);
    return stmt.all<Row>(...params, before, q.limit).map(toRecord);
  }

  async treeAt(path: string, seq: number): Promise<Entry[]> {
    const { stmt, params } = this.r.treeAt(path);
    return stmt.all<Row>(...params, seq).map(toEntry);
  }

  async seqAt(at: number): Promise<number> {
    // Read in one snapshot: a commit landing between the two reads could otherwise be counted.
    this.reader.exec("BEGIN");
    try {
      const later = this.r.firstAfter.get<{ seq: number | null }>(at)?.seq;
      return later != null ? later - 1 : _head(this.r);
    } finally {
      this.reader.exec("COMMIT");
    }
  }

  async trash(q: TrashQuery): Promise<TrashItem[]> {
    const { stmt, params } = this.r.trash(q.path);
    this.reader.exec("BEGIN");
    try {
      const record = (seq: number) => toRecord(this.r.bySeq.get<Row>(seq)!);
      return stmt.all<{ tseq: number; lseq: number }>(...params, q.before ?? Number.MAX_SAFE_INTEGER, q.limit).map((t) => ({ deleted: record(t.tseq), last: record(t.lseq) }));
    } finally {
      this.reader.exec("COMMIT");
    }
  }

  async noteClient(clientId: string, host: string): Promise<void> {
    // Most hellos repeat what is known: only a change costs a write.
    if (this.r.host.get<{ host: string }>(clientId)?.host === host) return;
    // Through the writer, between transactions: one running would otherwise take this write into its own.
    await this.serial.run(async () => this.w.noteClient.run(clientId, host));
  }

  async clientHosts(clientIds: readonly string[]): Promise<Map<string, string>> {
    if (clientIds.length === 0) return new Map();
    return new Map(this.r.hosts.all<{ id: string; host: string }>(JSON.stringify(clientIds)).map((c) => [c.id, c.host]));
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
