import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import type { Download } from "../../src/client/apply-remote.ts";
import type { SyncContext } from "../../src/client/context.ts";
import { writeFiles } from "../../src/client/download-batch.ts";
import type { SyncEvent } from "../../src/client/events.ts";
import { LocalIndex } from "../../src/client/local-index.ts";
import { Throttle } from "../../src/client/rate-limit.ts";
import type { ServerPeer } from "../../src/client/server-link.ts";
import { hashBlock, hashBlockList } from "../../src/core/block-hash.ts";
import type { BlockRef, Entry } from "../../src/core/entry.ts";
import { statLocal } from "../../src/fsutil/scan.ts";
import { TempDirs } from "../../src/fsutil/temp-dirs.ts";
import { loadRuntime } from "../../src/runtime/index.ts";
import { type TempDir, tempDir } from "../helpers/temp-dir.ts";

// writeFiles against a real folder, index and temp dirs, with the server's blocks served by a
// fake fetcher that records what it was asked for.

const KiB = 1024;
const BLOCK = 64 * KiB;
const runtime = await loadRuntime();
const peer = {} as ServerPeer;
let dir: TempDir;
let root: string;
let index: LocalIndex;
let events: SyncEvent[];
/** Blocks the "server" holds, and each hash asked for, in order. */
let server: Map<string, Uint8Array>;
let asked: string[];
let ctx: SyncContext;

beforeEach(async () => {
  dir = await tempDir("dropsim-download-batch-");
  root = dir.join("root");
  await fs.mkdir(root);
  index = new LocalIndex(runtime.openDatabase(dir.join("state.db")));
  events = [];
  server = new Map();
  asked = [];
  ctx = {
    root,
    tmpDirs: await TempDirs.prepare(dir.join("tmp")),
    hostName: "host",
    clientId: "client",
    index,
    throttle: new Throttle({ up: null, down: null }),
    fetcher: {
      async *fetch(_peer: ServerPeer, refs: readonly BlockRef[]) {
        for (const [hash] of refs) {
          asked.push(hash);
          const bytes = server.get(hash);
          if (!bytes) throw new Error(`no block ${hash.slice(0, 12)}`);
          // A buffer of its own, as every block off the wire is: the writer frees it once written.
          yield bytes.slice();
        }
      },
    },
    emit: (e: SyncEvent) => events.push(e),
    runtime,
    minDiskFree: { bytes: 0 },
    waitingForSpace: new Set(),
    foldsNames: false,
    markDirty() {},
    folderAppeared() {},
  } as unknown as SyncContext;
});
afterEach(async () => {
  index.close();
  await dir.remove();
});

/** `count` blocks of 64 KiB, block i filled with `fill(i)`. */
function blocksOf(count: number, fill: (i: number) => number): Uint8Array[] {
  return Array.from({ length: count }, (_, i) => new Uint8Array(BLOCK).fill(fill(i)));
}

/** The entry of a file made of `blocks`, which the server holds. */
function served(p: string, blocks: Uint8Array[], version = 1): Entry {
  const refs: BlockRef[] = blocks.map((b) => [hashBlock(b), b.length]);
  for (const b of blocks) server.set(hashBlock(b), b);
  const size = blocks.reduce((n, b) => n + b.length, 0);
  return { path: p, kind: "file", size, mode: 0o644, hash: hashBlockList(refs.map(([h]) => h)), blocks: refs, version, deleted: false, mtime: 1_700_000_000_000 };
}

function concat(blocks: Uint8Array[]) {
  return Buffer.concat(blocks);
}

/** Writes `entry`'s bytes at its path and records it as synced; the download that replaces it. */
async function syncedFile(entry: Entry, blocks: Uint8Array[]): Promise<Download["expect"]> {
  const abs = path.join(root, entry.path);
  await fs.writeFile(abs, concat(blocks));
  const st = (await statLocal(abs))!;
  index.put(entry, st);
  return st;
}

async function filesIn(folder: string): Promise<string[]> {
  return (await fs.readdir(folder, { recursive: true, withFileTypes: true })).filter((d) => d.isFile()).map((d) => d.name);
}

const types = (p: string) => events.filter((e) => "path" in e && e.path === p).map((e) => e.type);

