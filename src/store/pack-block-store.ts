import { constants as fsConstants } from "node:fs";
import { writeFully } from "../runtime/write-fully.ts";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { DropsimError } from "../core/errors.ts";
import type { SqlDatabase } from "../runtime/types.ts";
import type { BlockStore } from "./block-store.ts";
import { SqlTransactions } from "./sql-transaction.ts";

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
    db.exec(`
      PRAGMA journal_mode = WAL;
      PRAGMA synchronous = FULL;
      CREATE TABLE IF NOT EXISTS blocks (hash TEXT PRIMARY KEY, pack INTEGER NOT NULL, offset INTEGER NOT NULL, size INTEGER NOT NULL) WITHOUT ROWID;
    `);
    this.tx = new SqlTransactions(db);
    this.q = {
      get: db.prepare("SELECT pack, offset, size FROM blocks WHERE hash = ?"),
      insert: db.prepare("INSERT OR IGNORE INTO blocks VALUES (?, ?, ?, ?)"),
      lastPack: db.prepare("SELECT COALESCE(MAX(pack), 1) AS pack FROM blocks"),
    };
  }

  static async open(dir: string, db: SqlDatabase): Promise<PackBlockStore> {
    await fs.mkdir(path.join(dir, "packs"), { recursive: true });
    const store = new PackBlockStore(dir, db);
    store.current = await store.openPack(store.q.lastPack.get<{ pack: number }>()!.pack);
    return store;
  }

  private packPath(id: number): string {
    return path.join(this.dir, "packs", `${String(id).padStart(6, "0")}.pack`);
  }

  private async openPack(id: number): Promise<Pack> {
    const existing = this.packs.get(id);
    if (existing) return existing;
    // Not "a" mode: with O_APPEND, Linux ignores the position of a write and appends, which
    // would scramble blocks written concurrently at the offsets they claimed.
    const handle = await fs.open(this.packPath(id), fsConstants.O_RDWR | fsConstants.O_CREAT, 0o644);
    const pack = { id, handle, tail: (await handle.stat()).size, dirty: false };
    this.packs.set(id, pack);
    return pack;
  }

  private locate(hash: string): Location | undefined {
    return this.pending.get(hash) ?? this.q.get.get<Location>(hash);
  }

  async has(hash: string): Promise<boolean> {
    return this.locate(hash) !== undefined;
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
    const pack = await this.openPack(loc.pack);
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

  async close(): Promise<void> {
    await this.sync().catch(() => {});
    for (const p of this.packs.values()) await p.handle.close();
    this.db.close();
  }
}
