import { constants as fsConstants } from "node:fs";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { DropsimError } from "../core/errors.ts";
import type { SqlDatabase } from "../runtime/types.ts";
import { readInto } from "../runtime/read-into.ts";
import { syncDir } from "../runtime/sync-dir.ts";
import { writeFully } from "../runtime/write-fully.ts";
import type { BlockStore, Compaction, StoredBlock } from "./block-store.ts";
import { type PackUsage, planCompaction } from "./pack-plan.ts";
import { Serial } from "./serial.ts";
import { migrate } from "./sql-migrations.ts";
import { SqlTransactions } from "./sql-transaction.ts";

/**
 * index.db's schema by PRAGMA user_version. Files from before it was versioned are at 0 and
 * already hold step 1's table: the baseline is written so that it changes nothing there.
 */
const MIGRATIONS = [
  "CREATE TABLE IF NOT EXISTS blocks (hash TEXT PRIMARY KEY, pack INTEGER NOT NULL, offset INTEGER NOT NULL, size INTEGER NOT NULL) WITHOUT ROWID;",
  // When each block became durable (ms), so that garbage collection gives an upload not yet committed its grace; NULL before.
  "ALTER TABLE blocks ADD COLUMN stored_at INTEGER;",
];

/** A pack is closed and a new one started past this size. */
const PACK_LIMIT = 1024 * 1024 * 1024;
/** Compaction copies live blocks in reads and writes of up to this much: large and sequential, in bounded memory. */
const COPY_CHUNK = 8 * 1024 * 1024;
const PACK_NAME = /^(\d+)\.pack$/;

export interface PackOptions {
  /** The clock that stamps blocks as they become durable. */
  now?: () => number;
  /** Bytes after which a new pack is started (tests make it small). */
  packLimit?: number;
  /** Makes the names in a folder durable (tests watch or fail it). */
  syncDir?: (dir: string) => Promise<void>;
}

interface PlacedBlock {
  hash: string;
  offset: number;
  size: number;
}

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
  /**
   * Its name is durable: the packs folder was synced since it was opened for writing. Until
   * then a power cut could take the file away with the blocks the index says it holds.
   */
  named: boolean;
}

/** Blocks put but not yet written, copied end to end into `bytes`: they follow each other at the end of one pack. */
interface WriteBatch {
  pack: Pack;
  offset: number;
  filled: number;
  hashes: string[];
}

/**
 * Received blocks are copied into a batch of this size and written with one system call
 * instead of one per block (W2: 16,384 of 32 KiB for 512 MiB); a block this big or bigger is
 * written on its own.
 */
const WRITE_BATCH = 1024 * 1024;

/**
 * Hashes per lookup query. SQLite parses the JSON array into a tree of its own: one query over
 * the 16,000 blocks of a 2 GiB file's commit grew the server by 5.5 MiB at once.
 */
const QUERY_PART = 1024;

/**
 * Blocks appended to pack files (`blocks/packs/000001.pack`), located by an SQLite index.
 * One file per block would cost a create and an fsync per block — thousands of small files
 * would pay that thousands of times. Here many blocks share one fdatasync (`sync`), and the
 * index learns of a block only after its bytes are durable, so it never points at lost bytes.
 * Bytes after the last indexed block of a pack (a crash mid-write) are never referenced.
 */
export class PackBlockStore implements BlockStore {
  private pending = new Map<string, Location>();
  /** Puts whose bytes are not written yet (they are in `pending` already). */
  private batch: WriteBatch | undefined;
  private readonly batchBytes = new Uint8Array(WRITE_BATCH);
  private packs = new Map<number, Pack>();
  private readonly opening = new Map<number, Promise<Pack>>();
  private current!: Pack;
  /** The highest pack id on disk or in the index: a new pack takes the next, never an existing file's. */
  private top = 0;
  /** The datasyncs of the last `sync`: a later one waits for them before it indexes what they cover. */
  private flushing: Promise<void> = Promise.resolve();
  /** Set by close: a put after it would be written and never indexed, so it is refused. */
  private closing = false;
  /** Packs compaction removed, kept open until the next compaction: a read that located a block in one just before still works. */
  private retired: Pack[] = [];
  private readonly compaction = new Serial();
  private readonly q;
  private readonly tx: SqlTransactions;
  private readonly now: () => number;
  private readonly packLimit: number;
  private readonly syncDir: (dir: string) => Promise<void>;

