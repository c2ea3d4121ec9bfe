import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import * as fs from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { makeIgnoreRules } from "../../src/core/ignore-rules.ts";
import { scanTree } from "../../src/fsutil/scan.ts";

// The scan sees the folder's own tree: a symlink is a leaf, never followed, whether the walk
// starts at the top or at a path below a folder that has become a link (issue 9, item 10).

let base: string;
let root: string;
let outside: string;
const none = makeIgnoreRules();

beforeEach(async () => {
  base = await fs.realpath(await fs.mkdtemp(path.join(os.tmpdir(), "dropsim-scan-")));
  root = path.join(base, "root");
  outside = path.join(base, "outside");
  await fs.mkdir(root);
  await fs.mkdir(outside);
  await fs.writeFile(path.join(outside, "f.txt"), "outside\n");
});
afterEach(async () => {
  await fs.rm(base, { recursive: true, force: true });
});

const kinds = (stats: Map<string, { kind: string }>) => Object.fromEntries([...stats].map(([p, st]) => [p, st.kind]));

describe("scanTree", () => {
  test("scanTree lists a symlink as a symlink and never walks into one", async () => {
    await fs.symlink(outside, path.join(root, "link"));
    await fs.symlink("nowhere", path.join(root, "dangling"));
    const tree = await scanTree(root, "", none);
    expect(kinds(tree.stats)).toEqual({ link: "symlink", dangling: "symlink" });
    expect(tree.skipped.size).toBe(0);
  });

  test("scanTree skips a named pipe with the reason", async () => {
    expect(Bun.spawnSync(["mkfifo", path.join(root, "fifo")]).exitCode).toBe(0);
    const tree = await scanTree(root, "", none);
    expect(tree.stats.size).toBe(0);
    expect(tree.skipped.get("fifo")).toMatch(/named pipe/);
  });

  test.each([
    ["a file below it", "link/f.txt", false],
    ["the linked folder itself as a subtree", "link", true],
    ["a path two folders below it", "link/f.txt/x", false],
  ])("scanTree started at %s of a symlinked folder finds the link, never what is behind it", async (_name, start, subtree) => {
    await fs.symlink(outside, path.join(root, "link"));
    const tree = await scanTree(root, start, none, subtree);
    expect(kinds(tree.stats)).toEqual(start === "link" ? { link: "symlink" } : {});
    expect(tree.skipped.size).toBe(0);
  });

  test("scanTree started below a real folder finds what is there", async () => {
    await fs.mkdir(path.join(root, "real"));
    await fs.writeFile(path.join(root, "real", "f.txt"), "inside\n");
    const seen = new Set<string>();
    expect(kinds((await scanTree(root, "real/f.txt", none, false, false, seen)).stats)).toEqual({ "real/f.txt": "file" });
    expect([...seen]).toEqual(["real"]);
  });
});
