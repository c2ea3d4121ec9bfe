import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { hashBlock, hashBlockList } from "../../src/core/block-hash.ts";
import type { Op } from "../../src/protocol/messages.ts";
import { openBunDatabase } from "../../src/runtime/sqlite-bun.ts";
import { applyOps, findMissingIn } from "../../src/server/commit.ts";
import { checkDataDir } from "../../src/server/fsck.ts";
import { collectGarbage, GarbageCollector, type GcShare } from "../../src/server/gc.ts";
import { MemoryBlockStore } from "../../src/store/memory-block-store.ts";
import { MemoryMetaStore } from "../../src/store/memory-meta-store.ts";
import { openStores, type StoreSet } from "../../src/store/open.ts";
import { commitFile as commitChunks, deletePath } from "../helpers/share-commits.ts";
import { type TempDir, tempDir } from "../helpers/temp-dir.ts";

const HOUR = 3_600_000;
const runtime = { openDatabase: openBunDatabase };

let scratch: TempDir;
let opened: StoreSet[] = [];
beforeEach(async () => {
  scratch = await tempDir("dropsim-gc-");
});
afterEach(async () => {
  for (const s of opened) await s.close();
  opened = [];
  await scratch.remove();
});

/** A share's stores on either backend. Times are real: pack stores stamp blocks with the clock. */
const backends: [string, () => Promise<GcShare>][] = [
  ["memory", async () => ({ name: "default", meta: new MemoryMetaStore(), blocks: new MemoryBlockStore() })],
  [
    "data dir",
    async () => {
      const stores = await openStores(scratch.join("data"), runtime);
      opened.push(stores);
      return { name: "default", ...stores.share("default")! };
    },
  ],
];

/** Stores `text` as one block and commits it at `path`; returns the block's hash. */
async function commitFile(share: GcShare, path: string, text: string, at: number): Promise<string> {
  return (await commitChunks(share, path, text, at))[0]!;
}

async function held(share: GcShare): Promise<string[]> {
  return (await share.blocks.list()).map((b) => b.hash).sort();
}

describe.each(backends)("collectGarbage (%s)", (_, open) => {
  test("drops versions outside retention and deletes their blocks at once, keeping the current ones", async () => {
    const share = await open();
    const now = Date.now();
    const old = await commitFile(share, "a.txt", "first version", now - 3 * HOUR);
    const current = await commitFile(share, "a.txt", "second version", now - 2 * HOUR);
    const gone = await commitFile(share, "b.txt", "deleted file", now - 2 * HOUR);
    await deletePath(share, "b.txt", now - HOUR / 2);

    const kept = await collectGarbage(share, { keepDays: 30, grace: 24 * HOUR, now, dryRun: false });
    // Within 30 days, the versions current at an hour mark stay; nothing to reclaim here.
    expect(kept.rowsDropped).toBe(0);
    expect(await held(share)).toEqual([old, current, gone].sort());

    const report = await collectGarbage(share, { keepDays: 0, grace: 24 * HOUR, now, dryRun: false });
    expect(report.rowsDropped).toBe(3);
    expect(report.blocksDeleted).toBe(2);
    expect(report.bytesDeleted).toBe("first version".length + "deleted file".length);
    expect(await held(share)).toEqual([current]);
    expect((await share.meta.get("a.txt"))!.blocks[0]![0]).toBe(current);
    expect(await share.meta.get("b.txt")).toBeUndefined();
    expect(await share.meta.prunedThrough()).toBeGreaterThan(0);
  });

  test("keeps a block no version refers to yet for the grace, and deletes it after", async () => {
    const share = await open();
    const bytes = new TextEncoder().encode("an upload in flight");
    const hash = hashBlock(bytes);
    await share.blocks.put(hash, bytes);
    await share.blocks.sync();
    const now = Date.now();
    expect((await collectGarbage(share, { keepDays: 0, grace: HOUR, now, dryRun: false })).blocksDeleted).toBe(0);
    expect(await held(share)).toEqual([hash]);
    const later = await collectGarbage(share, { keepDays: 0, grace: HOUR, now: now + 2 * HOUR, dryRun: false });
    expect(later.blocksDeleted).toBe(1);
    expect(await held(share)).toEqual([]);
  });

  test("a dry run reports the same and changes nothing", async () => {
    const share = await open();
    const now = Date.now();
    await commitFile(share, "a.txt", "one", now - 3 * HOUR);
    await commitFile(share, "a.txt", "two", now - 2 * HOUR);
    const before = { blocks: await held(share), history: await share.meta.history({ path: "", below: true, limit: 100 }) };
    const dry = await collectGarbage(share, { keepDays: 0, grace: 0, now, dryRun: true });
    expect(dry).toMatchObject({ rowsDropped: 1, blocksDeleted: 1, bytesDeleted: 3 });
    expect(await held(share)).toEqual(before.blocks);
    expect(await share.meta.history({ path: "", below: true, limit: 100 })).toEqual(before.history);
    expect(await share.meta.prunedThrough()).toBe(0);
  });

  test("a commit told a block is present, whose block GC then deleted, is refused missing_blocks", async () => {
    const share = await open();
    const bytes = new TextEncoder().encode("uploaded before the GC");
    const hash = hashBlock(bytes);
    await share.blocks.put(hash, bytes);
    await share.blocks.sync();
    // The client asked and heard "present"; then a GC with no grace ran before its commit.
    expect(await share.blocks.missing([hash])).toEqual([]);
    await collectGarbage(share, { keepDays: 0, grace: 0, now: Date.now() + 1, dryRun: false });
    const op: Op = { op: "put", path: "late.txt", kind: "file", baseVersion: 0, size: bytes.length, mode: 0o644, hash: hashBlockList([hash]), blocks: [[hash, bytes.length]], mtime: 1 };
    const { results } = await applyOps(share.meta, [op], findMissingIn(share.blocks), { clientId: "test", at: Date.now() });
    expect(results[0]).toMatchObject({ status: "error", code: "missing_blocks" });
    expect(await share.meta.get("late.txt")).toBeUndefined();
  });
});