describe("writeFiles", () => {
  test("writes new files from fetched blocks, records them, and tells start, progress every 256 KiB, and done", async () => {
    const big = blocksOf(16, (i) => i);
    const small = blocksOf(1, () => 200);
    const a = served("big.bin", big, 7);
    const b = served("small.bin", small, 3);
    const failed = await writeFiles(ctx, peer, [{ entry: a, expect: undefined }, { entry: b, expect: undefined }]);
    expect(failed).toEqual([]);
    expect(await fs.readFile(path.join(root, "big.bin"))).toEqual(concat(big));
    expect(index.get("big.bin")?.entry.version).toBe(7);
    expect(index.get("small.bin")?.entry.version).toBe(3);
    expect(events.filter((e) => e.type === "file_progress")).toEqual(
      [1, 2, 3, 4].map((q) => ({ type: "file_progress", path: "big.bin", direction: "download", done: q * 256 * KiB, bytes: 1024 * KiB })),
    );
    expect(events.find((e) => e.type === "file_started" && e.path === "big.bin")).toEqual({ type: "file_started", path: "big.bin", direction: "download", bytes: 1024 * KiB });
    expect(types("small.bin")).toEqual(["file_started", "file_done"]);
    expect(events).toContainEqual({ type: "file_done", path: "small.bin", direction: "download", bytes: BLOCK, version: 3 });
  });

  test("records a file only once its folder is synced: a rename is durable only then", async () => {
    await fs.mkdir(path.join(root, "docs"));
    const files = ["a.txt", "docs/b.txt", "docs/c.txt"].map((p, i) => served(p, blocksOf(1, () => i + 1)));
    // Each folder synced, with what the index held of its files at that moment.
    const synced: { dir: string; recorded: string[] }[] = [];
    ctx.runtime = {
      ...runtime,
      async syncDir(d: string) {
        synced.push({ dir: d, recorded: files.map((f) => f.path).filter((p) => index.get(p) !== undefined) });
      },
    };
    expect(await writeFiles(ctx, peer, files.map((entry) => ({ entry, expect: undefined })))).toEqual([]);
    expect(files.map((f) => index.get(f.path)?.entry.version)).toEqual([1, 1, 1]);
    expect(synced.map((s) => s.dir).sort()).toEqual([root, path.join(root, "docs")]);
    for (const s of synced) expect(s.recorded).toEqual([]);
  });

  test("fetches each block once: a block the folder or the batch already holds is copied locally", async () => {
    const shared = blocksOf(1, () => 1)[0]!;
    const fresh = blocksOf(1, () => 2)[0]!;
    const old = served("old.bin", [shared]);
    await syncedFile(old, [shared]);
    server.clear();
    const a = served("a.bin", [shared, fresh]);
    const b = served("b.bin", [fresh, fresh]);
    expect(await writeFiles(ctx, peer, [{ entry: a, expect: undefined }, { entry: b, expect: undefined }])).toEqual([]);
    expect(asked).toEqual([hashBlock(fresh)]);
    expect(await fs.readFile(path.join(root, "b.bin"))).toEqual(concat([fresh, fresh]));
  });

  test("a local copy changed since it was synced is not trusted: the block is fetched after all", async () => {
    const block = blocksOf(1, () => 1)[0]!;
    const old = served("old.bin", [block]);
    await syncedFile(old, [block]);
    await fs.writeFile(path.join(root, "old.bin"), new Uint8Array(BLOCK).fill(9));
    const a = served("a.bin", [block]);
    expect(await writeFiles(ctx, peer, [{ entry: a, expect: undefined }])).toEqual([]);
    expect(asked).toEqual([hashBlock(block)]);
    expect(await fs.readFile(path.join(root, "a.bin"))).toEqual(concat([block]));
  });

  test("an edited big file (a patched copy of its old version) fetches only its new blocks", async () => {
    const before = blocksOf(32, (i) => i);
    const v1 = served("doc.bin", before, 1);
    const expect1 = await syncedFile(v1, before);
    const after = [...before.slice(0, 10), blocksOf(1, () => 99)[0]!, ...before.slice(10)];
    const v2 = served("doc.bin", after, 2);
    asked = [];
    expect(await writeFiles(ctx, peer, [{ entry: v2, expect: expect1 }])).toEqual([]);
    expect(asked).toEqual([hashBlock(after[10]!)]);
    expect(await fs.readFile(path.join(root, "doc.bin"))).toEqual(concat(after));
    expect(index.get("doc.bin")?.entry.version).toBe(2);
  });

  test("a file that cannot be built fails, told with its reason and returned to be retried; the rest of the batch is written", async () => {
    const a = { ...served("a.bin", blocksOf(2, (i) => i + 10)), size: 3 * BLOCK };
    const b = served("b.bin", blocksOf(1, () => 50));
    const da = { entry: a, expect: undefined };
    expect(await writeFiles(ctx, peer, [da, { entry: b, expect: undefined }])).toEqual([da]);
    expect(events).toContainEqual({ type: "file_failed", path: "a.bin", direction: "download", reason: `blocks add up to ${2 * BLOCK} bytes, expected ${3 * BLOCK}`, retry: true });
    expect(await fs.exists(path.join(root, "a.bin"))).toBe(false);
    expect(await fs.exists(path.join(root, "b.bin"))).toBe(true);
    expect(await filesIn(dir.join("tmp"))).toEqual([]);
  });

  test("a block the server lacks ends the batch with the error, and no temp file stays", async () => {
    const a = served("a.bin", blocksOf(2, (i) => i + 10));
    server.delete(a.blocks[1]![0]);
    await expect(writeFiles(ctx, peer, [{ entry: a, expect: undefined }])).rejects.toThrow(/no block/);
    expect(await fs.exists(path.join(root, "a.bin"))).toBe(false);
    expect(await filesIn(dir.join("tmp"))).toEqual([]);
  });

  test("a big download cut short resumes from its kept partial file: told as resumed, only the rest travels", async () => {
    const blocks = blocksOf(80, (i) => i);
    const a = served("big.bin", blocks);
    server.delete(a.blocks[50]![0]);
    await expect(writeFiles(ctx, peer, [{ entry: a, expect: undefined }])).rejects.toThrow(/no block/);
    server.set(a.blocks[50]![0], blocks[50]!);
    asked = [];
    events = [];
    expect(await writeFiles(ctx, peer, [{ entry: a, expect: undefined }])).toEqual([]);
    expect(asked).toEqual(a.blocks.slice(50).map(([h]) => h));
    expect(events[0]).toEqual({ type: "file_started", path: "big.bin", direction: "download", bytes: 80 * BLOCK, resumedFrom: 50 * BLOCK });
    // Progress counts from where it resumed.
    expect(events[1]).toEqual({ type: "file_progress", path: "big.bin", direction: "download", done: 54 * BLOCK, bytes: 80 * BLOCK });
    expect(await fs.readFile(path.join(root, "big.bin"))).toEqual(concat(blocks));
    expect(await filesIn(dir.join("tmp"))).toEqual([]);
  });

  test("where names fold, a file clashing with another spelling lands under a case-conflict name, told once", async () => {
    ctx.foldsNames = true;
    await fs.writeFile(path.join(root, "Notes.txt"), "theirs");
    const a = served("notes.txt", blocksOf(1, () => 7));
    expect(await writeFiles(ctx, peer, [{ entry: a, expect: undefined }])).toEqual([]);
    const conflict = events.find((e) => e.type === "case_conflict");
    expect(conflict).toMatchObject({ type: "case_conflict", path: "notes.txt", clash: "Notes.txt" });
    expect(await fs.readFile(path.join(root, "Notes.txt"), "utf8")).toBe("theirs");
    expect((await fs.readFile(path.join(root, (conflict as { placedAs: string }).placedAs))).length).toBe(BLOCK);
    // A new local file there, for a later pass to upload: not the entry.
    expect(index.get("notes.txt")).toBeUndefined();
  });

  test("a path changed locally since the plan wins: the download is returned to be retried", async () => {
    const a = served("a.bin", blocksOf(1, () => 5));
    await fs.writeFile(path.join(root, "a.bin"), "mine");
    const d = { entry: a, expect: undefined };
    expect(await writeFiles(ctx, peer, [d])).toEqual([d]);
    expect(await fs.readFile(path.join(root, "a.bin"), "utf8")).toBe("mine");
    expect(index.get("a.bin")).toBeUndefined();
  });

  test("a download that would leave less than the floor free waits: told once, then as 'again'", async () => {
    ctx.minDiskFree = { percent: 100 };
    const a = served("a.bin", blocksOf(1, () => 5));
    const d = { entry: a, expect: undefined };
    expect(await writeFiles(ctx, peer, [d])).toEqual([d]);
    expect(await writeFiles(ctx, peer, [d])).toEqual([d]);
    const waits = events.filter((e) => e.type === "waiting_for_space");
    expect(waits.map((e) => [e.path, e.bytes, e.keep, e.again])).toEqual([["a.bin", BLOCK, "100%", false], ["a.bin", BLOCK, "100%", true]]);
    expect(asked).toEqual([]);
  });
});
