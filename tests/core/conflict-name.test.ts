import { describe, expect, test } from "bun:test";
import { conflictName } from "../../src/core/conflict-name.ts";
import { MAX_SEGMENT_BYTES, parentOf, wirePathProblem } from "../../src/core/wire-path.ts";

const DAY = new Date("2026-11-24T12:00:00Z");
const bytes = (s: string) => new TextEncoder().encode(s).length;

describe("conflictName", () => {
  test.each([
    ["report.pdf", "report (conflicted copy from laptop 2026-11-24).pdf"],
    ["docs/report.pdf", "docs/report (conflicted copy from laptop 2026-11-24).pdf"],
    ["a/b/c/notes", "a/b/c/notes (conflicted copy from laptop 2026-11-24)"],
    ["archive.tar.gz", "archive.tar (conflicted copy from laptop 2026-11-24).gz"],
    [".bashrc", ".bashrc (conflicted copy from laptop 2026-11-24)"],
    ["dir/.env", "dir/.env (conflicted copy from laptop 2026-11-24)"],
    ["trailing.", "trailing (conflicted copy from laptop 2026-11-24)."],
    ["café/résumé.doc", "café/résumé (conflicted copy from laptop 2026-11-24).doc"],
  ])("conflictName of %p is %p", (path, expected) => {
    expect(conflictName(path, "laptop", DAY)).toBe(expected);
  });

  test("conflictName keeps the file in the same folder and never equals the original", () => {
    for (const p of ["x", "a/x.txt", "a/b/.x"]) {
      const c = conflictName(p, "h", DAY);
      expect(c).not.toBe(p);
      expect(parentOf(c)).toBe(parentOf(p));
      expect(wirePathProblem(c)).toBeUndefined();
    }
  });

  test("conflictName uses the UTC date of the given clock", () => {
    expect(conflictName("f.txt", "h", new Date("2026-01-31T23:59:59.999Z"))).toBe("f (conflicted copy from h 2026-01-31).txt");
    expect(conflictName("f.txt", "h", new Date(0))).toBe("f (conflicted copy from h 1970-01-01).txt");
  });

  test("conflictName replaces separators and NUL in the host name", () => {
    const c = conflictName("dir/f.txt", "evil/../host\\x\0y", DAY);
    expect(c).toBe("dir/f (conflicted copy from evil_.._host_x_y 2026-11-24).txt");
    expect(wirePathProblem(c)).toBeUndefined();
  });

  test("conflictName counts up while the name is taken", () => {
    const taken = new Set([
      "d/f (conflicted copy from h 2026-11-24).txt",
      "d/f (conflicted copy 2 from h 2026-11-24).txt",
    ]);
    const seen: string[] = [];
    const name = conflictName("d/f.txt", "h", DAY, (p) => {
      seen.push(p);
      return taken.has(p);
    });
    expect(name).toBe("d/f (conflicted copy 3 from h 2026-11-24).txt");
    expect(seen).toEqual([...taken, name]);
  });

  test("conflictName of a name at the length limit is still a valid wire path", () => {
    for (const name of ["n".repeat(MAX_SEGMENT_BYTES), `${"n".repeat(MAX_SEGMENT_BYTES - 4)}.txt`, "é".repeat(127), "🎉".repeat(63)]) {
      const path = `dir/${name}`;
      expect(wirePathProblem(path)).toBeUndefined();
      const c = conflictName(path, "a-rather-long-host-name.example.com", DAY);
      expect(wirePathProblem(c)).toBeUndefined();
      expect(c).toContain("(conflicted copy from a-rather-long-host-name.example.com 2026-11-24)");
      expect(c).toStartWith("dir/");
      expect(bytes(c.slice(4))).toBeLessThanOrEqual(MAX_SEGMENT_BYTES);
      expect(c.includes("\uFFFD")).toBe(false);
    }
  });

  test("conflictName of a long name keeps the extension and distinct counters", () => {
    const path = `${"x".repeat(250)}.pdf`;
    const first = conflictName(path, "h", DAY);
    expect(first).toEndWith("(conflicted copy from h 2026-11-24).pdf");
    const second = conflictName(path, "h", DAY, (p) => p === first);
    expect(second).toEndWith("(conflicted copy 2 from h 2026-11-24).pdf");
    expect(wirePathProblem(second)).toBeUndefined();
  });
});

describe("conflictName limits", () => {
  test("conflictName of a name with a very long extension is still a valid wire path", () => {
    const c = conflictName(`a.${"e".repeat(250)}`, "h", DAY);
    expect(wirePathProblem(c)).toBeUndefined();
    expect(c).toEndWith("(conflicted copy from h 2026-11-24)");
  });

  test("conflictName shortens a very long host name", () => {
    const c = conflictName("f.txt", "h".repeat(300), DAY);
    expect(wirePathProblem(c)).toBeUndefined();
    expect(c).toBe(`f (conflicted copy from ${"h".repeat(64)} 2026-11-24).txt`);
  });

  test("conflictName stays within the whole-path byte limit", () => {
    const dir = Array.from({ length: 16 }, () => "d".repeat(250)).join("/"); // 4,015 bytes
    const path = `${dir}/${"f".repeat(70)}.txt`;
    expect(wirePathProblem(path)).toBeUndefined();
    const c = conflictName(path, "host", DAY);
    expect(wirePathProblem(c)).toBeUndefined();
    expect(parentOf(c)).toBe(dir);
  });
});
