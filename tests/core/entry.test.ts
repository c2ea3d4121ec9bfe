import { describe, expect, test } from "bun:test";
import { type Content, LINK_MODE, MAX_TARGET_BYTES, normalMode, sameContent, symlinkContent, symlinkTargetProblem } from "../../src/core/entry.ts";

const file = (hash: string, mode = 0o644): Content => ({ kind: "file", size: 1, mode, hash, blocks: [] });
const dir = (mode = 0o755): Content => ({ kind: "dir", size: 0, mode, hash: "", blocks: [] });
const link = symlinkContent;

describe("sameContent", () => {
  test.each<[string, Content | undefined, Content | undefined, boolean]>([
    ["two absents", undefined, undefined, true],
    ["absent and a file", undefined, file("h"), false],
    ["files with one hash", file("h"), file("h", 0o600), true],
    ["files with one hash, one executable", file("h"), file("h", 0o755), false],
    ["folders of any mode", dir(), dir(0o700), true],
    ["symlinks with one target", link("../a"), link("../a"), true],
    ["symlinks with other targets", link("../a"), link("../b"), false],
    ["symlinks whose targets differ only by a trailing slash", link("/etc"), link("/etc/"), false],
    ["symlinks whose targets differ only by normalisation", link("caf\u00e9"), link("cafe\u0301"), false],
    ["a symlink and the file it names", link("x"), file(link("x").hash), false],
    ["a symlink and a folder", link("d"), dir(), false],
    ["a symlink with another mode", link("a"), { ...link("a"), mode: 0o755 }, true],
    ["files with one hash and one set of attributes", { ...file("h"), xattrs: [["user.color", "cmVk"]] }, { ...file("h"), xattrs: [["user.color", "cmVk"]] }, true],
    ["files with one hash, one with an attribute", file("h"), { ...file("h"), xattrs: [["user.color", "cmVk"]] }, false],
    ["files with one hash and another attribute value", { ...file("h"), xattrs: [["user.color", "cmVk"]] }, { ...file("h"), xattrs: [["user.color", "Ymx1ZQ=="]] }, false],
    ["files with one hash, no attributes and an empty set", file("h"), { ...file("h"), xattrs: [] }, true],
    ["files with one set of attributes but other hashes", { ...file("h"), xattrs: [["user.a", ""]] }, { ...file("g"), xattrs: [["user.a", ""]] }, false],
  ])("sameContent of %s is %p", (_name, a, b, want) => {
    expect(sameContent(a, b)).toBe(want);
    expect(sameContent(b, a)).toBe(want);
  });
});

describe("symlinkContent", () => {
  test("symlinkContent keeps the target verbatim, sized in UTF-8 bytes, with no blocks", () => {
    expect(link("caf\u00e9/../x")).toMatchObject({ kind: "symlink", size: 10, mode: LINK_MODE, blocks: [], target: "caf\u00e9/../x" });
    expect(link("a").hash).toMatch(/^[0-9a-f]{64}$/);
    expect(link("a").hash).not.toBe(link("b").hash);
    expect(normalMode("symlink", 0o644)).toBe(LINK_MODE);
  });
});

describe("symlinkTargetProblem", () => {
  test.each<[string, string, RegExp | undefined]>([
    ["a relative target", "../x/y", undefined],
    ["an absolute target", "/etc/passwd", undefined],
    ["a target of the longest length", "x".repeat(MAX_TARGET_BYTES), undefined],
    ["an empty target", "", /empty/],
    ["a target with NUL", "a\0b", /NUL/],
    ["a target over the length in bytes", "\u00e9".repeat(MAX_TARGET_BYTES / 2 + 1), /4098 bytes long, over the limit of 4096/],
  ])("symlinkTargetProblem of %s", (_name, target, want) => {
    const problem = symlinkTargetProblem(target);
    if (want) expect(problem).toMatch(want);
    else expect(problem).toBeUndefined();
  });
});
