import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { appendFileSync, constants as fsConstants } from "node:fs";
import * as fs from "node:fs/promises";
import type { SyncContext } from "../../src/client/context.ts";
import { LocalBlocks } from "../../src/client/local-blocks.ts";
import { copyShifted, openPatchedCopy } from "../../src/client/patched-copy.ts";
import { hashBlock, hashBlockList } from "../../src/core/block-hash.ts";
import type { BlockRef, Entry } from "../../src/core/entry.ts";
import { statLocal } from "../../src/fsutil/scan.ts";
import { TempDirs } from "../../src/fsutil/temp-dirs.ts";
import type { CopyRange } from "../../src/runtime/types.ts";
import { loadRuntime } from "../../src/runtime/index.ts";
import { type TempDir, tempDir } from "../helpers/temp-dir.ts";

// openPatchedCopy and copyShifted on a real folder: how a big file's edit is rebuilt from its
// old version, counting what the kernel copies (copy_file_range) through a wrapped CopyRange.

const KiB = 1024;
const BLOCK = 64 * KiB;
const runtime = await loadRuntime();
let dir: TempDir;
/** Bytes the kernel was asked to copy, per call. */
let copies: number[];
let copyRange: CopyRange;
let ctx: SyncContext;

beforeEach(async () => {
  dir = await tempDir("dropsim-patched-copy-");
  await fs.mkdir(dir.join("root"));
  copies = [];
  copyRange = runtime.copyRange;
  const counted: CopyRange = (fdIn, from, fdOut, to, length) => {
    copies.push(length);
    return copyRange(fdIn, from, fdOut, to, length);
  };
  ctx = { root: dir.join("root"), tmpDirs: await TempDirs.prepare(dir.join("tmp")), runtime: { ...runtime, copyRange: counted } } as unknown as SyncContext;
});
afterEach(() => dir.remove());

/** `count` blocks of 64 KiB, block i filled with `fill(i)`. */
function blocksOf(count: number, fill: (i: number) => number): Uint8Array[] {
  return Array.from({ length: count }, (_, i) => new Uint8Array(BLOCK).fill(fill(i)));
}

function entryOf(blocks: Uint8Array[], version: number): Entry {
  const refs: BlockRef[] = blocks.map((b) => [hashBlock(b), b.length]);
  const size = blocks.reduce((n, b) => n + b.length, 0);
  return { path: "big.bin", kind: "file", size, mode: 0o644, hash: hashBlockList(refs.map(([h]) => h)), blocks: refs, version, deleted: false, mtime: 0 };
}

/**
 * big.bin synced as `before` (32 blocks, 2 MiB), replaced by `after`: the patched copy and the
 * blocks copyShifted moved, with the file as fill would finish it (the other blocks written).
 */
async function patch(before: Uint8Array[], after: Uint8Array[]) {
  const abs = dir.join("root", "big.bin");
  await fs.writeFile(abs, Buffer.concat(before));
  const stat = (await statLocal(abs))!;
  const old = { entry: entryOf(before, 1), stat };
  const entry = entryOf(after, 2);
  const copy = await openPatchedCopy(ctx, { entry, expect: stat }, old, 0o644);
  if (!copy) return undefined;
  const local = new LocalBlocks(ctx, [old]);
  const shifted = await copyShifted(ctx, entry, copy, local);
  await local.close();
  const inPlace = copy.kept.map((k, i) => k || shifted[i]!);
  let offset = 0;
  for (const [i, b] of after.entries()) {
    if (!inPlace[i]) copy.tmp.writeAt(b, offset);
    offset += b.length;
  }
  await copy.tmp.commit(dir.join("result.bin"));
  return { kept: copy.kept, inPlace, bytes: await fs.readFile(dir.join("result.bin")) };
}

const before = blocksOf(32, (i) => i);
const fresh = blocksOf(1, () => 99)[0]!;

/** Whether the temp dir's file system has reflinks (btrfs, xfs): a whole clone is made then, nothing copied. */
async function hasReflinks(): Promise<boolean> {
  const probe = await tempDir("dropsim-reflink-probe-");
  try {
    await fs.writeFile(probe.join("a"), "x");
    await fs.copyFile(probe.join("a"), probe.join("b"), fsConstants.COPYFILE_FICLONE_FORCE);
    return true;
  } catch {
    return false;
  } finally {
    await probe.remove();
  }
}
const reflinks = await hasReflinks();

describe("openPatchedCopy", () => {
  test.if(!reflinks)("an insert copies each reused byte once: the blocks in place before it, the shifted ones after", async () => {
    const after = [...before.slice(0, 10), fresh, ...before.slice(10)];
    const r = (await patch(before, after))!;
    expect(r.bytes).toEqual(Buffer.concat(after));
    expect(r.inPlace.filter((x) => !x).length).toBe(1);
    expect(copies).toEqual([10 * BLOCK, 22 * BLOCK]);
  });

  test.if(!reflinks)("an overwrite copies the blocks kept in place, not the one rewritten", async () => {
    const after = [...before.slice(0, 10), fresh, ...before.slice(11)];
    const r = (await patch(before, after))!;
    expect(r.bytes).toEqual(Buffer.concat(after));
    expect(r.kept.map((k, i) => k || i)).toEqual([...Array(10).fill(true), 10, ...Array(21).fill(true)]);
    expect(copies).toEqual([10 * BLOCK, 21 * BLOCK]);
  });

  test.if(reflinks)("where the file system has reflinks, an overwrite is a clone: nothing is copied", async () => {
    const after = [...before.slice(0, 10), fresh, ...before.slice(11)];
    const r = (await patch(before, after))!;
    expect(r.bytes).toEqual(Buffer.concat(after));
    expect(copies).toEqual([]);
  });

  test("where the kernel copies nothing, an insert falls back to a whole copy and still builds the file", async () => {
    copyRange = () => 0;
    const after = [...before.slice(0, 10), fresh, ...before.slice(10)];
    const r = (await patch(before, after))!;
    expect(r.bytes).toEqual(Buffer.concat(after));
    expect(r.kept.filter(Boolean).length).toBe(10);
  });

  test.if(!reflinks)("an old version written to while it is copied is not used", async () => {
    const abs = dir.join("root", "big.bin");
    copyRange = (fdIn, from, fdOut, to, length) => {
      appendFileSync(abs, "late");
      return runtime.copyRange(fdIn, from, fdOut, to, length);
    };
    const after = [...before.slice(0, 10), fresh, ...before.slice(10)];
    expect(await patch(before, after)).toBeUndefined();
    expect(await fs.readdir(dir.join("tmp"), { recursive: true })).not.toContainEqual(expect.stringContaining(".dropsim-tmp-"));
  });
});