  private constructor(
    private readonly dir: string,
    private readonly db: SqlDatabase,
    options: PackOptions,
  ) {
    this.now = options.now ?? Date.now;
    this.packLimit = options.packLimit ?? PACK_LIMIT;
    this.syncDir = options.syncDir ?? syncDir;
    this.tx = new SqlTransactions(db);
    this.q = {
      get: db.prepare("SELECT pack, offset, size FROM blocks WHERE hash = ?"),
      locations: db.prepare("SELECT b.hash, b.pack, b.offset, b.size FROM json_each(?) h JOIN blocks b ON b.hash = h.value"),
      // The hashes are one JSON array parameter: one statement for a batch of any size.
      absent: db.prepare("SELECT h.value AS hash FROM json_each(?) h WHERE NOT EXISTS (SELECT 1 FROM blocks b WHERE b.hash = h.value) ORDER BY h.key"),
      insert: db.prepare("INSERT OR IGNORE INTO blocks (hash, pack, offset, size, stored_at) VALUES (?, ?, ?, ?, ?)"),
      delete: db.prepare("DELETE FROM blocks WHERE hash IN (SELECT value FROM json_each(?))"),
      all: db.prepare("SELECT hash, pack, offset, size FROM blocks ORDER BY pack, offset"),
      lastPack: db.prepare("SELECT COALESCE(MAX(pack), 0) AS pack FROM blocks"),
      list: db.prepare("SELECT hash, size, COALESCE(stored_at, 0) AS storedAt FROM blocks"),
      livePerPack: db.prepare("SELECT pack, SUM(size) AS live FROM blocks GROUP BY pack"),
      inPack: db.prepare("SELECT hash, offset, size FROM blocks WHERE pack = ? ORDER BY offset"),
      // Only a row still in the old pack moves: a block deleted (or deleted and put again) meanwhile stays as it is.
      move: db.prepare("UPDATE blocks SET pack = ?, offset = ? WHERE hash = ? AND pack = ?"),
    };
  }

  /** Opens (creating or migrating) the store in `dir`: `dir/index.db` and `dir/packs/`. */
  static async open(dir: string, openDatabase: (file: string) => SqlDatabase, options: PackOptions = {}): Promise<PackBlockStore> {
    await fs.mkdir(path.join(dir, "packs"), { recursive: true });
    const db = openDatabase(path.join(dir, "index.db"));
    try {
      db.exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;");
      migrate(db, MIGRATIONS, "This data dir's blocks/index.db");
    } catch (e) {
      db.close();
      throw e;
    }
    const store = new PackBlockStore(dir, db, options);
    const onDisk = await store.packFiles();
    store.top = Math.max(store.q.lastPack.get<{ pack: number }>()!.pack, ...onDisk.keys());
    // Appending to the newest pack is safe only if it exists: an indexed pack gone missing is never made anew at offset 0.
    store.current = await store.openPack(onDisk.has(store.top) ? store.top : store.newPackId());
    return store;
  }

  private newPackId(): number {
    return ++this.top;
  }

  /** The pack files on disk, id → size. */
  private async packFiles(): Promise<Map<number, number>> {
    const sizes = new Map<number, number>();
    for (const name of await fs.readdir(path.join(this.dir, "packs"))) {
      const m = PACK_NAME.exec(name);
      if (m) sizes.set(Number(m[1]), (await fs.stat(path.join(this.dir, "packs", name))).size);
    }
    return sizes;
  }

  private packPath(id: number): string {
    return path.join(this.dir, "packs", `${String(id).padStart(6, "0")}.pack`);
  }

  /** Only the pack being written is created: a read from a pack that is gone fails instead of making it anew. */
  private async openPack(id: number, create = true): Promise<Pack> {
    const existing = this.packs.get(id);
    if (existing) return existing;
    // Reads racing to one pack share its opening: a second handle would replace the first, never closed.
    let opening = this.opening.get(id);
    if (!opening) {
      opening = this._open(id, create).finally(() => this.opening.delete(id));
      this.opening.set(id, opening);
    }
    return opening;
  }

  private async _open(id: number, create: boolean): Promise<Pack> {
    // Not "a" mode: with O_APPEND, Linux ignores the position of a write and appends, which
    // would scramble blocks written concurrently at the offsets they claimed.
    const handle = await fs.open(this.packPath(id), fsConstants.O_RDWR | (create ? fsConstants.O_CREAT : 0), 0o644);
    const pack = { id, handle, tail: (await handle.stat()).size, dirty: false, named: false };
    this.packs.set(id, pack);
    return pack;
  }

  private locate(hash: string): Location | undefined {
    return this.pending.get(hash) ?? this.q.get.get<Location>(hash);
  }

