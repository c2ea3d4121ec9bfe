import { afterAll, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs/promises";
import { hashBlock, hashBlockList } from "../../src/core/block-hash.ts";
import { chunkBytes, chunkParamsFor } from "../../src/core/chunker.ts";
import type { BlockRef } from "../../src/core/entry.ts";
import { hashFile, SMALL_FILE } from "../../src/fsutil/hash-file.ts";
import { tempDir } from "../helpers/temp-dir.ts";

const dir = await tempDir("dropsim-hash-");
afterAll(() => dir.remove());

/** What hashFile must find: the blocks of the whole content, cut in one go with the hint's parameters. */
function expected(bytes: Uint8Array, hint: number): { size: number; hash: string; blocks: BlockRef[] } {
  const blocks = chunkBytes(bytes, chunkParamsFor(hint)).map((b): BlockRef => [hashBlock(b), b.length]);
  return { size: bytes.length, hash: hashBlockList(blocks.map((b) => b[0])), blocks };
}

// Sizes around the read buffer's edges: empty, tiny, exactly the hint, a small file whose hint is
// too small (it grew after stat), past SMALL_FILE, and over several 1 MiB reads.
test.each([
  ["empty", 0, 0],
  ["tiny", 10, 10],
  ["4 KiB", 4096, 4096],
  ["grew after stat", 5000, 100],
  ["one byte over SMALL_FILE", SMALL_FILE + 1, SMALL_FILE + 1],
  ["3.5 MiB", 3.5 * 1024 * 1024, 3.5 * 1024 * 1024],
  ["3.5 MiB, hinted as 4 KiB", 3.5 * 1024 * 1024, 4096],
])("%s: blocks and hash match cutting the whole content at once", async (name, size, hint) => {
  const bytes = new Uint8Array(randomBytes(size));
  const file = dir.join(`${name}.bin`);
  await fs.writeFile(file, bytes);
  const { bytes: kept, after, ...digest } = await hashFile(file, () => {}, hint);
  expect(digest).toEqual(expected(bytes, hint));
  const st = await fs.stat(file);
  expect(after).toEqual({ size: st.size, mtimeMs: st.mtimeMs, ino: st.ino });
  // Small files as big as stat said keep their bytes for the upload; kept bytes are always the file's, intact.
  if (size > 0 && size === hint && size <= SMALL_FILE) expect(kept).toEqual(bytes);
  else if (size > SMALL_FILE) expect(kept).toBeUndefined();
  if (kept) expect(kept).toEqual(bytes);
});

test("a sink gets every block as it is cut, in file order, before the digest is returned, then the end once", async () => {
  const bytes = new Uint8Array(randomBytes(5 * 1024 * 1024));
  const file = dir.join("sink.bin");
  await fs.writeFile(file, bytes);
  const got: BlockRef[][] = [];
  let ends = 0;
  const digest = await hashFile(file, () => {}, bytes.length, { add: (b) => got.push([...b]), end: () => ends++ });
  expect(got.flat()).toEqual(digest.blocks);
  // Told read by read, not all at the end: the upload runs behind the hashing.
  expect(got.length).toBeGreaterThan(1);
  expect(ends).toBe(1);
});

test("a sink is told the end when the file cannot be read", async () => {
  let ends = 0;
  await expect(hashFile(dir.join("missing.bin"), () => {}, 1, { add: () => {}, end: () => ends++ })).rejects.toThrow();
  expect(ends).toBe(1);
});
