import { expect, test } from "bun:test";
import fc from "fast-check";
import { PathSet } from "../../src/core/path-set.ts";

/** Any UTF-16 code units, lone surrogates included: readdir on Windows can return them. */
const anyPath = fc.array(fc.integer({ min: 0, max: 0xffff }), { maxLength: 12 }).map((units) => String.fromCharCode(...units));

test("PathSet holds exactly the paths added, as a Set of strings does", () => {
  fc.assert(
    fc.property(fc.array(anyPath, { maxLength: 60 }), fc.array(anyPath, { maxLength: 30 }), (added, others) => {
      const set = new PathSet();
      const strings = new Set<string>();
      // Every other path is added twice.
      for (const p of [...added, ...added.filter((_, i) => i % 2 === 0)]) {
        set.add(p);
        strings.add(p);
        expect(set.size).toBe(strings.size);
      }
      for (const p of [...added, ...others]) expect(set.has(p)).toBe(strings.has(p));
    }),
    { numRuns: 300 },
  );
});

test("PathSet answers between additions, and past the growth of its buffers and table", () => {
  const set = new PathSet();
  const paths = Array.from({ length: 5000 }, (_, i) => `folder ${i % 70}/${"x".repeat(i % 13)}file ${i}.txt`);
  paths.forEach((p, i) => {
    set.add(p);
    if (i % 997 === 0) expect([set.has(p), set.has(`${p}.`), set.has(p.slice(0, -1))]).toEqual([true, false, false]);
  });
  expect(paths.every((p) => set.has(p))).toBe(true);
  expect(["", "folder 1", "folder 1/", "file 1.txt", "\uD800"].some((p) => set.has(p))).toBe(false);
});

test("PathSet tells apart paths that differ only by a prefix, a surrogate or a missing last unit", () => {
  const set = new PathSet();
  for (const p of ["a", "ab", "a/b", "\uD83D\uDE00", "\uD83D"]) set.add(p);
  expect(["a", "ab", "a/b", "\uD83D\uDE00", "\uD83D"].map((p) => set.has(p))).toEqual([true, true, true, true, true]);
  expect(["", "b", "a/", "\uDE00", "\uFFFD", "aa"].map((p) => set.has(p))).toEqual([false, false, false, false, false, false]);
});
