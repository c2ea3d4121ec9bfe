import { describe, expect, test } from "bun:test";
import { caseConflictName, foldName, placeName } from "../../src/core/case-conflict.ts";
import type { EntryKind } from "../../src/core/entry.ts";
import { MAX_SEGMENT_BYTES, baseName, wirePathProblem } from "../../src/core/wire-path.ts";

const NFC = "caf\u00e9.txt";
const NFD = "cafe\u0301.txt";
const bytes = (s: string) => new TextEncoder().encode(s).length;
const files = (...names: string[]) => new Map<string, EntryKind>(names.map((n) => [n, "file"]));

describe("foldName", () => {
  test.each([
    ["Report.txt", "report.txt"],
    ["REPORT.TXT", "report.txt"],
    [NFD, NFC],
    ["CAF\u00c9.TXT", NFC],
    ["CAFE\u0301.TXT", NFC],
    ["STRASSE", "straße"],
    ["\u212aelvin", "kelvin"], // KELVIN SIGN
    ["ΣΊΣΥΦΟΣ", "σίσυφος"], // final sigma
  ])("folds %p and %p to one key", (a, b) => {
    expect(foldName(a)).toBe(foldName(b));
  });

  test.each([
    ["report.txt", "report.txt "],
    ["a.txt", "b.txt"],
    ["cafe.txt", NFC],
  ])("keeps %p and %p apart", (a, b) => {
    expect(foldName(a)).not.toBe(foldName(b));
  });
});

describe("caseConflictName", () => {
  test.each([
    ["report.pdf", "report (Case Conflict).pdf"],
    ["docs/Report.pdf", "docs/Report (Case Conflict).pdf"],
    ["a/b/notes", "a/b/notes (Case Conflict)"],
    [".bashrc", ".bashrc (Case Conflict)"],
    ["archive.tar.gz", "archive.tar (Case Conflict).gz"],
  ])("caseConflictName of %p is %p", (path, expected) => {
    expect(caseConflictName(path)).toBe(expected);
  });

  test("caseConflictName counts up while the name is taken", () => {
    const taken = new Set(["x/report (Case Conflict).pdf", "x/report (Case Conflict 2).pdf"]);
    expect(caseConflictName("x/report.pdf", (p) => taken.has(p))).toBe("x/report (Case Conflict 3).pdf");
  });

  test("caseConflictName shortens a long stem so the name stays a valid wire path", () => {
    const c = caseConflictName(`d/${"é".repeat(127)}.txt`);
    expect(wirePathProblem(c)).toBeUndefined();
    expect(bytes(baseName(c))).toBeLessThanOrEqual(MAX_SEGMENT_BYTES);
    expect(c.endsWith(" (Case Conflict).txt")).toBe(true);
  });
});

describe("placeName", () => {
  test.each<[string, string, Map<string, EntryKind>, EntryKind, string, string | undefined]>([
    ["a new name", "Report.txt", files("other.txt"), "file", "Report.txt", undefined],
    ["its own name, there already", "report.txt", files("report.txt"), "file", "report.txt", undefined],
    ["another case", "report.txt", files("Report.txt"), "file", "report (Case Conflict).txt", "Report.txt"],
    ["another normalisation", NFC, files(NFD), "file", "caf\u00e9 (Case Conflict).txt", NFD],
    ["in a subfolder", "d/e/README", files("readme"), "file", "d/e/README (Case Conflict)", "d/e/readme"],
    ["a taken case-conflict name, in any case", "report.txt", files("Report.txt", "REPORT (case conflict).txt"), "file", "report (Case Conflict 2).txt", "Report.txt"],
    ["a file next to a folder of another case", "docs", new Map([["Docs", "dir"]]), "file", "docs (Case Conflict)", "Docs"],
    ["a folder, reusing its case-conflict folder", "docs", new Map([["Docs", "dir"], ["docs (Case Conflict)", "dir"]]), "dir", "docs (Case Conflict)", "Docs"],
    ["a file, never reusing a case-conflict file", "r.txt", files("R.txt", "r (Case Conflict).txt"), "file", "r (Case Conflict 2).txt", "R.txt"],
    ["a folder, not reusing a file", "docs", new Map<string, EntryKind>([["Docs", "dir"], ["docs (Case Conflict)", "file"]]), "dir", "docs (Case Conflict 2)", "Docs"],
  ])("places %s", (_, path, siblings, kind, name, clash) => {
    const placed = placeName(path, siblings, kind);
    expect(placed.path).toBe(name);
    expect(placed.clash).toBe(clash);
  });
});
