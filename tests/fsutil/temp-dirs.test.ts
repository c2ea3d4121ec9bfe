import { afterEach, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { hashBlock, hashBlockList } from "../../src/core/block-hash.ts";
import type { BlockRef } from "../../src/core/entry.ts";
import { TempFile } from "../../src/fsutil/atomic-write.ts";
import { TempDirs } from "../../src/fsutil/temp-dirs.ts";
import { concatBytes } from "../helpers/bytes.ts";
import { type TempDir, tempDir } from "../helpers/temp-dir.ts";

let dir: TempDir | undefined;
afterEach(async () => {
  await dir?.[Symbol.asyncDispose]();
  dir = undefined;
});

const DAY_MS = 24 * 3600 * 1000;
const LIMITS = { maxAgeMs: 7 * DAY_MS, maxBytes: 64 * 1024 };

/**
 * A file's content as blocks of random bytes: what a download of it builds. Blocks of one
 * byte would collide (1 in 256 per pair), and two kept files of equal content are one.
 */
function content(path: string, sizes: number[]): { path: string; hash: string; blocks: BlockRef[]; bytes: Uint8Array[] } {
  const bytes = sizes.map((n) => new Uint8Array(randomBytes(n)));
  const blocks: BlockRef[] = bytes.map((b) => [hashBlock(b), b.length]);
  return { path, hash: hashBlockList(blocks.map(([h]) => h)), blocks, bytes };
}

/** The names in `root/kept`. */
async function keptNames(root: string): Promise<string[]> {
  return (await fs.readdir(path.join(root, "kept"))).sort();
}

test("prepare drops what a previous run left and takes its subfolders in turn", async () => {
  dir = await tempDir();
  const root = dir.join("tmp");
  await fs.mkdir(path.join(root, "3"), { recursive: true });
  await fs.writeFile(path.join(root, "3", "partial"), "left by a crash");
  await fs.writeFile(path.join(root, "stray"), "x");

  const dirs = await TempDirs.prepare(root);
  const shards = (await fs.readdir(root)).filter((e) => e !== "kept");
  expect(shards.filter((e) => !/^[0-9a-f]$/.test(e))).toEqual([]);
  expect(await fs.readdir(root, { recursive: true })).toHaveLength(shards.length + 1);
  const picked = Array.from({ length: shards.length * 2 }, () => dirs.next());
  // Every subfolder in turn, each exactly twice over two rounds.
  expect(new Set(picked).size).toBe(shards.length);
  for (const d of new Set(picked)) expect(picked.filter((p) => p === d).length).toBe(2);
  // Temp files can be made there without creating anything first.
  const tmp = await TempFile.create(dirs.next());
  await tmp.write(new TextEncoder().encode("ok"));
  await tmp.commit(dir.join("done.txt"));
  expect(await fs.readFile(dir.join("done.txt"), "utf8")).toBe("ok");
});

test("a big download's partial file survives a restart and resumes after the blocks it holds intact", async () => {
  dir = await tempDir();
  const root = dir.join("tmp");
  const c = content("videos/big.mkv", [5000, 7000, 3000, 9000]);
  const first = await (await TempDirs.prepare(root, LIMITS)).resumable(c);
  expect(first).toMatchObject({ blocks: 0, bytes: 0 });
  // The first two blocks and part of the third, as a crash leaves them.
  await fs.writeFile(first.path, concatBytes([c.bytes[0]!, c.bytes[1]!, c.bytes[2]!.subarray(0, 1000)]));

  const again = await (await TempDirs.prepare(root, LIMITS)).resumable(c);
  expect(again).toEqual({ path: first.path, blocks: 2, bytes: 12_000 });
  // The same bytes downloaded to another path (moved meanwhile) start from there too, and the
  // file is that path's from now on: new content at the old path does not take it away.
  const dirs = await TempDirs.prepare(root, LIMITS);
  const moved = await dirs.resumable({ ...c, path: "moved.mkv" });
  expect(moved).toMatchObject({ blocks: 2, bytes: 12_000 });
  await dirs.resumable(content("videos/big.mkv", [100]));
  expect(await keptNames(root)).toEqual([path.basename(moved.path)]);
});

test("a damaged block in a partial file is not trusted: resuming starts there", async () => {
  dir = await tempDir();
  const root = dir.join("tmp");
  const c = content("big.bin", [4096, 4096, 4096]);
  const { path: file } = await (await TempDirs.prepare(root, LIMITS)).resumable(c);
  const damaged = concatBytes(c.bytes);
  damaged[4096 + 17]! ^= 1;
  await fs.writeFile(file, damaged);
  expect(await (await TempDirs.prepare(root, LIMITS)).resumable(c)).toMatchObject({ blocks: 1, bytes: 4096 });
});

test("a partial file of a path's older content goes when a download of its new content starts", async () => {
  dir = await tempDir();
  const dirs = await TempDirs.prepare(dir.join("tmp"), LIMITS);
  const old = content("big.bin", [4096]);
  const other = content("other.bin", [4096]);
  for (const c of [old, other]) await fs.writeFile((await dirs.resumable(c)).path, c.bytes[0]!);
  const next = await dirs.resumable(content("big.bin", [8192]));
  expect(next.blocks).toBe(0);
  expect(await keptNames(dir.join("tmp"))).toEqual([path.basename((await dirs.resumable(other)).path)]);
});

test("kept partial files go when empty, stray, untouched for a week, or the oldest past the size limit", async () => {
  dir = await tempDir();
  const root = dir.join("tmp");
  const dirs = await TempDirs.prepare(root, LIMITS);
  const now = Date.now();
  const keep = async (c: ReturnType<typeof content>, ageMs: number, size = 16 * 1024): Promise<string> => {
    const file = (await dirs.resumable(c)).path;
    await fs.writeFile(file, randomBytes(size));
    await fs.utimes(file, new Date(now - ageMs), new Date(now - ageMs));
    return path.basename(file);
  };
  const newest = await keep(content("newest.bin", [32]), 0, 128 * 1024);
  const recent = await keep(content("recent.bin", [32]), 1000);
  const older = await keep(content("older.bin", [32]), 2000, 48 * 1024);
  await keep(content("oldest.bin", [32]), 3000);
  await keep(content("stale.bin", [32]), 8 * DAY_MS);
  await keep(content("empty.bin", [32]), 0, 0);
  await fs.writeFile(path.join(root, "kept", "stray"), "x");

  await dirs.pruneKept(now);
  // The newest stays whatever its size; after it, 16 + 48 KiB fit in 64 KiB, the next does not.
  expect(await keptNames(root)).toEqual([newest, recent, older].sort());
});