  async missing(hashes: readonly string[]): Promise<string[]> {
    const absent: string[] = [];
    for (const part of queryParts(this.notPending(hashes))) {
      for (const r of this.q.absent.all<{ hash: string }>(JSON.stringify(part))) absent.push(r.hash);
    }
    return absent;
  }

  /**
   * Only these need the index: blocks received since the last sync are asked about at once
   * (a stream's `sizes`, a receiver's `get_blocks` right behind it), and the index's queries
   * were a tenth of the server's CPU over a big upload.
   */
  private notPending(hashes: readonly string[]): readonly string[] {
    return this.pending.size === 0 ? hashes : hashes.filter((h) => !this.pending.has(h));
  }

  /**
   * Only blocks not yet indexed are looked for: a client sends only what `missing` called
   * missing, so a block already indexed comes again only when two uploads race, and its second
   * copy is then dead bytes that compaction reclaims (the index keeps the first). Looking every
   * put up in the index cost 16,000 queries per 512 MiB.
   */
  async put(hash: string, bytes: Uint8Array): Promise<void> {
    if (this.pending.has(hash)) return;
    if (this.current.tail >= this.packLimit && !this.closing) {
      this.writeBatch();
      this.current = await this.openPack(this.newPackId());
    }
    // Checked after the await: a block written once close has synced would never be indexed.
    if (this.closing) throw new DropsimError("closed", `Cannot store block ${hash.slice(0, 12)}…: the block store is closing`);
    const pack = this.current;
    // The offset is claimed synchronously, so concurrent puts write to disjoint ranges.
    const loc = { pack: pack.id, offset: pack.tail, size: bytes.length };
    pack.tail += bytes.length;
    pack.dirty = true;
    if (this.batch && (this.batch.pack !== pack || this.batch.filled + bytes.length > WRITE_BATCH)) this.writeBatch();
    if (bytes.length >= WRITE_BATCH) {
      this.write(pack, [hash], bytes, loc.offset);
    } else {
      this.batch ??= { pack, offset: loc.offset, filled: 0, hashes: [] };
      // A copy: the caller may reuse (or free) its buffer once put returns.
      this.batchBytes.set(bytes, this.batch.filled);
      this.batch.filled += bytes.length;
      this.batch.hashes.push(hash);
    }
    this.pending.set(hash, loc);
  }

  /** Writes the blocks put since the last batch, in one system call. */
  private writeBatch(): void {
    const b = this.batch;
    if (!b) return;
    this.batch = undefined;
    this.write(b.pack, b.hashes, this.batchBytes.subarray(0, b.filled), b.offset);
  }

  /**
   * Writes blocks lying end to end at `offset` of a pack. If that fails, none of them is kept
   * (they read as missing, so the commit that needs them is refused and the client sends them
   * again) and the put that wrote them fails with the reason.
   */
  private write(pack: Pack, hashes: readonly string[], bytes: Uint8Array, offset: number): void {
    try {
      writeFully(pack.handle.fd, bytes, offset);
    } catch (e) {
      for (const h of hashes) this.pending.delete(h);
      const code = (e as NodeJS.ErrnoException).code;
      const full = code === "ENOSPC" || code === "EDQUOT";
      const why = full ? "the server's disk is full" : (e as Error).message;
      throw new DropsimError(full ? "disk_full" : "io", `Cannot store ${hashes.length === 1 ? "block" : `${hashes.length} blocks from`} ${hashes[0]!.slice(0, 12)}…: ${why}`, { cause: e });
    }
  }

  async sizes(hashes: readonly string[]): Promise<(number | undefined)[]> {
    return this.locateAll(hashes).map((l) => l?.size);
  }

  /**
   * Where each block lies, undefined for those not held: one query per QUERY_PART hashes, not
   * one per hash (a third of the CPU of looking up each of a run of 64 blocks served).
   */
  private locateAll(hashes: readonly string[]): (Location | undefined)[] {
    const found = new Map<string, Location>();
    for (const part of queryParts(this.notPending(hashes))) {
      for (const r of this.q.locations.all<Location & { hash: string }>(JSON.stringify(part))) found.set(r.hash, r);
    }
    return hashes.map((h) => this.pending.get(h) ?? found.get(h));
  }

