import { expect, test } from "bun:test";
import { isExcluded, makeIgnoreRules, selectivePath } from "../../src/core/ignore-rules.ts";

test("selective sync paths: a trailing slash is dropped; the whole folder and paths outside it are refused", () => {
  expect(selectivePath("docs/old/")).toBe("docs/old");
  expect(selectivePath("a b/c")).toBe("a b/c");
  for (const bad of ["", "/", "../up", "/abs", "a/../b", ".dropsim", ".dropsim/ignore"]) {
    expect(() => selectivePath(bad)).toThrow(/^Cannot exclude or include ".*": .* \(give a file or folder inside the synced folder\)$/);
  }
});

test("an excluded path covers itself and what is inside it, not its look-alikes", () => {
  const excluded = ["docs", "photos/2020"];
  expect(["docs", "docs/a", "docs/a/b", "photos/2020", "photos/2020/x.jpg"].every((p) => isExcluded(excluded, p))).toBe(true);
  expect(["doc", "docs2", "docs.txt", "photos", "photos/2021", "photos/20201"].some((p) => isExcluded(excluded, p))).toBe(false);
});

test("the shared rules and the folder's own combine: either one ignores", () => {
  const shared = "*.log\n";
  const local = "build/\n!keep.log\n";
  const ignored = makeIgnoreRules(`${shared}\n${local}`);
  expect(ignored("a.log", false)).toBe(true);
  expect(ignored("build", true)).toBe(true);
  expect(ignored("src/main.ts", false)).toBe(false);
  // Local rules come after the shared ones: a local negation wins, as later gitignore lines do.
  expect(ignored("keep.log", false)).toBe(false);
});
