import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { hashBlock } from "../../src/core/block-hash.ts";
import { openBunDatabase } from "../../src/runtime/sqlite-bun.ts";
import { LAYOUT_UPGRADE, metaFile } from "../../src/store/data-dir.ts";
import { createShareFiles, openAccessStore, openStores } from "../../src/store/open.ts";
import { PackBlockStore } from "../../src/store/pack-block-store.ts";
import { SqlMetaStore } from "../../src/store/sql-meta-store.ts";
import { type TempDir, tempDir } from "../helpers/temp-dir.ts";

// A data dir from before shares (meta.db at the top) becomes the share "default" when it is
// opened, without losing a row, even if the move is cut off after any of its steps.

const runtime = { openDatabase: openBunDatabase };
const BLOCK = new TextEncoder().encode("a block from before shares");

let scratch: TempDir;
beforeEach(async () => {
  scratch = await tempDir("dropsim-open-");
});
afterEach(() => scratch.remove());

interface Legacy {
  root: string;
  serverId: string;
}

/**
 * A data dir in the old layout as a crash leaves it: copied while its server still had it open,
 * so the last commits are only in meta.db-wal.
 */
async function legacyDataDir(name: string): Promise<Legacy> {
  const live = scratch.join(`${name}-live`);
  await fs.mkdir(live);
  const meta = SqlMetaStore.open(path.join(live, "meta.db"), openBunDatabase);
  const blocks = await PackBlockStore.open(path.join(live, "blocks"), openBunDatabase);
  await blocks.put(hashBlock(BLOCK), BLOCK);
  await blocks.sync();
  const stamp = { clientId: "c", at: 1 };
  await meta.transaction(stamp, (tx) => tx.append({ path: "docs", kind: "dir", size: 0, mode: 0o755, hash: "", blocks: [], deleted: false, mtime: 1 }));
  await meta.transaction(stamp, (tx) =>
    tx.append({ path: "docs/a", kind: "file", size: BLOCK.length, mode: 0o644, hash: "h", blocks: [[hashBlock(BLOCK), BLOCK.length]], deleted: false, mtime: 2 }),
  );
  const root = scratch.join(name);
  await fs.cp(live, root, { recursive: true });
  const serverId = meta.serverId;
  await meta.close();
  await blocks.close();
  expect(await fs.exists(path.join(root, "meta.db-wal"))).toBe(true);
  return { root, serverId };
}

async function expectMovedIntact(legacy: Legacy): Promise<void> {
  const stores = await openStores(legacy.root, runtime);
  try {
    expect(stores.shareNames()).toEqual(["default"]);
    const { meta, blocks } = stores.share("default")!;
    expect(meta.serverId).toBe(legacy.serverId);
    expect(await meta.head()).toBe(2);
    expect((await meta.get("docs/a"))!.blocks).toEqual([[hashBlock(BLOCK), BLOCK.length]]);
    expect(await blocks.get(hashBlock(BLOCK))).toEqual(BLOCK);
    expect(await stores.check()).toEqual([]);
  } finally {
    await stores.close();
  }
  const top = (await fs.readdir(legacy.root)).sort();
  expect(top).toEqual(["shares"]);
  expect(await fs.exists(path.join(legacy.root, "shares", "default", "blocks", "index.db"))).toBe(true);
  expect(await fs.exists(metaFile(legacy.root, "default"))).toBe(true);
}

