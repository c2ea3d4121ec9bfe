import type { Scope } from "../core/access-token.ts";
import type { SqlDatabase, SqlStatement } from "../runtime/types.ts";
import { DEFAULT_KEEP_DAYS } from "../core/retention.ts";
import { type AccessStore, assertShareName, type GcRequest, type Listening, type NewTokenRow, noSuchShare, shareExists, type ShareRecord, type StoredToken, type TokenRecord } from "./access-store.ts";
import { migrate } from "./sql-migrations.ts";

const MIGRATIONS = [
  `CREATE TABLE shares (name TEXT PRIMARY KEY, quota INTEGER, created INTEGER NOT NULL);
   CREATE TABLE tokens (
     id TEXT PRIMARY KEY,
     secret_hash TEXT NOT NULL,
     share TEXT NOT NULL,
     scope TEXT NOT NULL,
     label TEXT,
     created INTEGER NOT NULL,
     last_used INTEGER,
     expires INTEGER,
     revoked INTEGER
   );
   CREATE INDEX tokens_by_share ON tokens(share);
   CREATE TABLE server (key TEXT PRIMARY KEY, value TEXT NOT NULL);`,
  // Issue 12: retention per share, and the mailbox through which `dropsim gc` asks a running server.
  `ALTER TABLE shares ADD COLUMN keep_days INTEGER NOT NULL DEFAULT ${DEFAULT_KEEP_DAYS};
   CREATE TABLE gc_requests (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     dry_run INTEGER NOT NULL,
     grace INTEGER NOT NULL,
     requested INTEGER NOT NULL,
     finished INTEGER,
     result TEXT
   );`,
];

const SHARE_COLUMNS = "name, quota, created, keep_days AS keepDays";

interface TokenRow {
  id: string;
  secret_hash: string;
  share: string;
  scope: Scope;
  label: string | null;
  created: number;
  last_used: number | null;
  expires: number | null;
  revoked: number | null;
}

function _stored(r: TokenRow): StoredToken {
  return { id: r.id, secretHash: r.secret_hash, share: r.share, scope: r.scope, label: r.label, created: r.created, lastUsed: r.last_used, expires: r.expires, revoked: r.revoked };
}

function _public(r: TokenRow): TokenRecord {
  const { secretHash: _, ...rest } = _stored(r);
  return rest;
}

/**
 * `access.db` of a data dir. The CLI and a running server open it at once: WAL lets them, the
 * busy timeout makes a writer wait for the other instead of failing, and the server notices
 * the CLI's changes through `PRAGMA data_version`.
 */
export class SqlAccessStore implements AccessStore {
  /** Statements by their SQL, prepared once: every hello looks its token up (9.5 % of the server's CPU while 10,000 sessions connect, prepared anew each time). */
  private readonly statements = new Map<string, SqlStatement>();

  private constructor(private readonly db: SqlDatabase) {}

  private q(sql: string): SqlStatement {
    let stmt = this.statements.get(sql);
    if (!stmt) this.statements.set(sql, (stmt = this.db.prepare(sql)));
    return stmt;
  }

  static open(file: string, openDatabase: (file: string) => SqlDatabase): SqlAccessStore {
    const db = openDatabase(file);
    try {
      db.exec("PRAGMA busy_timeout = 5000; PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;");
      migrate(db, MIGRATIONS, "This data dir's access.db");
      return new SqlAccessStore(db);
    } catch (e) {
      db.close();
      throw e;
    }
  }

  shares(): ShareRecord[] {
    return this.q(`SELECT ${SHARE_COLUMNS} FROM shares ORDER BY name`).all<ShareRecord>();
  }

  share(name: string): ShareRecord | undefined {
    return this.q(`SELECT ${SHARE_COLUMNS} FROM shares WHERE name = ?`).get<ShareRecord>(name);
  }

  addShare(name: string, quota: number | null, now: number, keepDays = DEFAULT_KEEP_DAYS): void {
    assertShareName(name);
    if (this.share(name)) throw shareExists(name);
    this.q("INSERT INTO shares (name, quota, created, keep_days) VALUES (?, ?, ?, ?)").run(name, quota, now, keepDays);
  }

