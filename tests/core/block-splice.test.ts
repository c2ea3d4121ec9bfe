import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { hashBlockList } from "../../src/core/block-hash.ts";
import { applySplice, compactEntry, diffBlocks, expandEntry, keptInPlace } from "../../src/core/block-splice.ts";
import { chunkParamsFor } from "../../src/core/chunker.ts";
import type { BlockRef, Entry } from "../../src/core/entry.ts";

const ref = (n: number): BlockRef => [n.toString(16).padStart(64, "0"), 1000 + n];

function fileEntry(version: number, blocks: BlockRef[], extra: Partial<Entry> = {}): Entry {
  return {
    path: "big.bin",
    kind: "file",
    size: blocks.reduce((n, [, s]) => n + s, 0),
    mode: 0o644,
    hash: hashBlockList(blocks.map(([h]) => h)),
    blocks,
    version,
    deleted: false,
    mtime: 0,
    ...extra,
  };
}

const list = fc.array(fc.integer({ min: 0, max: 12 }), { maxLength: 40 }).map((ns) => ns.map(ref));

describe("diffBlocks / applySplice", () => {
  test("applying the diff of any two lists gives the second", () => {
    fc.assert(
      fc.property(list, list, (a, b) => {
        expect(applySplice(a, diffBlocks(7, a, b))).toEqual(b);
      }),
      { numRuns: 2000 },
    );
  });

  test("a one-block edit in the middle of 16,384 blocks is a one-block splice", () => {
    const old = Array.from({ length: 16_384 }, (_, i) => ref(i));
    const next = old.slice();
    next[8000] = ref(99_999);
    expect(diffBlocks(3, old, next)).toEqual({ base: 3, at: 8000, drop: 1, insert: [ref(99_999)] });
  });

  test("an insertion drops nothing", () => {
    const old = [ref(1), ref(2), ref(3)];
    expect(diffBlocks(1, old, [ref(1), ref(9), ref(2), ref(3)])).toEqual({ base: 1, at: 1, drop: 0, insert: [ref(9)] });
  });

  test("a splice reaching past the end of the list is refused", () => {
    expect(() => applySplice([ref(1)], { base: 1, at: 1, drop: 1, insert: [] })).toThrow(/drops blocks 1..2 of a list of 1/);
  });
});

describe("compactEntry / expandEntry", () => {
  const old = fileEntry(4, Array.from({ length: 100 }, (_, i) => ref(i)));
  const nextBlocks = old.blocks.slice();
  nextBlocks[50] = ref(500);
  const next = fileEntry(9, nextBlocks);

  test("an edit travels as a splice of the previous version and expands back", () => {
    const wire = compactEntry(next, old);
    expect(wire.blocks).toBeUndefined();
    expect(wire.splice).toEqual({ base: 4, at: 50, drop: 1, insert: [ref(500)] });
    expect(expandEntry(wire, [old])).toEqual(next);
  });

  test("entries without a usable base travel whole", () => {
    expect(compactEntry(next, undefined)).toEqual(next);
    expect(compactEntry(next, { ...old, deleted: true })).toEqual(next);
    expect(compactEntry(next, { ...old, kind: "dir" })).toEqual(next);
    expect(compactEntry({ ...next, movedFrom: "x" }, old)).toEqual({ ...next, movedFrom: "x" });
    // Replacing everything: the splice would be no shorter than the list.
    const fresh = fileEntry(9, [ref(700), ref(701)]);
    expect(compactEntry(fresh, fileEntry(4, [ref(1), ref(2)]))).toEqual(fresh);
  });

  test("a splice expands only against its base version with matching content", () => {
    const wire = compactEntry(next, old);
    expect(expandEntry(wire, [])).toBeUndefined();
    expect(expandEntry(wire, [{ ...old, version: 3 }])).toBeUndefined();
    // Right version number, other content: the result would not match the entry's hash.
    expect(expandEntry(wire, [fileEntry(4, [ref(1), ref(2)])])).toBeUndefined();
  });

  test("an entry already held at its own version expands from what is held", () => {
    expect(expandEntry(compactEntry(next, old), [next])).toEqual(next);
  });

  test("an entry with both or neither of blocks and splice is refused", () => {
    const { blocks: _, ...bare } = next;
    expect(() => expandEntry(bare, [old])).toThrow(/either a block list or a splice/);
    expect(() => expandEntry({ ...next, splice: { base: 4, at: 0, drop: 0, insert: [] } }, [old])).toThrow(/either a block list or a splice/);
  });
});

describe("chunkParamsFor", () => {
  test.each([
    [0, 16],
    [4096, 16],
    [256 * 2 ** 20 - 1, 16],
    [256 * 2 ** 20, 16],
    [256 * 2 ** 20 + 16, 16],
    [512 * 2 ** 20, 32],
    [2 * 2 ** 30, 128],
    [16 * 2 ** 30, 1024],
    [1024 * 2 ** 30, 1024],
  ])("a file of %p bytes gets %p KiB blocks on average", (size, avgKiB) => {
    const p = chunkParamsFor(size);
    expect(p.avg).toBe(avgKiB * 1024);
    expect(p.min).toBe(p.avg / 4);
    expect(p.max).toBe(p.avg * 4);
  });
});

describe("keptInPlace", () => {
  const r = (h: string, n: number): BlockRef => [h.repeat(64).slice(0, 64), n];
  test("an overwrite in place keeps every block but the changed one", () => {
    const old = [r("a", 10), r("b", 10), r("c", 10)];
    expect(keptInPlace(old, [r("a", 10), r("x", 10), r("c", 10)])).toEqual([true, false, true]);
  });
  test("an insert keeps the blocks before it only: the rest moved", () => {
    const old = [r("a", 10), r("b", 10), r("c", 10)];
    expect(keptInPlace(old, [r("a", 10), r("x", 12), r("b", 10), r("c", 10)])).toEqual([true, false, false, false]);
  });
  test("a block of the same hash at another offset is not in place", () => {
    expect(keptInPlace([r("a", 10), r("b", 10)], [r("b", 10), r("a", 10)])).toEqual([false, false]);
  });
});