describe("openStores", () => {
  test.each(Array.from({ length: LAYOUT_UPGRADE.length + 1 }, (_, k) => k))(
    "a data dir from before shares becomes the share default, also when a move stopped after step %i",
    async (k) => {
      const legacy = await legacyDataDir(`old-${k}`);
      for (const step of LAYOUT_UPGRADE.slice(0, k)) await step(legacy.root, openBunDatabase);
      await expectMovedIntact(legacy);
      // And opening it again changes nothing.
      await expectMovedIntact(legacy);
    },
  );

  test("a data dir with one block store for all shares moves it into the share default", async () => {
    const legacy = await legacyDataDir("shared-blocks");
    await fs.mkdir(path.dirname(metaFile(legacy.root, "default")), { recursive: true });
    await fs.rename(path.join(legacy.root, "meta.db"), metaFile(legacy.root, "default"));
    await fs.rename(path.join(legacy.root, "meta.db-wal"), metaFile(legacy.root, "default") + "-wal");
    await expectMovedIntact(legacy);
  });

  test("each share has its own blocks: one share's block is missing from another", async () => {
    const root = scratch.join("two");
    await createShareFiles(root, "other", runtime);
    const stores = await openStores(root, runtime);
    try {
      expect(stores.shareNames()).toEqual(["other"]);
      const team = await stores.openShare("team");
      await stores.share("other")!.blocks.put(hashBlock(BLOCK), BLOCK);
      expect(await team.blocks.missing([hashBlock(BLOCK)])).toEqual([hashBlock(BLOCK)]);
      expect(await team.blocks.get(hashBlock(BLOCK))).toBeUndefined();
    } finally {
      await stores.close();
    }
    expect(await fs.exists(path.join(root, "shares", "team", "blocks", "index.db"))).toBe(true);
  });

  test("a new data dir gets the share default", async () => {
    const root = scratch.join("new");
    const stores = await openStores(root, runtime);
    expect(stores.shareNames()).toEqual(["default"]);
    await stores.close();
    expect(await fs.exists(metaFile(root, "default"))).toBe(true);
    expect(await fs.exists(path.join(root, "shares", "default", "blocks", "index.db"))).toBe(true);
  });

  test("a data dir with both an old meta.db and a share default is refused and left as it is", async () => {
    const legacy = await legacyDataDir("both");
    await fs.mkdir(path.dirname(metaFile(legacy.root, "default")), { recursive: true });
    await fs.writeFile(metaFile(legacy.root, "default"), "");
    await expect(openStores(legacy.root, runtime)).rejects.toThrow(/Cannot move ".*meta\.db" to ".*shares\/default\/meta\.db": that file exists already/);
    expect(await fs.exists(path.join(legacy.root, "meta.db"))).toBe(true);
  });

  test("inspecting reads a data dir from before shares where it is, and creates none where there is none", async () => {
    const legacy = await legacyDataDir("inspected");
    const stores = await openStores(legacy.root, runtime, { inspect: true });
    expect(await stores.share("default")!.meta.head()).toBe(2);
    await stores.close();
    expect(await fs.exists(path.join(legacy.root, "meta.db"))).toBe(true);
    expect(await fs.exists(path.join(legacy.root, "shares"))).toBe(false);

    const empty = scratch.join("empty");
    await fs.mkdir(empty);
    await expect(openStores(empty, runtime, { inspect: true })).rejects.toThrow(`Cannot open data dir "${empty}": there is no meta.db in it (is it a dropsim data dir?)`);
    expect(await fs.readdir(empty)).toEqual([]);
  });
});

describe("durable names", () => {
  test("a new data dir and a new share have their folders synced once, when made", async () => {
    const synced: string[] = [];
    const watching = { openDatabase: openBunDatabase, syncDir: async (d: string) => void synced.push(d) };
    const root = scratch.join("fresh");
    const share = path.join(root, "shares", "default");
    await (await openStores(root, watching)).close();
    // A power cut could otherwise take a share's folder, journal and all, away after its first commits.
    expect([...new Set(synced)].sort()).toEqual([scratch.path, root, path.join(root, "shares"), share, path.join(share, "blocks")].sort());
    synced.length = 0;
    await createShareFiles(root, "photos", watching);
    expect(synced.sort()).toEqual([path.join(root, "shares"), path.join(root, "shares", "photos"), path.join(root, "shares", "photos", "blocks")].sort());
    synced.length = 0;
    // Opened again: nothing new to make durable.
    await (await openStores(root, watching)).close();
    expect(synced).toEqual([]);
  });
});

test("a new access store has its data dir synced once, when made", async () => {
  const synced: string[] = [];
  const watching = { openDatabase: openBunDatabase, syncDir: async (d: string) => void synced.push(d) };
  const root = scratch.join("tokens");
  (await openAccessStore(root, watching)).close();
  expect(synced).toEqual([root, scratch.path]);
  synced.length = 0;
  (await openAccessStore(root, watching)).close();
  expect(synced).toEqual([]);
});
