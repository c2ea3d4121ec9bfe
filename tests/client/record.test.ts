import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import type { SyncContext } from "../../src/client/context.ts";
import { LocalIndex } from "../../src/client/local-index.ts";
import { recordOnDisk } from "../../src/client/record.ts";
import type { Entry } from "../../src/core/entry.ts";
import type { LocalStat } from "../../src/fsutil/scan.ts";
import { loadRuntime } from "../../src/runtime/index.ts";
import { type TempDir, tempDir } from "../helpers/temp-dir.ts";

const runtime = await loadRuntime();
let dir: TempDir;
let index: LocalIndex;
let ctx: SyncContext;

beforeEach(async () => {
  dir = await tempDir("dropsim-record-");
  index = new LocalIndex(runtime.openDatabase(dir.join("state.db")));
  ctx = { index } as unknown as SyncContext;
});
afterEach(async () => {
  index.close();
  await dir.remove();
});

const file: Entry = { path: "a.txt", kind: "file", size: 3, mode: 0o644, hash: "h", blocks: [["b".repeat(64), 3]], version: 4, deleted: false, mtime: 1 };
const stat = (kind: LocalStat["kind"]): LocalStat => ({ kind, size: 3, mtimeMs: 5, ctimeMs: 6, ino: 7, mode: 0o100644, nlink: 1 });

describe("recordOnDisk", () => {
  test("records the entry with the stat as its fingerprint, and its blocks as found there", () => {
    recordOnDisk(ctx, file, stat("file"));
    expect(index.get("a.txt")).toEqual({ entry: file, stat: stat("file") });
    expect(index.findBlock("b".repeat(64))).toEqual([{ path: "a.txt", offset: 0, size: 3 }]);
  });

  test.each([
    ["nothing", undefined],
    ["a folder", stat("dir")],
    ["a symlink", stat("symlink")],
  ])("records nothing when the path holds %s", (_, st) => {
    recordOnDisk(ctx, file, st);
    expect(index.get("a.txt")).toBeUndefined();
  });
});
