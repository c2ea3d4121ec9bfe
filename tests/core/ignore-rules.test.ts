import { describe, expect, test } from "bun:test";
import { makeIgnoreRules } from "../../src/core/ignore-rules.ts";

describe("makeIgnoreRules defaults", () => {
  const ignored = makeIgnoreRules();

  test.each([
    [".DS_Store", false],
    ["photos/.DS_Store", false],
    ["a/b/c/.DS_Store", false],
    ["notes.txt.swp", false],
    ["src/.main.ts.swp", false],
    ["x.swo", false],
    ["~$x.docx", false],
    ["reports/~$budget.xlsx", false],
    ["Thumbs.db", false],
    ["pics/Thumbs.db", false],
    ["ehthumbs.db", false],
    ["desktop.ini", false],
    ["backup~", false],
    [".~lock.report.odt#", false],
    [".#notes.org", false],
    ["#notes.org#", false],
    ["drafts/#chapter 1.md#", false],
    ["._resource", false],
    ["download.part", false],
    ["video.crdownload", false],
    ["scratch.tmp", false],
    [".dropsim-tmp-123", false],
    [".dropsim", true],
    [".dropsim/state.db", false],
    [".dropsim/tmp/abc", false],
    ["sub/.dropsim", true],
    ["sub/.dropsim/state.db", false],
    ["a/b/c/.dropsim/tmp/0/x", false],
    ["sub/.DropSim/state.db", false],
    [".Trashes", true],
    [".Spotlight-V100", true],
    [".fseventsd", true],
    [".DS_Store/inside", false],
  ] as [string, boolean][])("default rules ignore %p (dir: %p)", (path, isDir) => {
    expect(ignored(path, isDir)).toBe(true);
  });

  test.each([
    ["report.pdf", false],
    ["docs/report.pdf", false],
    ["docs", true],
    ["a/b/c", true],
    [".bashrc", false],
    [".gitignore", false],
    ["x.swp.txt", false],
    ["thumbs.db.bak", false],
    ["my~file.txt", false],
    ["a$b.docx", false],
    ["café/日本語.txt", false],
    [".dropsimignore", false],
    [".dropsimx/file", false],
    ["sub/.dropsimx", true],
    ["sub/x.dropsim", false],
  ] as [string, boolean][])("default rules keep %p (dir: %p)", (path, isDir) => {
    expect(ignored(path, isDir)).toBe(false);
  });

  // A sync folder nested in this one keeps its state there: syncing it would feed one
  // client's database into another's folder.
  test.each([
    ["!.dropsim/", ".dropsim/state.db"],
    ["!sub/.dropsim/", "sub/.dropsim/state.db"],
    ["!**/.dropsim/**", "a/b/.dropsim/sync.lock"],
  ])("a user rule %p cannot un-ignore %p", (rule, path) => {
    expect(makeIgnoreRules(rule)(path, false)).toBe(true);
  });
});

describe("makeIgnoreRules extra rules", () => {
  const ignored = makeIgnoreRules(["# build output", "build/", "*.log", "!keep.log", "/top.txt", "secret/**/*.key", ""].join("\n"));

  test.each([
    ["build", true, true],
    ["build/app.js", false, true],
    ["pkg/build/app.js", false, true],
    ["build", false, false], // "build/" matches folders only
    ["x.log", false, true],
    ["logs/y.log", false, true],
    ["keep.log", false, false],
    ["top.txt", false, true],
    ["sub/top.txt", false, false],
    ["secret/a/b/id.key", false, true],
    ["secret/id.pub", false, false],
    ["# build output", false, false],
    ["report.pdf", false, false],
  ] as [string, boolean, boolean][])("extra rules decide %p (dir: %p) → ignored %p", (path, isDir, expected) => {
    expect(ignored(path, isDir)).toBe(expected);
  });

  test("extra rules keep the defaults", () => {
    expect(ignored(".DS_Store", false)).toBe(true);
    expect(ignored(".dropsim/state.db", false)).toBe(true);
  });

  test("extra rules can un-ignore a default", () => {
    const rules = makeIgnoreRules("!*.tmp\n");
    expect(rules("data.tmp", false)).toBe(false);
    expect(rules("x.swp", false)).toBe(true);
  });

  test("rules answer the same for as long as they are asked: 20,000 paths, every one of them twice", () => {
    // Past the point where the matcher is rebuilt (ignore-rules.ts), the extra rules, the
    // defaults and a folder's exclusion still hold for its children.
    const rules = makeIgnoreRules("build/\n*.log\n!keep.log\n");
    const paths = (i: number) => [[`d${i}/build`, true], [`d${i}/build/x${i}.js`, false], [`d${i}/r${i}.log`, false], [`d${i}/keep.log`, false]] as const;
    for (let round = 0; round < 2; round++) {
      for (let i = 0; i < 5000; i++) {
        expect(paths(i).map(([p, dir]) => rules(p, dir))).toEqual([true, true, true, false]);
      }
    }
  });

  test("each call builds independent rules", () => {
    const a = makeIgnoreRules("*.pdf");
    const b = makeIgnoreRules();
    expect(a("r.pdf", false)).toBe(true);
    expect(b("r.pdf", false)).toBe(false);
  });
});