describe("GarbageCollector", () => {
  test("runs one GC at a time, each share with its own retention, and logs what it reclaimed", async () => {
    const a: GcShare = { name: "a", meta: new MemoryMetaStore(), blocks: new MemoryBlockStore() };
    const b: GcShare = { name: "b", meta: new MemoryMetaStore(), blocks: new MemoryBlockStore() };
    const now = Date.now();
    for (const s of [a, b]) {
      await commitFile(s, "f", "v1", now - 3 * HOUR);
      await commitFile(s, "f", "v2", now - 2 * HOUR);
    }
    const lines: string[] = [];
    const log = { info: (m: unknown) => lines.push(String(m)), warn() {}, error() {}, debug() {}, success() {} };
    const gc = new GarbageCollector(() => [a, b], (name) => (name === "a" ? 0 : -1), log);
    const [first, second] = await Promise.all([gc.run({ grace: 0, dryRun: false }), gc.run({ grace: 0, dryRun: false })]);
    expect(first.shares.map((s) => [s.share, s.keepDays, s.rowsDropped])).toEqual([
      ["a", 0, 1],
      ["b", -1, 0],
    ]);
    expect(second.shares.map((s) => s.rowsDropped)).toEqual([0, 0]);
    expect(lines[0]).toMatch(/^GC of share "a": dropped 1 versions, deleted 1 blocks \(2 bytes\), packs/);
    expect(lines[1]).toBe("GC found nothing to reclaim");
    expect(gc.busy).toBe(false);
  });
});

test("fsck finds a missing block of an older retained version", async () => {
  const dir = scratch.join("data");
  const stores = await openStores(dir, runtime);
  const share = { name: "default", ...stores.share("default")! };
  const now = Date.now();
  const old = await commitFile(share, "a.txt", "older version", now - 2 * HOUR);
  await commitFile(share, "a.txt", "current version", now - HOUR);
  await share.blocks.delete([old]);
  await stores.close();
  const report = await checkDataDir(dir, runtime);
  expect(report.problems).toEqual([`Block ${old.slice(0, 12)}… of an older version kept in history is not in the block store`]);
});
