import { afterEach, expect, test } from "bun:test";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { TempFile } from "../../src/fsutil/atomic-write.ts";
import { TempDirs } from "../../src/fsutil/temp-dirs.ts";
import { type TempDir, tempDir } from "../helpers/temp-dir.ts";

let dir: TempDir | undefined;
afterEach(async () => {
  await dir?.[Symbol.asyncDispose]();
  dir = undefined;
});

test("prepare drops what a previous run left and takes its subfolders in turn", async () => {
  dir = await tempDir();
  const root = dir.join("tmp");
  await fs.mkdir(path.join(root, "3"), { recursive: true });
  await fs.writeFile(path.join(root, "3", "partial"), "left by a crash");
  await fs.writeFile(path.join(root, "stray"), "x");

  const dirs = await TempDirs.prepare(root);
  const entries = await fs.readdir(root, { recursive: true });
  expect(entries.filter((e) => !/^[0-9a-f]$/.test(e))).toEqual([]);
  const picked = Array.from({ length: entries.length * 2 }, () => dirs.next());
  // Every subfolder in turn, each exactly twice over two rounds.
  expect(new Set(picked).size).toBe(entries.length);
  for (const d of new Set(picked)) expect(picked.filter((p) => p === d).length).toBe(2);
  // Temp files can be made there without creating anything first.
  const tmp = await TempFile.create(dirs.next());
  await tmp.write(new TextEncoder().encode("ok"));
  await tmp.commit(dir.join("done.txt"));
  expect(await fs.readFile(dir.join("done.txt"), "utf8")).toBe("ok");
});
