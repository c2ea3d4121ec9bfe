import { afterEach, beforeEach, expect, test } from "bun:test";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { forgetRemoved, makeFolder, recordMoved, recordPlaced, removeLocal, renameMoved } from "../../src/client/apply-remote.ts";
import { writeSymlink } from "../../src/client/apply-symlink.ts";
import type { Synced } from "../../src/client/local-index.ts";
import { TempDirs } from "../../src/fsutil/temp-dirs.ts";
import type { SyncContext } from "../../src/client/context.ts";
import { LocalIndex } from "../../src/client/local-index.ts";
import type { Entry } from "../../src/core/entry.ts";
import { statLocal } from "../../src/fsutil/scan.ts";
import { loadRuntime } from "../../src/runtime/index.ts";
import { type TempDir, tempDir } from "../helpers/temp-dir.ts";

// Making, removing and moving what the server made, deleted or moved: the index records or
// forgets a path only once the change on disk is durable.

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
    emit() {},
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

test("files moved for the server are recorded at their new paths only after both folders are synced", async () => {
  await fs.mkdir(path.join(root, "new"));
  const moves = [
    ["a.txt", "new/a.txt"],
    ["docs/b.txt", "new/b.txt"],
  ] as const;
  const done = [];
  for (const [from, to] of moves) {
    await synced1(from);
    const m = await renameMoved(ctx, { entry: { ...fileEntry(to), version: 2, movedFrom: from }, expect: undefined });
    expect(m).toBeDefined();
    done.push(m!);
  }
  expect((await fs.readdir(path.join(root, "new"))).sort()).toEqual(["a.txt", "b.txt"]);
  // Renamed on disk, still at the old paths in the index until recorded.
  expect(index.all().map((s) => s.entry.path).sort()).toEqual(["a.txt", "docs/b.txt"]);
  await recordMoved(ctx, done);
  expect(index.all().map((s) => [s.entry.path, s.entry.version]).sort()).toEqual([
    ["new/a.txt", 2],
    ["new/b.txt", 2],
  ]);
  expect(synced.map((s) => s.dir).sort()).toEqual([root, path.join(root, "docs"), path.join(root, "new")]);
  for (const s of synced) expect(s.known).toEqual(["a.txt", "docs/b.txt"]);
});

test("when a folder cannot be synced, the index keeps a moved file at its old path", async () => {
  await synced1("a.txt");
  const m = await renameMoved(ctx, { entry: { ...fileEntry("docs/a.txt"), version: 2, movedFrom: "a.txt" }, expect: undefined });
  ctx.runtime = {
    ...runtime,
    syncDir: () => Promise.reject(Object.assign(new Error("EIO: i/o error, fsync"), { code: "EIO" })),
  };
  await recordMoved(ctx, [m!]);
  expect(index.all().map((s) => s.entry.path)).toEqual(["a.txt"]);
});

test("folders and links made for the server are recorded only after the folders holding them are synced", async () => {
  ctx.tmpDirs = await TempDirs.prepare(dir.join("tmp"));
  const placed: Synced[] = [];
  const folder = { ...fileEntry("docs/new"), kind: "dir" as const, hash: "" };
  const link = { ...fileEntry("link"), kind: "symlink" as const, target: "docs/new" };
  expect(await makeFolder(ctx, folder, placed)).toBe(true);
  expect(await writeSymlink(ctx, link, undefined, placed)).toBe(true);
  expect((await fs.lstat(path.join(root, "docs/new"))).isDirectory()).toBe(true);
  expect(await fs.readlink(path.join(root, "link"))).toBe("docs/new");
  expect(index.all()).toEqual([]);
  await recordPlaced(ctx, placed);
  expect(index.all().map((s) => s.entry.path).sort()).toEqual(["docs/new", "link"]);
  expect(synced.map((s) => s.dir).sort()).toEqual([root, path.join(root, "docs")]);
  for (const s of synced) expect(s.known).toEqual([]);
});
