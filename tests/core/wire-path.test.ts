import { describe, expect, test } from "bun:test";
import { DropsimError } from "../../src/core/errors.ts";
import {
  ancestorsOf,
  assertWirePath,
  baseName,
  depthOf,
  isInside,
  MAX_PATH_BYTES,
  MAX_SEGMENT_BYTES,
  parentOf,
  wirePathProblem,
} from "../../src/core/wire-path.ts";

const good: string[] = [
  "a",
  "a/b/c.txt",
  "report.pdf",
  ".hidden",
  "..foo",
  "foo..",
  "a/...",
  "a/.b/c",
  "name with spaces",
  ".dropsimx/file",
  "x/.dropsim/state.db",
  ".dropsim-notes",
  "café/naïve.txt",
  "日本語/ファイル.txt",
  "emoji 🎉.png",
  "Ωmega/Привет",
  "x".repeat(MAX_SEGMENT_BYTES),
  `${"d".repeat(200)}/`.repeat(19) + "f",
];

describe("wirePathProblem", () => {
  test.each(good)("wirePathProblem accepts %p", (path) => {
    expect(wirePathProblem(path)).toBeUndefined();
    expect(assertWirePath(path)).toBe(path);
  });

  const bad: [string, string, RegExp][] = [
    ["empty", "", /empty/],
    ["parent escape", "../x", /"\.\." segment/],
    ["parent in the middle", "a/../../b", /"\.\." segment/],
    ["trailing parent", "a/..", /"\.\." segment/],
    ["just dot-dot", "..", /"\.\." segment/],
    ["dot segment", "a/./b", /"\." segment/],
    ["just dot", ".", /"\." segment/],
    ["leading dot segment", "./a", /"\." segment/],
    ["double slash", "a//b", /empty segment/],
    ["trailing slash", "a/b/", /empty segment/],
    ["absolute", "/etc/passwd", /absolute/],
    ["root", "/", /absolute/],
    ["NUL", "a\0b", /NUL/],
    ["NUL at end", "a.txt\0", /NUL/],
    ["drive letter with backslash", "C:\\x", /backslash/],
    ["drive letter with slash", "C:/x", /drive letter/],
    ["lower-case drive letter", "c:x", /drive letter/],
    ["backslash separator", "a\\b", /backslash/],
    ["backslash parent escape", "..\\..\\windows", /backslash/],
    ["UNC path", "\\\\server\\share", /backslash/],
    ["10,000-char name", "n".repeat(10_000), /longer than 4096 bytes/],
    ["name over the segment limit", "x".repeat(MAX_SEGMENT_BYTES + 1), /name is longer than 255 bytes/],
    ["multi-byte name over the segment limit", "é".repeat(128), /name is longer than 255 bytes/],
    ["path over the byte limit", `${"d".repeat(200)}/`.repeat(21) + "f", /longer than 4096 bytes/],
    ["state database", ".dropsim/state.db", /inside \.dropsim\//],
    ["state folder", ".dropsim", /inside \.dropsim\//],
    ["state temp file", ".dropsim/tmp/part-1", /inside \.dropsim\//],
  ];

  test.each(bad)("wirePathProblem rejects %s", (_name, path, why) => {
    const problem = wirePathProblem(path);
    expect(problem).toBeString();
    expect(problem!).toMatch(why);
  });

  test.each(bad)("assertWirePath throws bad_path for %s", (_name, path, why) => {
    let thrown: unknown;
    try {
      assertWirePath(path);
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toBeInstanceOf(DropsimError);
    const err = thrown as DropsimError;
    expect(err.code).toBe("bad_path");
    expect(err.message).toStartWith("Invalid path");
    expect(err.message).toMatch(why);
  });

  test("wirePathProblem rejects a non-string without throwing", () => {
    expect(wirePathProblem(undefined as unknown as string)).toBe("it is empty");
    expect(wirePathProblem(42 as unknown as string)).toBe("it is empty");
  });

  test("wirePathProblem counts bytes, not characters", () => {
    const segment = "日".repeat(85); // 85 characters, 255 bytes
    const path = Array.from({ length: 16 }, () => segment).join("/"); // 4,095 bytes, 1,375 characters
    expect(new TextEncoder().encode(path).length).toBe(4095);
    expect(wirePathProblem(path)).toBeUndefined();
    expect(wirePathProblem(`${path}日`)).toMatch(/longer than 4096 bytes/);
    expect(wirePathProblem("日".repeat(86))).toMatch(/name is longer than 255 bytes/);
    expect(MAX_PATH_BYTES).toBe(4096);
  });

  test("assertWirePath message escapes control characters and shortens long paths", () => {
    expect(() => assertWirePath("a\0b")).toThrow('Invalid path "a\\x00b": it contains a NUL character');
    let message = "";
    try {
      assertWirePath("n".repeat(10_000));
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message.length).toBeLessThan(200);
    expect(message).toContain("…");
  });
});

describe("path helpers", () => {
  test.each([
    ["a", ""],
    ["a/b", "a"],
    ["a/b/c.txt", "a/b"],
    ["日本/語", "日本"],
  ])("parentOf(%p) is %p", (path, parent) => {
    expect(parentOf(path)).toBe(parent);
  });

  test.each([
    ["a", []],
    ["a/b", ["a"]],
    ["a/b/c", ["a", "a/b"]],
    ["x/y/z/w.txt", ["x", "x/y", "x/y/z"]],
  ] as [string, string[]][])("ancestorsOf(%p) is %p", (path, ancestors) => {
    expect(ancestorsOf(path)).toEqual(ancestors);
  });

  test.each([
    ["a", 1],
    ["a/b", 2],
    ["a/b/c.txt", 3],
    ["..foo/bar", 2],
  ] as [string, number][])("depthOf(%p) is %p", (path, depth) => {
    expect(depthOf(path)).toBe(depth);
  });

  test("depthOf equals the number of ancestors plus one", () => {
    for (const p of ["a", "a/b", "a/b/c/d/e"]) expect(depthOf(p)).toBe(ancestorsOf(p).length + 1);
  });

  test("sorting by depthOf puts every parent before its children", () => {
    const paths = ["a/b/c", "z", "a", "a/b", "y/x", "y"];
    const sorted = [...paths].sort((x, y) => depthOf(x) - depthOf(y));
    for (const p of sorted) for (const a of ancestorsOf(p)) if (paths.includes(a)) expect(sorted.indexOf(a)).toBeLessThan(sorted.indexOf(p));
  });

  test.each([
    ["a/b", "a", true],
    ["a/b/c", "a", true],
    ["a", "a", false],
    ["ab", "a", false],
    ["ab/c", "a", false],
    ["a", "a/b", false],
  ] as [string, string, boolean][])("isInside(%p, %p) is %p", (path, folder, inside) => {
    expect(isInside(path, folder)).toBe(inside);
  });

  test.each([
    ["a", "a"],
    ["a/b.txt", "b.txt"],
    ["x/y/z", "z"],
  ])("baseName(%p) is %p", (path, name) => {
    expect(baseName(path)).toBe(name);
  });
});
