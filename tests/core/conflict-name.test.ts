import { describe, expect, test } from "bun:test";
import { conflictCopyHost, conflictName, type ConflictOrigin } from "../../src/core/conflict-name.ts";
import { MAX_SEGMENT_BYTES, parentOf, wirePathProblem } from "../../src/core/wire-path.ts";

const DAY = new Date("2026-11-24T12:00:00Z");
const at = (host: string, date = DAY): ConflictOrigin => ({ host, clientId: "3f2a9c41-aaaa-bbbb", date });
const bytes = (s: string) => new TextEncoder().encode(s).length;

describe("conflictName", () => {
  test.each([
    ["report.pdf", "report (conflicted copy from laptop 2026-11-24 12.00.00 3f2a9c).pdf"],
    ["docs/report.pdf", "docs/report (conflicted copy from laptop 2026-11-24 12.00.00 3f2a9c).pdf"],
    ["a/b/c/notes", "a/b/c/notes (conflicted copy from laptop 2026-11-24 12.00.00 3f2a9c)"],
    ["archive.tar.gz", "archive.tar (conflicted copy from laptop 2026-11-24 12.00.00 3f2a9c).gz"],
    [".bashrc", ".bashrc (conflicted copy from laptop 2026-11-24 12.00.00 3f2a9c)"],
    ["dir/.env", "dir/.env (conflicted copy from laptop 2026-11-24 12.00.00 3f2a9c)"],
    ["trailing.", "trailing (conflicted copy from laptop 2026-11-24 12.00.00 3f2a9c)."],
    ["café/résumé.doc", "café/résumé (conflicted copy from laptop 2026-11-24 12.00.00 3f2a9c).doc"],
  ])("conflictName of %p is %p", (path, expected) => {
    expect(conflictName(path, at("laptop", DAY))).toBe(expected);
  });

  test("conflictName keeps the file in the same folder and never equals the original", () => {
    for (const p of ["x", "a/x.txt", "a/b/.x"]) {
      const c = conflictName(p, at("h", DAY));
      expect(c).not.toBe(p);
      expect(parentOf(c)).toBe(parentOf(p));
      expect(wirePathProblem(c)).toBeUndefined();
    }
  });

  test("conflictName uses the UTC time of the given clock, to the second", () => {
    expect(conflictName("f.txt", at("h", new Date("2026-01-31T23:59:59.999Z")))).toBe("f (conflicted copy from h 2026-01-31 23.59.59 3f2a9c).txt");
    expect(conflictName("f.txt", at("h", new Date(0)))).toBe("f (conflicted copy from h 1970-01-01 00.00.00 3f2a9c).txt");
  });

  test("conflictName replaces separators, parentheses and NUL in the host name", () => {
    const c = conflictName("dir/f.txt", at("evil/../host\\x\0y", DAY));
    expect(c).toBe("dir/f (conflicted copy from evil_.._host_x_y 2026-11-24 12.00.00 3f2a9c).txt");
    expect(wirePathProblem(c)).toBeUndefined();
  });

  test("conflictName counts up while the name is taken", () => {
    const taken = new Set([
      "d/f (conflicted copy from h 2026-11-24 12.00.00 3f2a9c).txt",
      "d/f (conflicted copy 2 from h 2026-11-24 12.00.00 3f2a9c).txt",
    ]);
    const seen: string[] = [];
    const name = conflictName("d/f.txt", at("h", DAY), (p) => {
      seen.push(p);
      return taken.has(p);
    });
    expect(name).toBe("d/f (conflicted copy 3 from h 2026-11-24 12.00.00 3f2a9c).txt");
    expect(seen).toEqual([...taken, name]);
  });

  test("conflictName of a name at the length limit is still a valid wire path", () => {
    for (const name of ["n".repeat(MAX_SEGMENT_BYTES), `${"n".repeat(MAX_SEGMENT_BYTES - 4)}.txt`, "é".repeat(127), "🎉".repeat(63)]) {
      const path = `dir/${name}`;
      expect(wirePathProblem(path)).toBeUndefined();
      const c = conflictName(path, at("a-rather-long-host-name.example.com", DAY));
      expect(wirePathProblem(c)).toBeUndefined();
      expect(c).toContain("(conflicted copy from a-rather-long-host-name.example.com 2026-11-24 12.00.00 3f2a9c)");
      expect(c).toStartWith("dir/");
      expect(bytes(c.slice(4))).toBeLessThanOrEqual(MAX_SEGMENT_BYTES);
      expect(c.includes("\uFFFD")).toBe(false);
    }
  });

  test("conflictName of a long name keeps the extension and distinct counters", () => {
    const path = `${"x".repeat(250)}.pdf`;
    const first = conflictName(path, at("h", DAY));
    expect(first).toEndWith("(conflicted copy from h 2026-11-24 12.00.00 3f2a9c).pdf");
    const second = conflictName(path, at("h", DAY), (p) => p === first);
    expect(second).toEndWith("(conflicted copy 2 from h 2026-11-24 12.00.00 3f2a9c).pdf");
    expect(wirePathProblem(second)).toBeUndefined();
  });
});

