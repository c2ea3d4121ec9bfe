import { afterEach, beforeEach, expect, test } from "bun:test";
import * as fs from "node:fs/promises";
import type { SyncContext } from "../../src/client/context.ts";
import { LocalIndex } from "../../src/client/local-index.ts";
import { readLocalView, WALKED_ENTRY_BYTES } from "../../src/client/local-view.ts";
import type { Entry } from "../../src/core/entry.ts";
import { makeIgnoreRules } from "../../src/core/ignore-rules.ts";
import { WriteSettle } from "../../src/core/write-settle.ts";
import { statLocal } from "../../src/fsutil/scan.ts";
import { loadRuntime } from "../../src/runtime/index.ts";
import { type TempDir, tempDir } from "../helpers/temp-dir.ts";

// A look at a whole folder leaves out what is unchanged since it was synced (the planner would
// plan nothing for it), so a rescan of 100,000 synced files does not load 100,000 entries; what
// news, the engine or a change concerns stays in the view.

const runtime = await loadRuntime();
let dir: TempDir;
let index: LocalIndex;
let ctx: SyncContext;

beforeEach(async () => {
  dir = await tempDir("dropsim-local-view-");
  await fs.mkdir(dir.join("root/d"), { recursive: true });
  index = new LocalIndex(runtime.openDatabase(dir.join("state.db")));
  ctx = { root: dir.join("root"), index, ignored: makeIgnoreRules(), emit: () => {}, runtime, foldsNames: false, markDirty() {} } as unknown as SyncContext;
  for (const name of ["x", "y", "z"]) await fs.writeFile(dir.join(`root/d/${name}`), name);
  for (const p of ["d", "d/x", "d/y", "d/z"]) await synced(p);
  await fs.rm(dir.join("root/d/z"));
});
afterEach(async () => {
  index.close();
  await dir.remove();
});

/** Records `p` as synced at version 1 with what it holds now. */
async function synced(p: string): Promise<void> {
  const st = (await statLocal(dir.join(`root/${p}`)))!;
  const kind = st.kind;
  index.put({ path: p, kind, size: st.size, mode: kind === "dir" ? 0o755 : 0o644, hash: kind === "dir" ? "" : `h-${p}`, blocks: [], version: 1, deleted: false, mtime: st.mtimeMs }, st);
}

async function look(news: Map<string, Entry> = new Map(), attended: (p: string) => boolean = () => false) {
  const view = await readLocalView(ctx, [""], news, new WriteSettle(), 0, attended);
  return { stat: [...view.stat.keys()].sort(), synced: [...view.synced.keys()].sort() };
}

test("a look at the whole folder leaves out unchanged files and folders, and keeps what changed or vanished", async () => {
  await fs.writeFile(dir.join("root/d/y"), "y, edited");
  await fs.writeFile(dir.join("root/new"), "new");
  expect(await look()).toEqual({ stat: ["d/y", "new"], synced: ["d/y", "d/z"] });
});

test("news of a folder keeps everything below it in the view, unchanged or not", async () => {
  const tombstone: Entry = { path: "d", kind: "dir", size: 0, mode: 0o755, hash: "", blocks: [], version: 2, deleted: true, mtime: 0 };
  expect(await look(new Map([["d", tombstone]]))).toEqual({ stat: ["d", "d/x", "d/y"], synced: ["d", "d/x", "d/y", "d/z"] });
});

test("news that moved a path keeps its old path and what is below it in the view", async () => {
  const moved: Entry = { path: "e", kind: "dir", size: 0, mode: 0o755, hash: "", blocks: [], version: 2, deleted: false, mtime: 0, movedFrom: "d" };
  expect(await look(new Map([["e", moved]]))).toEqual({ stat: ["d", "d/x", "d/y"], synced: ["d", "d/x", "d/y", "d/z"] });
});

test("an unchanged path the caller attends to (a held deletion restored, a problem) stays in the view", async () => {
  expect(await look(new Map(), (p) => p === "d/x")).toEqual({ stat: ["d/x"], synced: ["d/x", "d/z"] });
});

test("a look at the whole folder tells the collector of every entry it walks, unchanged ones included", async () => {
  // A walk of 100,000 files leaves its garbage to a collector paced by bytes (local-view.ts).
  let told = 0;
  ctx = { ...ctx, runtime: { ...runtime, reclaimAfter: (bytes: number) => void (told += bytes) } } as SyncContext;
  await look();
  // d, d/x, d/y: found by the walk; d/z is gone.
  expect(told).toBe(3 * WALKED_ENTRY_BYTES);
});