  async readInto(hashes: readonly string[], buffers: readonly Uint8Array[]): Promise<boolean[]> {
    const found = hashes.map(() => false);
    const locs = this.locateAll(hashes).map((loc, i) => (loc?.size === buffers[i]!.length ? loc : undefined));
    if (this.batch && hashes.some((h) => this.pending.has(h))) this.writeBatch();
    for (let i = 0; i < hashes.length; ) {
      const first = locs[i];
      if (!first) {
        i++;
        continue;
      }
      // Blocks lying end to end in one pack: one read.
      let end = i + 1;
      for (let at = first.offset + first.size; end < hashes.length; end++) {
        const l = locs[end];
        if (!l || l.pack !== first.pack || l.offset !== at) break;
        at += l.size;
      }
      if (await this.readRun(first.pack, buffers.slice(i, end), first.offset)) found.fill(true, i, end);
      i = end;
    }
    return found;
  }

  /** False if the pack is gone (compaction moved its blocks between locating and reading them). */
  private async readRun(id: number, buffers: readonly Uint8Array[], offset: number): Promise<boolean> {
    const pack = await this.openPack(id, false).catch((e: NodeJS.ErrnoException) => {
      if (e.code === "ENOENT") return undefined;
      throw e;
    });
    if (!pack) return false;
    await this.readAt(pack, buffers, offset);
    return true;
  }

  async get(hash: string): Promise<Uint8Array | undefined> {
    // Compaction may move the block and remove its pack between locating and reading: located again, once.
    for (let attempt = 0; attempt < 2; attempt++) {
      const size = this.locate(hash)?.size;
      if (size === undefined) return undefined;
      const buf = new Uint8Array(size);
      if ((await this.readInto([hash], [buf]))[0]) return buf;
    }
    return undefined;
  }

  /** Fills `buffers` end to end from `offset` of the pack; a pack that ends sooner is damaged. */
  private async readAt(pack: Pack, buffers: readonly Uint8Array[], offset: number): Promise<void> {
    let length = 0;
    for (const b of buffers) length += b.length;
    if ((await readInto(pack.handle, buffers, offset)) !== length) {
      throw new DropsimError("io", `Bytes ${offset}–${offset + length} are cut short in ${this.packPath(pack.id)}`);
    }
  }

  async sync(): Promise<void> {
    this.writeBatch();
    if (this.pending.size === 0) return;
    const batch = [...this.pending];
    const dirty = [...this.packs.values()].filter((p) => p.dirty);
    for (const p of dirty) p.dirty = false;
    const earlier = this.flushing;
    const mine = Promise.all(
      dirty.map((p) =>
        p.handle.datasync().catch((e: unknown) => {
          this.lost(p);
          throw e;
        }),
      ),
    ).then(() => this.name(dirty));
    this.flushing = mine.then(
      () => {},
      () => {},
    );
    try {
      // A sync running beside this one may have taken the dirty packs, and our blocks in them are durable only once its datasync is done.
      await earlier;
      await mine;
    } catch (e) {
      throw new DropsimError("io", `Cannot make blocks durable: ${(e as Error).message}`, { cause: e });
    }
    // A block `lost` forgot since (or put again, elsewhere) is not this batch's to index.
    const kept = batch.filter(([hash, l]) => this.pending.get(hash) === l);
    this.tx.run("record uploaded blocks", () => {
      const at = this.now();
      for (const [hash, l] of kept) this.q.insert.run(hash, l.pack, l.offset, l.size, at);
    });
    for (const [hash] of kept) this.pending.delete(hash);
  }

  /**
   * Makes the names of packs made since the last time durable: one sync of their folder (a
   * pack is made every PACK_LIMIT bytes, and once per start). If that fails, their blocks not
   * yet indexed are forgotten, as after a failed datasync, and sent again.
   */
  private async name(packs: readonly Pack[]): Promise<void> {
    const fresh = packs.filter((p) => !p.named);
    if (fresh.length === 0) return;
    try {
      await this.syncDir(path.join(this.dir, "packs"));
    } catch (e) {
      for (const p of fresh) this.lost(p);
      throw e;
    }
    for (const p of fresh) p.named = true;
  }

  /**
   * Forgets the blocks of `pack` not yet indexed, after its datasync failed. The kernel may have
   * dropped the pages it could not write, and it tells of that once: a later datasync of the
   * same file succeeds whatever was lost ("fsyncgate", PostgreSQL 2018). Those blocks then read
   * as missing and are sent again, instead of being indexed on a promise the disk did not keep.
   */
  private lost(pack: Pack): void {
    for (const [hash, l] of this.pending) if (l.pack === pack.id) this.pending.delete(hash);
  }

  /**
   * Only the index forgets: the bytes stay in their pack until `compact` rewrites it. A block
   * put again after this is appended anew.
   */
  async delete(hashes: readonly string[]): Promise<void> {
    for (const h of hashes) this.pending.delete(h);
    if (hashes.length > 0) this.tx.run("forget blocks", () => this.q.delete.run(JSON.stringify(hashes)));
  }