describe("conflictName limits", () => {
  test("conflictName of a name with a very long extension is still a valid wire path", () => {
    const c = conflictName(`a.${"e".repeat(250)}`, at("h", DAY));
    expect(wirePathProblem(c)).toBeUndefined();
    expect(c).toEndWith("(conflicted copy from h 2026-11-24 12.00.00 3f2a9c)");
  });

  test("conflictName shortens a very long host name", () => {
    const c = conflictName("f.txt", at("h".repeat(300), DAY));
    expect(wirePathProblem(c)).toBeUndefined();
    expect(c).toBe(`f (conflicted copy from ${"h".repeat(64)} 2026-11-24 12.00.00 3f2a9c).txt`);
  });

  test("conflictName stays within the whole-path byte limit", () => {
    const dir = Array.from({ length: 16 }, () => "d".repeat(250)).join("/"); // 4,015 bytes
    const path = `${dir}/${"f".repeat(70)}.txt`;
    expect(wirePathProblem(path)).toBeUndefined();
    const c = conflictName(path, at("host", DAY));
    expect(wirePathProblem(c)).toBeUndefined();
    expect(parentOf(c)).toBe(dir);
  });
});

describe("conflictName uniqueness", () => {
  test("two conflicts on one path differ when made by two clients on one host in the same second", () => {
    const a = conflictName("n1.txt", { host: "vm", clientId: "aaaaaa11", date: DAY });
    const b = conflictName("n1.txt", { host: "vm", clientId: "bbbbbb22", date: DAY });
    expect(a).not.toBe(b);
  });

  test("two conflicts on one path differ when made by one client a second apart", () => {
    const a = conflictName("n1.txt", at("vm", DAY));
    const b = conflictName("n1.txt", at("vm", new Date(DAY.getTime() + 1000)));
    expect(a).not.toBe(b);
  });

  test.each([
    ["d/f (conflicted copy from laptop 2026-11-24 12.00.00 3f2a9c).txt", "laptop"],
    ["f (conflicted copy 3 from my host 2026-11-24 12.00.00 3f2a9c)", "my host"],
    ["f.txt", undefined],
    ["f (conflicted copy from laptop 2026-11-24).txt", undefined],
    ["f (conflicted copy from x).txt", undefined],
  ])("conflictCopyHost of %p is %p", (path, host) => {
    expect(conflictCopyHost(path)).toBe(host);
  });

  test("conflictCopyHost reads back the host of every name conflictName makes", () => {
    for (const host of ["laptop", "evil(host)", "a b c", "é"]) {
      const name = conflictName("x/report.pdf", at(host));
      expect(conflictCopyHost(name)).toBe(host.replace(/[()]/g, "_"));
    }
  });
});