  removeShare(name: string, now: number): boolean {
    if (!this.share(name)) return false;
    this.db.exec("BEGIN IMMEDIATE");
    try {
      this.q("DELETE FROM shares WHERE name = ?").run(name);
      this.q("UPDATE tokens SET revoked = ? WHERE share = ? AND revoked IS NULL").run(now, name);
      this.db.exec("COMMIT");
    } catch (e) {
      this.db.exec("ROLLBACK");
      throw e;
    }
    return true;
  }

  setQuota(name: string, quota: number | null): boolean {
    if (!this.share(name)) return false;
    this.q("UPDATE shares SET quota = ? WHERE name = ?").run(quota, name);
    return true;
  }

  setKeepDays(name: string, days: number): boolean {
    if (!this.share(name)) return false;
    this.q("UPDATE shares SET keep_days = ? WHERE name = ?").run(days, name);
    return true;
  }

  addToken(row: NewTokenRow, now: number): TokenRecord {
    if (!this.share(row.share)) throw noSuchShare(row.share);
    this
      .q("INSERT INTO tokens (id, secret_hash, share, scope, label, created, expires) VALUES (?, ?, ?, ?, ?, ?, ?)")
      .run(row.id, row.secretHash, row.share, row.scope, row.label, now, row.expires);
    return _public(this.q("SELECT * FROM tokens WHERE id = ?").get<TokenRow>(row.id)!);
  }

  tokens(share?: string): TokenRecord[] {
    const rows =
      share === undefined
        ? this.q("SELECT * FROM tokens ORDER BY created, id").all<TokenRow>()
        : this.q("SELECT * FROM tokens WHERE share = ? ORDER BY created, id").all<TokenRow>(share);
    return rows.map(_public);
  }

  token(id: string): StoredToken | undefined {
    const r = this.q("SELECT * FROM tokens WHERE id = ?").get<TokenRow>(id);
    return r && _stored(r);
  }

  revokeToken(id: string, now: number): boolean {
    if (!this.token(id)) return false;
    this.q("UPDATE tokens SET revoked = ? WHERE id = ? AND revoked IS NULL").run(now, id);
    return true;
  }

  touchToken(id: string, now: number): void {
    this.q("UPDATE tokens SET last_used = ? WHERE id = ?").run(now, id);
  }

  listening(): Listening | undefined {
    const address = this._get("address");
    return address === undefined ? undefined : { address, fingerprint: this._get("fingerprint") ?? null };
  }

  setListening(l: Listening): void {
    const put = this.q("INSERT INTO server (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value");
    put.run("address", l.address);
    if (l.fingerprint === null) this.q("DELETE FROM server WHERE key = 'fingerprint'").run();
    else put.run("fingerprint", l.fingerprint);
  }

  requestGc(req: { dryRun: boolean; grace: number }, now: number): number {
    this.q("INSERT INTO gc_requests (dry_run, grace, requested) VALUES (?, ?, ?)").run(req.dryRun ? 1 : 0, req.grace, now);
    return this.q("SELECT last_insert_rowid() AS id").get<{ id: number }>()!.id;
  }

  pendingGc(): GcRequest[] {
    return this
      .q("SELECT id, dry_run, grace, requested FROM gc_requests WHERE finished IS NULL ORDER BY id")
      .all<{ id: number; dry_run: number; grace: number; requested: number }>()
      .map((r) => ({ id: r.id, dryRun: r.dry_run !== 0, grace: r.grace, requested: r.requested }));
  }

  finishGc(id: number, resultJson: string, now: number): void {
    this.q("UPDATE gc_requests SET finished = ?, result = ? WHERE id = ?").run(now, resultJson, id);
  }

  gcResult(id: number): string | undefined {
    return this.q("SELECT result FROM gc_requests WHERE id = ? AND finished IS NOT NULL").get<{ result: string }>(id)?.result;
  }

  dataVersion(): number {
    return this.q("PRAGMA data_version").get<{ data_version: number }>()!.data_version;
  }

  close(): void {
    this.db.close();
  }

  private _get(key: string): string | undefined {
    return this.q("SELECT value FROM server WHERE key = ?").get<{ value: string }>(key)?.value;
  }
}
