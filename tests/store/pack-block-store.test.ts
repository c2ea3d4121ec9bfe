import { expect, test } from "bun:test";
import * as fsSync from "node:fs";
import * as fs from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { hashBlock } from "../../src/core/block-hash.ts";
import { openBunDatabase } from "../../src/runtime/sqlite-bun.ts";
import { PackBlockStore } from "../../src/store/pack-block-store.ts";

async function withStore(fn: (dir: string, open: () => Promise<PackBlockStore>) => Promise<void>) {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), "dropsim-pack-"));
  try {
    await fn(dir, () => PackBlockStore.open(dir, openBunDatabase));
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

function randomBlock(size: number): Uint8Array {
  const b = new Uint8Array(size);
  for (let i = 0; i < size; i += 65536) crypto.getRandomValues(b.subarray(i, Math.min(size, i + 65536)));
  return b;
}

test("PackBlockStore keeps every block's own bytes when many are put concurrently", async () => {
  await withStore(async (_dir, open) => {
    const store = await open();
    const blocks = Array.from({ length: 200 }, (_, i) => randomBlock(1000 + ((i * 7919) % 300_000)));
    await Promise.all(blocks.map((b) => store.put(hashBlock(b), b)));
    await store.sync();
    for (const b of blocks) expect(hashBlock((await store.get(hashBlock(b)))!)).toBe(hashBlock(b));
    await store.close();
  });
});

test("PackBlockStore serves blocks after reopening, and forgets blocks never synced", async () => {
  await withStore(async (_dir, open) => {
    const kept = randomBlock(5000);
    const lost = randomBlock(6000);
    const first = await open();
    await first.put(hashBlock(kept), kept);
    await first.sync();
    await first.put(hashBlock(lost), lost);
    expect(await first.missing([hashBlock(lost)])).toEqual([]);
    // Simulate a crash: the index is never told about `lost`.
    (first as unknown as { pending: Map<string, unknown> }).pending.clear();
    await first.close();

    const again = await open();
    expect(await again.get(hashBlock(kept))).toEqual(kept);
    expect(await again.missing([hashBlock(lost)])).toEqual([hashBlock(lost)]);
    const next = randomBlock(7000);
    await again.put(hashBlock(next), next);
    await again.sync();
    expect(await again.get(hashBlock(next))).toEqual(next);
    await again.close();
  });
});

test("PackBlockStore stores a block put twice only once", async () => {
  await withStore(async (dir, open) => {
    const store = await open();
    const b = randomBlock(4096);
    await store.put(hashBlock(b), b);
    await store.put(hashBlock(b), b);
    await store.sync();
    const packs = await fs.readdir(path.join(dir, "packs"));
    const size = (await Promise.all(packs.map((p) => fs.stat(path.join(dir, "packs", p))))).reduce((n, s) => n + s.size, 0);
    expect(size).toBe(4096);
    await store.close();
  });
});

test("PackBlockStore keeps a block put again after it was indexed readable, with one index row and a clean check", async () => {
  await withStore(async (_dir, open) => {
    const store = await open();
    const b = randomBlock(4096);
    await store.put(hashBlock(b), b);
    await store.sync();
    const other = randomBlock(100);
    await store.put(hashBlock(b), b);
    await store.put(hashBlock(other), other);
    await store.sync();
    expect(await store.get(hashBlock(b))).toEqual(b);
    expect(await store.get(hashBlock(other))).toEqual(other);
    expect(await store.check()).toEqual([]);
    expect((await store.list()).length).toBe(2);
    await store.close();
  });
});

test("PackBlockStore opens an index.db from before it was versioned and keeps its blocks, stored at an unknown time", async () => {
  await withStore(async (dir, open) => {
    const b = randomBlock(3000);
    // What older versions left: the one table without stored_at, user_version 0.
    await fs.mkdir(path.join(dir, "packs"));
    await fs.writeFile(path.join(dir, "packs", "000001.pack"), b);
    const db = openBunDatabase(path.join(dir, "index.db"));
    db.exec("CREATE TABLE blocks (hash TEXT PRIMARY KEY, pack INTEGER NOT NULL, offset INTEGER NOT NULL, size INTEGER NOT NULL) WITHOUT ROWID");
    db.prepare("INSERT INTO blocks VALUES (?, 1, 0, ?)").run(hashBlock(b), b.length);
    db.close();
    const again = await open();
    expect(await again.get(hashBlock(b))).toEqual(b);
    expect(await again.list()).toEqual([{ hash: hashBlock(b), size: b.length, storedAt: 0 }]);
    await again.close();
    const check = openBunDatabase(path.join(dir, "index.db"));
    expect(check.prepare("PRAGMA user_version").get<{ user_version: number }>()!.user_version).toBe(2);
    check.close();
  });
});

test("PackBlockStore refuses an index.db written by a newer dropsim", async () => {
  await withStore(async (dir, open) => {
    const db = openBunDatabase(path.join(dir, "index.db"));
    db.exec("PRAGMA user_version = 99");
    db.close();
    await expect(open()).rejects.toThrow(/blocks\/index\.db was written by a newer dropsim \(format 99/);
  });
});

test("PackBlockStore check finds an indexed block past the end of its pack, and a pack that is gone", async () => {
  await withStore(async (dir, open) => {
    const store = await open();
    const a = randomBlock(5000);
    await store.put(hashBlock(a), a);
    await store.sync();
    expect(await store.check()).toEqual([]);
    await store.close();
    await fs.truncate(path.join(dir, "packs", "000001.pack"), 4000);
    const db = openBunDatabase(path.join(dir, "index.db"));
    // In a pack below the newest: the store creates the newest on open, to append to it.
    db.prepare("INSERT INTO blocks (hash, pack, offset, size) VALUES (?, ?, ?, ?)").run("f".repeat(64), 0, 0, 10);
    db.close();
    const again = await open();
    expect(await again.check()).toEqual([
      `Block index lists ${"f".repeat(12)}… in pack 0, which does not exist`,
      `Block index lists ${hashBlock(a).slice(0, 12)}… at bytes 0–5000 of pack 1, which has only 4000`,
    ]);
    await again.close();
  });
});

test("PackBlockStore indexes every block accepted before close, and refuses the ones put after it began", async () => {
  await withStore(async (_dir, open) => {
    const store = await open();
    const blocks = Array.from({ length: 60 }, (_, i) => randomBlock(20_000 + i));
    const early = blocks.slice(0, 30);
    const late = blocks.slice(30);
    await Promise.all(early.map((b) => store.put(hashBlock(b), b)));
    // A session still writing while the server closes its stores: each late put either lands in the index or is refused.
    const closing = store.close();
    const outcomes = await Promise.allSettled(late.map((b) => store.put(hashBlock(b), b)));
    await closing;
    const reopened = await open();
    expect(await reopened.missing(early.map((b) => hashBlock(b)))).toEqual([]);
    const accepted = late.filter((_, i) => outcomes[i]!.status === "fulfilled").map((b) => hashBlock(b));
    expect(await reopened.missing(accepted)).toEqual([]);
    for (const o of outcomes) if (o.status === "rejected") expect((o.reason as Error).message).toContain("closing");
    await reopened.close();
  });
});

test("PackBlockStore serves a block put moments ago, before its batch is written or synced", async () => {
  await withStore(async (_dir, open) => {
    const store = await open();
    const b = randomBlock(3000);
    await store.put(hashBlock(b), b);
    expect(await store.get(hashBlock(b))).toEqual(b);
    const into = new Uint8Array(3000);
    expect(await store.readInto([hashBlock(b)], [into])).toEqual([true]);
    expect(into).toEqual(new Uint8Array(b));
    await store.close();
  });
});

test("PackBlockStore reads runs of blocks into their buffers, and says which it does not hold", async () => {
  await withStore(async (_dir, open) => {
    const store = await open();
    const blocks = Array.from({ length: 40 }, (_, i) => randomBlock(20_000 + i * 1000));
    for (const b of blocks) await store.put(hashBlock(b), b);
    await store.sync();
    const gone = hashBlock(blocks[7]!);
    await store.delete([gone]);
    // Out of order, with a block asked twice and one never stored.
    const order = [3, 4, 5, 7, 6, 6, 39, 0];
    const hashes = [...order.map((i) => hashBlock(blocks[i]!)), "0".repeat(64)];
    const sizes = await store.sizes(hashes);
    expect(sizes).toEqual([...order.map((i) => (i === 7 ? undefined : blocks[i]!.length)), undefined]);
    const buffers = order.map((i) => new Uint8Array(blocks[i]!.length));
    const read = await store.readInto(hashes.slice(0, order.length), buffers);
    expect(read).toEqual(order.map((i) => i !== 7));
    order.forEach((i, k) => i !== 7 && expect(buffers[k]).toEqual(new Uint8Array(blocks[i]!)));
    await store.close();
  });
});

test("PackBlockStore answers missing and sizes for a batch longer than one query, in the order asked", async () => {
  await withStore(async (_dir, open) => {
    const store = await open();
    // 2,500 hashes span three of the index's queries; every third one is held.
    const blocks = Array.from({ length: 2500 }, (_, i) => new TextEncoder().encode(`block ${i}`));
    const hashes = blocks.map(hashBlock);
    for (let i = 0; i < blocks.length; i += 3) await store.put(hashes[i]!, blocks[i]!);
    await store.sync();
    const held = (i: number) => i % 3 === 0;
    expect(await store.missing(hashes)).toEqual(hashes.filter((_, i) => !held(i)));
    expect(await store.sizes(hashes)).toEqual(blocks.map((b, i) => (held(i) ? b.length : undefined)));
    await store.close();
  });
});

test("PackBlockStore forgets every block of a batch it could not write, so that they are sent again", async () => {
  await withStore(async (_dir, open) => {
    const store = await open();
    const small = Array.from({ length: 3 }, () => randomBlock(10_000));
    for (const b of small) await store.put(hashBlock(b), b);
    // The pack's file descriptor closed underneath: the batch's one write fails.
    fsSync.closeSync((store as unknown as { current: { handle: { fd: number } } }).current.handle.fd);
    const big = randomBlock(1024 * 1024);
    await expect(store.put(hashBlock(big), big)).rejects.toMatchObject({ code: "io" });
    const all = [...small, big].map(hashBlock);
    expect(await store.missing(all)).toEqual(all);
    await store.close().catch(() => {});
  });
});

test("PackBlockStore never indexes a block whose datasync failed, even when a sync beside it succeeds", async () => {
  await withStore(async (_dir, open) => {
    const store = await open();
    const handle = (store as unknown as { current: { handle: { datasync(): Promise<void> } } }).current.handle;
    const realSync = handle.datasync.bind(handle);
    let failFirst!: (e: Error) => void;
    let calls = 0;
    // The first datasync fails once the second has succeeded: after a failed writeback Linux
    // reports the error once and a later fsync of the same file returns 0, pages lost or not.
    handle.datasync = () => (++calls === 1 ? new Promise<void>((_, reject) => (failFirst = reject)) : realSync());
    const [x, y, z] = [randomBlock(5000), randomBlock(6000), randomBlock(7000)];
    await store.put(hashBlock(x), x);
    const first = store.sync();
    await store.put(hashBlock(y), y);
    const second = store.sync();
    failFirst(Object.assign(new Error("EIO: i/o error, fdatasync"), { code: "EIO" }));
    await expect(first).rejects.toMatchObject({ code: "io" });
    await second;
    // Both were in the pack when its datasync failed: neither is trusted, so both are asked for again.
    expect(await store.missing([hashBlock(x), hashBlock(y)])).toEqual([hashBlock(x), hashBlock(y)]);
    // The store goes on: a block put (or put again) after the failure is indexed.
    await store.put(hashBlock(z), z);
    await store.put(hashBlock(x), x);
    await store.sync();
    await store.close();
    const reopened = await open();
    expect(await reopened.missing([hashBlock(x), hashBlock(y), hashBlock(z)])).toEqual([hashBlock(y)]);
    expect(await reopened.get(hashBlock(x))).toEqual(x);
    await reopened.close();
  });
});

test("PackBlockStore indexes blocks in a pack it opened for writing only once the packs folder is synced", async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), "dropsim-pack-"));
  try {
    const synced: string[] = [];
    let fail = false;
    const syncDir = async (d: string) => {
      if (fail) throw Object.assign(new Error("EIO: i/o error, fsync"), { code: "EIO" });
      synced.push(d);
    };
    // Packs of 12,000 bytes: the block put after 15,000 bytes starts a second pack.
    const store = await PackBlockStore.open(dir, openBunDatabase, { packLimit: 12_000, syncDir });
    const [a, b, c] = [randomBlock(5000), randomBlock(5000), randomBlock(5000)];
    // A new pack's name is durable only once its folder is synced: until then, a power cut
    // could leave the index pointing into a file that is not there.
    fail = true;
    await store.put(hashBlock(a), a);
    await expect(store.sync()).rejects.toMatchObject({ code: "io" });
    expect(await store.missing([hashBlock(a)])).toEqual([hashBlock(a)]);
    fail = false;
    await store.put(hashBlock(a), a);
    await store.sync();
    expect(synced).toEqual([path.join(dir, "packs")]);
    // The same pack again: its name is durable already.
    await store.put(hashBlock(b), b);
    await store.sync();
    expect(synced).toHaveLength(1);
    // A new pack: the folder again.
    await store.put(hashBlock(c), c);
    await store.sync();
    expect(synced).toHaveLength(2);
    expect(await store.missing([a, b, c].map(hashBlock))).toEqual([]);
    await store.close();
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
});
