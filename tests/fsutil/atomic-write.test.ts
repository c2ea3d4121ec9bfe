import { afterEach, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs/promises";
import { TempFile } from "../../src/fsutil/atomic-write.ts";
import { concatBytes } from "../helpers/bytes.ts";
import { type TempDir, tempDir } from "../helpers/temp-dir.ts";
import { sha256 } from "../helpers/tree.ts";

let dir: TempDir | undefined;
afterEach(async () => {
  await dir?.[Symbol.asyncDispose]();
  dir = undefined;
});

const PAST_MS = Date.UTC(2021, 2, 4, 5, 6, 7, 891) + 0.25;
const bytes = (s: string) => new TextEncoder().encode(s);

test("commit gives the file the modification time asked for, and returns the stat that has it", async () => {
  dir = await tempDir();
  const tmp = await TempFile.create(dir.path);
  await tmp.write(bytes("hello"));
  const returned = await tmp.commit(dir.join("f.txt"), PAST_MS);
  const st = await fs.stat(dir.join("f.txt"));
  expect(Math.abs(st.mtimeMs - PAST_MS)).toBeLessThan(0.001);
  expect(returned.mtimeMs).toBe(st.mtimeMs);
  expect(returned.ino).toBe(st.ino);
});

test("commit of a patched copy gives it the modification time asked for", async () => {
  dir = await tempDir();
  await fs.writeFile(dir.join("old.txt"), "hello world");
  const tmp = await TempFile.copyOf(dir.join("old.txt"), dir.path, 0o644, 11);
  tmp.writeAt(bytes("HELLO"), 0);
  const returned = await tmp.commit(dir.join("old.txt"), PAST_MS);
  expect(await fs.readFile(dir.join("old.txt"), "utf8")).toBe("HELLO world");
  expect(returned.mtimeMs).toBe((await fs.stat(dir.join("old.txt"))).mtimeMs);
  expect(Math.abs(returned.mtimeMs - PAST_MS)).toBeLessThan(0.001);
});

test("commit without a time leaves the time of writing", async () => {
  dir = await tempDir();
  const before = Date.now();
  const tmp = await TempFile.create(dir.path);
  await tmp.write(bytes("now"));
  const returned = await tmp.commit(dir.join("f.txt"));
  // Coarse file system clocks lag the wall clock by up to a tick.
  expect(returned.mtimeMs).toBeGreaterThanOrEqual(before - 20);
});

const MiB = 1024 * 1024;

/** Bytes the file system allocated for `abs` (what `du` reports). */
async function allocated(abs: string): Promise<number> {
  return (await fs.stat(abs)).blocks * 512;
}

test.each([
  ["4 MiB blocks", 4 * MiB],
  // Blocks cut at odd offsets: a page of zeros is split between two writes.
  ["blocks of an odd size", 300_007],
])("zeros in a new file written in %s become holes, and the file still has every byte", async (_name, block) => {
  dir = await tempDir();
  const expected = new Uint8Array(64 * MiB);
  expected.set(randomBytes(MiB), 20 * MiB + 123);
  const tmp = await TempFile.create(dir.path, 0o644, expected.length);
  for (let at = 0; at < expected.length; at += block) await tmp.write(expected.subarray(at, at + block));
  await tmp.commit(dir.join("sparse.img"));
  expect(sha256(await fs.readFile(dir.join("sparse.img")))).toBe(sha256(expected));
  expect(await allocated(dir.join("sparse.img"))).toBeLessThanOrEqual(MiB + 64 * 1024);
});

/** Writes of random sizes, each all zeros, all data, or data with zeros in it. */
function randomPieces(seed: number, total: number): Uint8Array[] {
  let s = seed;
  const rand = (n: number) => {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    return s % n;
  };
  const pieces: Uint8Array[] = [];
  for (let left = total; left > 0; ) {
    const size = Math.min(left, 1 + rand(rand(4) === 0 ? 3 * MiB : 20_000));
    const piece = new Uint8Array(size);
    const kind = rand(3);
    if (kind > 0) piece.set(randomBytes(size));
    if (kind === 2) piece.fill(0, rand(size), rand(size) + rand(3 * 4096));
    pieces.push(piece);
    left -= size;
  }
  return pieces;
}

test.each([1, 2, 3, 4, 5, 6, 7, 8])("a new file written in pieces of random sizes and kinds reads back whole, also mid-way (seed %d)", async (seed) => {
  dir = await tempDir();
  const pieces = randomPieces(seed, 12 * MiB);
  const expected = concatBytes(pieces);
  const tmp = await TempFile.create(dir.path, 0o644, seed % 2 === 0 ? expected.length : 64 * 1024);
  let written = 0;
  for (const [i, piece] of pieces.entries()) {
    await tmp.write(piece);
    written += piece.length;
    if (i % 7 === 3) {
      // What a later file of a batch does to copy a block from this one.
      await tmp.flush();
      expect(sha256(await fs.readFile(tmp.path))).toBe(sha256(expected.subarray(0, written)));
    }
  }
  await tmp.commit(dir.join("f.bin"));
  expect(sha256(await fs.readFile(dir.join("f.bin")))).toBe(sha256(expected));
});

test("a patched copy overwrites old bytes with zeros", async () => {
  dir = await tempDir();
  await fs.writeFile(dir.join("old.bin"), randomBytes(3 * 4096));
  const tmp = await TempFile.copyOf(dir.join("old.bin"), dir.path, 0o644, 3 * 4096);
  tmp.writeAt(new Uint8Array(3 * 4096), 0);
  await tmp.commit(dir.join("old.bin"));
  expect(await fs.readFile(dir.join("old.bin"))).toEqual(Buffer.alloc(3 * 4096));
});

test("a file kept and reopened keeps the length asked for, is appended to from there, and commits whole", async () => {
  dir = await tempDir();
  const expected = new Uint8Array(randomBytes(3 * 4096 + 100));
  const first = await TempFile.reopen(dir.join("partial"), 0o644, 0);
  await first.write(expected.subarray(0, 2 * 4096));
  // More than is kept: what follows the kept length (torn by a crash, say) is cut off.
  await first.write(randomBytes(500));
  await first.keep();
  expect((await fs.stat(dir.join("partial"))).size).toBe(2 * 4096 + 500);

  const again = await TempFile.reopen(dir.join("partial"), 0o755, 4096);
  await again.write(expected.subarray(4096));
  await again.commit(dir.join("f.bin"));
  expect(sha256(await fs.readFile(dir.join("f.bin")))).toBe(sha256(expected));
  expect((await fs.stat(dir.join("f.bin"))).mode & 0o777).toBe(0o755 & ~process.umask());
  expect(await fs.exists(dir.join("partial"))).toBe(false);
});

test("zeros written to a reopened file become holes, as in a new one", async () => {
  dir = await tempDir();
  const kept = await TempFile.reopen(dir.join("partial"), 0o644, 0);
  await kept.write(randomBytes(MiB));
  await kept.keep();
  const again = await TempFile.reopen(dir.join("partial"), 0o644, MiB);
  await again.write(new Uint8Array(32 * MiB));
  await again.commit(dir.join("sparse.img"));
  expect((await fs.stat(dir.join("sparse.img"))).size).toBe(33 * MiB);
  expect(await allocated(dir.join("sparse.img"))).toBeLessThanOrEqual(MiB + 64 * 1024);
});

// Past 32 MiB a datasync runs in the background while writing goes on; every way of closing
// the file waits for it (a descriptor closed under it could be reused by another file).
test.each(["commit", "keep", "abort"] as const)("a file written past its background writeback ends whole by %s", async (end) => {
  dir = await tempDir();
  const piece = randomBytes(4 * 1024 * 1024);
  const tmp = await TempFile.create(dir.path, 0o644, 80 * 1024 * 1024);
  for (let i = 0; i < 20; i++) await tmp.write(piece);
  const whole = sha256(concatBytes(Array.from({ length: 20 }, () => piece)));
  if (end === "commit") {
    await tmp.commit(dir.join("big.bin"));
    expect(sha256(await fs.readFile(dir.join("big.bin")))).toBe(whole);
  } else if (end === "keep") {
    await tmp.keep();
    expect(sha256(await fs.readFile(tmp.path))).toBe(whole);
  } else {
    await tmp.abort();
    expect(await fs.readdir(dir.path)).toEqual([]);
  }
});

// Linux tells of a failed writeback once per open file: a datasync that failed in the
// background leaves the fsync before the rename succeeding, whatever pages were lost.
test("a file whose background writeback failed is not committed: the commit fails with that error", async () => {
  dir = await tempDir();
  const tmp = await TempFile.create(dir.path, 0o644, 80 * 1024 * 1024);
  const handle = (tmp as unknown as { handle: { datasync(): Promise<void> } }).handle;
  handle.datasync = () => Promise.reject(Object.assign(new Error("EIO: i/o error, fdatasync"), { code: "EIO" }));
  const piece = randomBytes(4 * 1024 * 1024);
  for (let i = 0; i < 10; i++) await tmp.write(piece);
  await expect(tmp.commit(dir.join("big.bin"))).rejects.toMatchObject({ code: "EIO" });
  expect(await fs.readdir(dir.path)).toEqual([tmp.path.slice(dir.path.length + 1)]);
  await tmp.abort();
  expect(await fs.readdir(dir.path)).toEqual([]);
});
