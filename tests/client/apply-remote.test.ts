import { afterEach, beforeEach, expect, test } from "bun:test";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { forgetRemoved, removeLocal } from "../../src/client/apply-remote.ts";
import type { SyncContext } from "../../src/client/context.ts";
import { LocalIndex } from "../../src/client/local-index.ts";
import type { Entry } from "../../src/core/entry.ts";
import { statLocal } from "../../src/fsutil/scan.ts";
import { loadRuntime } from "../../src/runtime/index.ts";
import { type TempDir, tempDir } from "../helpers/temp-dir.ts";

// Removing what the server deleted: the index forgets a path only once its removal is durable.

const runtime = await loadRuntime();
let dir: TempDir;
let root: string;
let index: LocalIndex;
/** Each folder synced, with the paths the index still knew at that moment. */
let synced: { dir: string; known: string[] }[];
let ctx: SyncContext;

const fileEntry = (p: string): Entry => ({ path: p, kind: "file", size: 1, mode: 0o644, hash: "h", blocks: [], version: 1, deleted: false, mtime: 1_700_000_000_000 });

beforeEach(async () => {
  dir = await tempDir("dropsim-apply-remote-");
  root = dir.join("root");
  await fs.mkdir(path.join(root, "docs"), { recursive: true });
  index = new LocalIndex(runtime.openDatabase(dir.join("state.db")));
  synced = [];
  ctx = {
    root,
    index,
    runtime: {
      ...runtime,
      async syncDir(d: string) {
        synced.push({ dir: d, known: index.all().map((s) => s.entry.path).sort() });
      },
    },
    markDirty() {},
  } as unknown as SyncContext;
});
afterEach(async () => {
  index.close();
  await dir.remove();
});

/** A file on disk, recorded in the index as synced; its stat. */
async function synced1(p: string) {
  await fs.writeFile(path.join(root, p), "x");
  const st = (await statLocal(path.join(root, p)))!;
  index.put(fileEntry(p), st);
  return st;
}

test("files removed for the server are forgotten by the index only after their folders are synced", async () => {
  const paths = ["a.txt", "docs/b.txt", "docs/c.txt"];
  const removed: string[] = [];
  for (const p of paths) expect(await removeLocal(ctx, { ...fileEntry(p), deleted: true }, await synced1(p), (q) => removed.push(q))).toBe(true);
  expect(await fs.readdir(path.join(root, "docs"))).toEqual([]);
  // Gone from the disk, still in the index until forgotten.
  expect(index.all().map((s) => s.entry.path).sort()).toEqual(paths);
  await forgetRemoved(ctx, removed);
  expect(index.all()).toEqual([]);
  expect(synced.map((s) => s.dir).sort()).toEqual([root, path.join(root, "docs")]);
  for (const s of synced) expect(s.known).toEqual(paths);
});

test("when a folder cannot be synced, the index keeps the paths removed in it", async () => {
  await synced1("a.txt");
  const removed: string[] = [];
  await removeLocal(ctx, { ...fileEntry("a.txt"), deleted: true }, index.get("a.txt")!.stat, (q) => removed.push(q));
  ctx.runtime = {
    ...runtime,
    syncDir: () => Promise.reject(Object.assign(new Error("EIO: i/o error, fsync"), { code: "EIO" })),
  };
  await forgetRemoved(ctx, removed);
  expect(index.all().map((s) => s.entry.path)).toEqual(["a.txt"]);
});

test("by default a removal is forgotten at once, as for one path", async () => {
  await synced1("a.txt");
  expect(await removeLocal(ctx, { ...fileEntry("a.txt"), deleted: true }, index.get("a.txt")!.stat)).toBe(true);
  expect(index.get("a.txt")).toBeUndefined();
});
