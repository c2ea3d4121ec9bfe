import { constants as fsConstants } from "node:fs";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { DropsimError } from "../core/errors.ts";
import type { SqlDatabase } from "../runtime/types.ts";
import { writeFully } from "../runtime/write-fully.ts";
import type { BlockStore } from "./block-store.ts";
import { migrate } from "./sql-migrations.ts";
import { SqlTransactions } from "./sql-transaction.ts";

/**
 * index.db's schema by PRAGMA user_version. Files from before it was versioned are at 0 and
 * already hold step 1's table: the baseline is written so that it changes nothing there.
 */
const MIGRATIONS = [
  "CREATE TABLE IF NOT EXISTS blocks (hash TEXT PRIMARY KEY, pack INTEGER NOT NULL, offset INTEGER NOT NULL, size INTEGER NOT NULL) WITHOUT ROWID;",
];

/** A pack is closed and a new one started past this size. */
const PACK_LIMIT = 1024 * 1024 * 1024;

interface Location {
  pack: number;
  offset: number;
  size: number;
}

interface Pack {
  id: number;
  handle: fs.FileHandle;
  tail: number;
  dirty: boolean;
}

/**
 * Blocks appended to pack files (`blocks/packs/000001.pack`), located by an SQLite index.
 * One file per block would cost a create and an fsync per block — thousands of small files
 * would pay that thousands of times. Here many blocks share one fdatasync (`sync`), and the
 * index learns of a block only after its bytes are durable, so it never points at lost bytes.
 * Bytes after the last indexed block of a pack (a crash mid-write) are never referenced.
 */
export class PackBlockStore implements BlockStore {
  private pending = new Map<string, Location>();
  private packs = new Map<number, Pack>();
  private current!: Pack;
  private readonly q;
  private readonly tx: SqlTransactions;

  private constructor(
    private readonly dir: string,
    private readonly db: SqlDatabase,
  ) {
    this.tx = new SqlTransactions(db);
    this.q = {
      get: db.prepare("SELECT pack, offset, size FROM blocks WHERE hash = ?"),
      // The hashes are one JSON array parameter: one statement for a batch of any size.
      absent: db.prepare("SELECT h.value AS hash FROM json_each(?) h WHERE NOT EXISTS (SELECT 1 FROM blocks b WHERE b.hash = h.value) ORDER BY h.key"),
      insert: db.prepare("INSERT OR IGNORE INTO blocks VALUES (?, ?, ?, ?)"),
      delete: db.prepare("DELETE FROM blocks WHERE hash IN (SELECT value FROM json_each(?))"),
      all: db.prepare("SELECT hash, pack, offset, size FROM blocks ORDER BY pack, offset"),
      lastPack: db.prepare("SELECT COALESCE(MAX(pack), 1) AS pack FROM blocks"),
    };
  }

  /** Opens (creating or migrating) the store in `dir`: `dir/index.db` and `dir/packs/`. */
  static async open(dir: string, openDatabase: (file: string) => SqlDatabase): Promise<PackBlockStore> {
    await fs.mkdir(path.join(dir, "packs"), { recursive: true });
    const db = openDatabase(path.join(dir, "index.db"));
    try {
      db.exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;");
      migrate(db, MIGRATIONS, "This data dir's blocks/index.db");
    } catch (e) {
      db.close();
      throw e;
    }
    const store = new PackBlockStore(dir, db);
    store.current = await store.openPack(store.q.lastPack.get<{ pack: number }>()!.pack);
    return store;
  }

  private packPath(id: number): string {
    return path.join(this.dir, "packs", `${String(id).padStart(6, "0")}.pack`);
  }

  /** Only the pack being written is created: a read from a pack that is gone fails instead of making it anew. */
  private async openPack(id: number, create = true): Promise<Pack> {
    const existing = this.packs.get(id);
    if (existing) return existing;
    // Not "a" mode: with O_APPEND, Linux ignores the position of a write and appends, which
    // would scramble blocks written concurrently at the offsets they claimed.
    const handle = await fs.open(this.packPath(id), fsConstants.O_RDWR | (create ? fsConstants.O_CREAT : 0), 0o644);
    const pack = { id, handle, tail: (await handle.stat()).size, dirty: false };
    this.packs.set(id, pack);
    return pack;
  }

