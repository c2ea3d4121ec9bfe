import { expect, test } from "bun:test";
import * as fs from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { hashBlock } from "../../src/core/block-hash.ts";
import { openBunDatabase } from "../../src/runtime/sqlite-bun.ts";
import { PackBlockStore } from "../../src/store/pack-block-store.ts";

async function withStore(fn: (dir: string, open: () => Promise<PackBlockStore>) => Promise<void>) {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), "dropsim-pack-"));
  try {
    await fn(dir, () => PackBlockStore.open(dir, openBunDatabase(path.join(dir, "index.db"))));
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
    expect(await first.has(hashBlock(lost))).toBe(true);
    // Simulate a crash: the index is never told about `lost`.
    (first as unknown as { pending: Map<string, unknown> }).pending.clear();
    await first.close();

    const again = await open();
    expect(await again.get(hashBlock(kept))).toEqual(kept);
    expect(await again.has(hashBlock(lost))).toBe(false);
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
