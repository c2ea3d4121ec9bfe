import { expect, test } from "bun:test";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { hashBlock } from "../../src/core/block-hash.ts";
import { openBunDatabase } from "../../src/runtime/sqlite-bun.ts";
import { PackBlockStore } from "../../src/store/pack-block-store.ts";
import { planCompaction } from "../../src/store/pack-plan.ts";
import { tempDir } from "../helpers/temp-dir.ts";

const KiB = 1024;

function block(seed: number, size = 10 * KiB) {
  const b = new Uint8Array(size);
  for (let i = 0; i < size; i += 4) new DataView(b.buffer).setUint32(i, (seed * 2654435761 + i) >>> 0);
  return b;
}

async function packSizes(dir: string): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const name of (await fs.readdir(path.join(dir, "packs"))).sort()) out[name] = (await fs.stat(path.join(dir, "packs", name))).size;
  return out;
}

async function fill(store: PackBlockStore, seeds: number[]) {
  const made = seeds.map((s) => block(s));
  for (const b of made) await store.put(hashBlock(b), b);
  await store.sync();
  return made;
}

test.each([
  ["an empty pack is removed", [{ id: 1, size: 100, live: 0 }], 0.1, { remove: [1], rewrite: [], before: 100, after: 0 }],
  ["a pack past the threshold is rewritten", [{ id: 1, size: 100, live: 80 }], 0.1, { remove: [], rewrite: [1], before: 100, after: 80 }],
  ["a pack at the threshold is kept", [{ id: 1, size: 100, live: 90 }], 0.1, { remove: [], rewrite: [], before: 100, after: 100 }],
  ["threshold 0 rewrites any dead byte", [{ id: 1, size: 100, live: 99 }, { id: 2, size: 50, live: 50 }], 0, { remove: [], rewrite: [1], before: 150, after: 149 }],
])("planCompaction: %s", (_name, packs, threshold, plan) => {
  expect(planCompaction(packs, threshold)).toEqual(plan);
});

test("compact rewrites packs past the threshold, removes dead ones, and every live block reads back", async () => {
  await using dir = await tempDir("dropsim-compact-");
  const store = await PackBlockStore.open(dir.path, openBunDatabase, { packLimit: 50 * KiB });
  const made = await fill(store, Array.from({ length: 20 }, (_, i) => i));
  expect(Object.keys(await packSizes(dir.path))).toHaveLength(4);
  // Pack 1 loses everything, pack 2 three blocks of five, pack 3 one (under the threshold), pack 4 (current) nothing.
  const dead = [0, 1, 2, 3, 4, 5, 7, 9, 10];
  await store.delete(dead.map((i) => hashBlock(made[i]!)));
  const dry = await store.compact(0.3, true);
  expect(dry).toEqual({ packs: 2, before: 200 * KiB, after: 120 * KiB });
  expect(Object.keys(await packSizes(dir.path))).toHaveLength(4);
  const done = await store.compact(0.3, false);
  expect(done).toEqual(dry);
  expect(await packSizes(dir.path)).toEqual({ "000003.pack": 50 * KiB, "000004.pack": 50 * KiB, "000005.pack": 20 * KiB });
  for (const [i, b] of made.entries()) expect(await store.get(hashBlock(b))).toEqual(dead.includes(i) ? undefined : b);
  expect(await store.check()).toEqual([]);
  await store.close();
});

test("compact rolls the current pack over when it is a candidate, and keeps blocks put meanwhile", async () => {
  await using dir = await tempDir("dropsim-compact-");
  const store = await PackBlockStore.open(dir.path, openBunDatabase);
  const made = await fill(store, [1, 2, 3, 4]);
  await store.delete(made.slice(0, 3).map((b) => hashBlock(b)));
  const late = block(99);
  const compacting = store.compact(0.1, false);
  await store.put(hashBlock(late), late);
  await compacting;
  await store.sync();
  expect(await store.get(hashBlock(made[3]!))).toEqual(made[3]!);
  expect(await store.get(hashBlock(late))).toEqual(late);
  expect(Object.keys(await packSizes(dir.path))).not.toContain("000001.pack");
  expect(await store.check()).toEqual([]);
  await store.close();
});

test("a reopened store never appends to a pack id compaction used or re-creates an indexed pack that is gone", async () => {
  await using dir = await tempDir("dropsim-compact-");
  const first = await PackBlockStore.open(dir.path, openBunDatabase, { packLimit: 20 * KiB });
  const made = await fill(first, [1, 2, 3, 4]); // packs 1, 2
  await first.delete([hashBlock(made[2]!), hashBlock(made[3]!)]);
  await first.compact(0.1, false); // the current pack 2 is rolled over to 3 and removed
  await first.close();
  const again = await PackBlockStore.open(dir.path, openBunDatabase, { packLimit: 20 * KiB });
  const next = block(5);
  await again.put(hashBlock(next), next);
  await again.sync();
  for (const b of [made[0]!, made[1]!, next]) expect(await again.get(hashBlock(b))).toEqual(b);
  expect(await again.check()).toEqual([]);
  await again.close();
  // The newest indexed pack is gone (lost, or a bug): opening starts a new one rather than writing over its offsets.
  const newest = Math.max(...Object.keys(await packSizes(dir.path)).map((n) => Number.parseInt(n)));
  await fs.rm(path.join(dir.path, "packs", `${String(newest).padStart(6, "0")}.pack`));
  const third = await PackBlockStore.open(dir.path, openBunDatabase);
  await third.put(hashBlock(block(6)), block(6));
  await third.sync();
  expect(Object.keys(await packSizes(dir.path))).toContain(`${String(newest + 1).padStart(6, "0")}.pack`);
  await third.close();
});

test("a read that located a block before compaction moved it still gets its bytes", async () => {
  await using dir = await tempDir("dropsim-compact-");
  const store = await PackBlockStore.open(dir.path, openBunDatabase, { packLimit: 20 * KiB });
  const made = await fill(store, [1, 2, 3, 4, 5]);
  await store.delete([hashBlock(made[0]!)]);
  // Opens pack 1's handle, as a read about to happen would have.
  expect(await store.get(hashBlock(made[1]!))).toEqual(made[1]!);
  await store.compact(0.1, false);
  const handle = (store as unknown as { retired: { handle: fs.FileHandle }[] }).retired[0]!.handle;
  const buf = new Uint8Array(made[1]!.length);
  await handle.read(buf, 0, buf.length, 10 * KiB);
  expect(buf).toEqual(made[1]!);
  await store.close();
});

test("leftover packs from an interrupted compaction are removed by the next one", async () => {
  await using dir = await tempDir("dropsim-compact-");
  const store = await PackBlockStore.open(dir.path, openBunDatabase);
  const made = await fill(store, [1, 2]);
  await store.close();
  // A new pack written in full but never pointed at, as a crash before the index switch leaves it, and below the current one.
  await fs.writeFile(path.join(dir.path, "packs", "000000.pack"), Buffer.from(block(7)));
  const again = await PackBlockStore.open(dir.path, openBunDatabase);
  expect(await again.check()).toEqual([]);
  const report = await again.compact(0.1, false);
  expect(report).toEqual({ packs: 1, before: 30 * KiB, after: 20 * KiB });
  for (const b of made) expect(await again.get(hashBlock(b))).toEqual(b);
  await again.close();
});