  private locate(hash: string): Location | undefined {
    return this.pending.get(hash) ?? this.q.get.get<Location>(hash);
  }

  async missing(hashes: readonly string[]): Promise<string[]> {
    if (hashes.length === 0) return [];
    return this.q.absent
      .all<{ hash: string }>(JSON.stringify(hashes))
      .map((r) => r.hash)
      .filter((h) => !this.pending.has(h));
  }

  async put(hash: string, bytes: Uint8Array): Promise<void> {
    if (this.locate(hash)) return;
    if (this.current.tail >= PACK_LIMIT) this.current = await this.openPack(this.current.id + 1);
    const pack = this.current;
    // The offset is claimed synchronously, so concurrent puts write to disjoint ranges.
    const loc = { pack: pack.id, offset: pack.tail, size: bytes.length };
    pack.tail += bytes.length;
    pack.dirty = true;
    try {
      writeFully(pack.handle.fd, bytes, loc.offset);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      const why = code === "ENOSPC" || code === "EDQUOT" ? "the server's disk is full" : (e as Error).message;
      throw new DropsimError(code === "ENOSPC" || code === "EDQUOT" ? "disk_full" : "io", `Cannot store block ${hash.slice(0, 12)}…: ${why}`, { cause: e });
    }
    this.pending.set(hash, loc);
  }

  async get(hash: string, alloc = (size: number) => new Uint8Array(size)): Promise<Uint8Array | undefined> {
    const loc = this.locate(hash);
    if (!loc) return undefined;
    const pack = await this.openPack(loc.pack, false);
    const buf = alloc(loc.size);
    let got = 0;
    while (got < loc.size) {
      const { bytesRead } = await pack.handle.read(buf, got, loc.size - got, loc.offset + got);
      if (bytesRead === 0) throw new DropsimError("io", `Block ${hash.slice(0, 12)}… is cut short in ${this.packPath(loc.pack)}`);
      got += bytesRead;
    }
    return buf;
  }

  async sync(): Promise<void> {
    if (this.pending.size === 0) return;
    const batch = [...this.pending];
    const dirty = [...this.packs.values()].filter((p) => p.dirty);
    for (const p of dirty) p.dirty = false;
    try {
      await Promise.all(dirty.map((p) => p.handle.datasync()));
    } catch (e) {
      for (const p of dirty) p.dirty = true;
      throw new DropsimError("io", `Cannot make blocks durable: ${(e as Error).message}`, { cause: e });
    }
    this.tx.run("record uploaded blocks", () => {
      for (const [hash, l] of batch) this.q.insert.run(hash, l.pack, l.offset, l.size);
    });
    for (const [hash] of batch) this.pending.delete(hash);
  }

  /**
   * Only the index forgets: the bytes stay in their pack until compaction (a later issue)
   * rewrites it. A block put again after this is appended anew.
   */
  async delete(hashes: readonly string[]): Promise<void> {
    for (const h of hashes) this.pending.delete(h);
    if (hashes.length > 0) this.tx.run("forget blocks", () => this.q.delete.run(JSON.stringify(hashes)));
  }

  /** Every indexed block lies inside its pack file, and that file exists. */
  async check(): Promise<string[]> {
    const problems: string[] = [];
    const sizes = new Map<number, number>();
    for (const loc of this.q.all.all<Location & { hash: string }>()) {
      let size = sizes.get(loc.pack);
      if (size === undefined) {
        size = await fs.stat(this.packPath(loc.pack)).then(
          (st) => st.size,
          () => -1,
        );
        sizes.set(loc.pack, size);
      }
      const name = `${loc.hash.slice(0, 12)}…`;
      if (size < 0) problems.push(`Block index lists ${name} in pack ${loc.pack}, which does not exist`);
      else if (loc.offset + loc.size > size) problems.push(`Block index lists ${name} at bytes ${loc.offset}–${loc.offset + loc.size} of pack ${loc.pack}, which has only ${size}`);
    }
    return problems;
  }

  async close(): Promise<void> {
    await this.sync().catch(() => {});
    for (const p of this.packs.values()) await p.handle.close();
    this.db.close();
  }
}
