import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import * as fs from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { ensureParents } from "../../src/fsutil/safe-resolve.ts";

let root: string;
beforeEach(async () => {
  root = await fs.realpath(await fs.mkdtemp(path.join(os.tmpdir(), "dropsim-ensure-")));
});
afterEach(async () => {
  await fs.rm(root, { recursive: true, force: true });
});

describe("ensureParents", () => {
  test("creates every missing folder above the path and records them as known", async () => {
    const known = new Set<string>();
    await ensureParents(root, "a/b/c.txt", known);
    expect((await fs.stat(path.join(root, "a", "b"))).isDirectory()).toBe(true);
    expect([...known].sort()).toEqual([path.join(root, "a"), path.join(root, "a", "b")]);
  });

  test("refuses a parent that is a symbolic link", async () => {
    await fs.symlink(os.tmpdir(), path.join(root, "link"));
    await expect(ensureParents(root, "link/x.txt")).rejects.toMatchObject({ code: "bad_path" });
  });

  test("does not look again at a folder the batch already checked", async () => {
    const known = new Set<string>();
    await ensureParents(root, "a/x.txt", known);
    // Swapped for a symlink after the check: a batch trusts what it checked (one stat per folder,
    // not per file); a new batch looks again.
    await fs.rm(path.join(root, "a"), { recursive: true });
    await fs.symlink(os.tmpdir(), path.join(root, "a"));
    await ensureParents(root, "a/y.txt", known);
    await expect(ensureParents(root, "a/y.txt", new Set())).rejects.toMatchObject({ code: "bad_path" });
  });
});