  async list(): Promise<StoredBlock[]> {
    return this.q.list.all<StoredBlock>();
  }

  /**
   * Crash safety: a pack's live blocks are copied to a new pack, which is made durable (data and
   * directory entry) before one index transaction points them at it; only then is the old pack
   * removed. A crash before the switch leaves the old pack whole, after it the new one durable;
   * whichever pack nothing points to is left over and removed by the next compaction.
   */
  compact(threshold: number, dryRun: boolean): Promise<Compaction> {
    return this.compaction.run(async () => {
      for (const p of this.retired) await p.handle.close();
      this.retired = [];
      await this.sync();
      let plan = planCompaction(await this.usage(), threshold);
      const summary = { packs: plan.remove.length + plan.rewrite.length, before: plan.before };
      if (dryRun) return { ...summary, after: plan.after };
      if ([...plan.remove, ...plan.rewrite].includes(this.current.id)) {
        this.current = await this.openPack(this.newPackId());
        // Blocks put in the old current pack while the first sync ran: indexed before it is weighed again.
        await this.sync();
        plan = planCompaction((await this.usage()).filter((p) => p.id !== this.current.id), threshold);
      }
      for (const id of plan.rewrite) await this.rewrite(id);
      for (const id of [...plan.rewrite, ...plan.remove]) await this.removePack(id);
      let after = 0;
      for (const size of (await this.packFiles()).values()) after += size;
      return { ...summary, after };
    });
  }

  /** Every pack on disk with the bytes the index places in it, the current one included. */
  private async usage(): Promise<PackUsage[]> {
    const live = new Map(this.q.livePerPack.all<{ pack: number; live: number }>().map((r) => [r.pack, r.live]));
    return [...(await this.packFiles())].map(([id, size]) => ({ id, size, live: live.get(id) ?? 0 }));
  }

  /** Copies the live blocks of pack `id` to a new pack, in offset order, and points the index at them there. */
  private async rewrite(id: number): Promise<void> {
    const from = await this.openPack(id, false);
    const to = await this.openPack(this.newPackId());
    const chunk = new Uint8Array(COPY_CHUNK);
    const moved: [hash: string, offset: number][] = [];
    for (const run of _runs(this.q.inPack.all<PlacedBlock>(id))) {
      const length = run.at(-1)!.offset + run.at(-1)!.size - run[0]!.offset;
      // A single block larger than the chunk gets its own buffer.
      const buf = length <= chunk.length ? chunk.subarray(0, length) : new Uint8Array(length);
      await this.readAt(from, [buf], run[0]!.offset);
      for (const b of run) moved.push([b.hash, to.tail + b.offset - run[0]!.offset]);
      try {
        writeFully(to.handle.fd, buf, to.tail);
      } catch (e) {
        throw new DropsimError("io", `Cannot compact pack ${id}: ${(e as Error).message}`, { cause: e });
      }
      to.tail += length;
    }
    await to.handle.datasync();
    await this.syncDir(path.join(this.dir, "packs"));
    this.tx.run("point blocks at their compacted pack", () => {
      for (const [hash, offset] of moved) this.q.move.run(to.id, offset, hash, id);
    });
  }

  private async removePack(id: number): Promise<void> {
    await fs.rm(this.packPath(id), { force: true });
    const open = this.packs.get(id);
    if (open) {
      this.packs.delete(id);
      this.retired.push(open);
    }
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
    this.closing = true;
    // A put that claimed its place before close finishes its write in the same turn; one sync then indexes everything.
    await this.sync().catch(() => {});
    await this.compaction.run(async () => {});
    for (const p of [...this.packs.values(), ...this.retired]) await p.handle.close();
    this.db.close();
  }
}

/** Blocks lying end to end in a pack, grouped into runs of at most COPY_CHUNK bytes: one read and one write each. */
function _runs(blocks: readonly PlacedBlock[]): PlacedBlock[][] {
  const runs: PlacedBlock[][] = [];
  let run: PlacedBlock[] = [];
  for (const b of blocks) {
    const last = run.at(-1);
    if (last && (last.offset + last.size !== b.offset || b.offset + b.size - run[0]!.offset > COPY_CHUNK)) {
      runs.push(run);
      run = [];
    }
    run.push(b);
  }
  if (run.length > 0) runs.push(run);
  return runs;
}

function* queryParts(hashes: readonly string[]): Generator<readonly string[]> {
  for (let i = 0; i < hashes.length; i += QUERY_PART) yield hashes.slice(i, i + QUERY_PART);
}
