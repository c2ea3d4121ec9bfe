import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import type { SyncContext } from "../../src/client/context.ts";
import type { SyncEvent } from "../../src/client/events.ts";
import { moveFolderAsOne } from "../../src/client/folder-move.ts";
import { LocalIndex } from "../../src/client/local-index.ts";
import type { LocalView } from "../../src/client/local-view.ts";
import type { Entry } from "../../src/core/entry.ts";
import { statLocal } from "../../src/fsutil/scan.ts";
import { loadRuntime } from "../../src/runtime/index.ts";
import { type TempDir, tempDir } from "../helpers/temp-dir.ts";

// moveFolderAsOne against a real folder and index: one rename when the server moved exactly
// what we hold, file by file (nothing done here) when it did not.

const runtime = await loadRuntime();
let dir: TempDir;
let root: string;
let index: LocalIndex;
let events: SyncEvent[];
/** Each folder synced, with the paths the index still knew at that moment. */
let syncedDirs: { dir: string; known: string[] }[];
let syncDir: (d: string) => Promise<void>;

beforeEach(async () => {
  dir = await tempDir("dropsim-folder-move-");
  root = dir.join("root");
  await fs.mkdir(path.join(root, "d/e"), { recursive: true });
  index = new LocalIndex(runtime.openDatabase(dir.join("state.db")));
  events = [];
  syncedDirs = [];
  syncDir = async (d) => {
    syncedDirs.push({ dir: d, known: index.all().map((s) => s.entry.path).sort() });
  };
});
afterEach(async () => {
  index.close();
  await dir.remove();
});

const entry = (p: string, kind: Entry["kind"], version: number, extra: Partial<Entry> = {}): Entry => ({
  path: p,
  kind,
  size: 0,
  mode: kind === "dir" ? 0o755 : 0o644,
  hash: kind === "dir" ? "" : `h-${p.split("/").pop()}`,
  blocks: [],
  version,
  deleted: false,
  mtime: 0,
  ...extra,
});

/** Writes and records `paths` as synced; returns the view a pass would have. */
async function synced(paths: [string, Entry["kind"], number][]): Promise<LocalView> {
  const view = { content: new Map(), stat: new Map(), synced: new Map(), unreadable: new Map(), later: new Set(), small: new Map(), settling: new Map(), skipped: new Map(), ctimes: new Map(), notes: new Map() } as unknown as LocalView;
  for (const [p, kind, v] of paths) {
    const abs = path.join(root, p);
    if (kind === "file") await fs.writeFile(abs, p);
    const st = (await statLocal(abs))!;
    const e = entry(p, kind, v);
    index.put(e, st);
    view.synced.set(p, { entry: e, stat: st });
    view.stat.set(p, st);
  }
  return view;
}

function ctx(): SyncContext {
  return { root, index, runtime: { syncDir: (d: string) => syncDir(d) }, emit: (e: SyncEvent) => events.push(e), markDirty() {}, folderAppeared() {} } as unknown as SyncContext;
}

/** What the server's move of d (holding e/a.txt) to m, at version 10, pushes: applied to `view`. */
function serverMovesDToM(view: LocalView): Promise<Set<string>> {
  const moved = entry("m", "dir", 10, { movedFrom: "d" });
  const news = new Map<string, Entry>([
    ["m", moved],
    ["m/e", entry("m/e", "dir", 10, { movedFrom: "d/e" })],
    ["m/e/a.txt", entry("m/e/a.txt", "file", 10, { movedFrom: "d/e/a.txt", hash: "h-a.txt" })],
  ]);
  return moveFolderAsOne(ctx(), moved, [], view, news);
}

describe("moveFolderAsOne", () => {
  test("renames the folder once and records every file the server moved at its new path", async () => {
    const view = await synced([["d", "dir", 1], ["d/e", "dir", 2], ["d/e/a.txt", "file", 3]]);
    const done = await serverMovesDToM(view);
    expect([...done].sort()).toEqual(["d", "d/e", "d/e/a.txt", "m", "m/e", "m/e/a.txt"]);
    expect(await fs.readFile(path.join(root, "m/e/a.txt"), "utf8")).toBe("d/e/a.txt");
    expect(index.get("m/e/a.txt")?.entry.version).toBe(10);
    expect(index.get("d/e/a.txt")).toBeUndefined();
    expect(events).toEqual([{ type: "moved", from: "d", to: "m" }]);
    // The rename is durable before the index says so: both parents synced while it still held d.
    expect(syncedDirs.map((s) => s.dir)).toEqual([root]);
    expect(syncedDirs[0]!.known).toEqual(["d", "d/e", "d/e/a.txt"]);
  });

  test("when the folders cannot be synced, the move is done but the index keeps the old paths", async () => {
    const view = await synced([["d", "dir", 1], ["d/e", "dir", 2], ["d/e/a.txt", "file", 3]]);
    syncDir = () => Promise.reject(Object.assign(new Error("EIO: i/o error, fsync"), { code: "EIO" }));
    const done = await serverMovesDToM(view);
    // Taken care of all the same: the next pass finds the old paths gone and the new ones
    // holding what the server has, and records them.
    expect([...done].sort()).toEqual(["d", "d/e", "d/e/a.txt", "m", "m/e", "m/e/a.txt"]);
    expect(await fs.readFile(path.join(root, "m/e/a.txt"), "utf8")).toBe("d/e/a.txt");
    expect(index.all().map((s) => s.entry.path).sort()).toEqual(["d", "d/e", "d/e/a.txt"]);
  });

  test("does nothing when we hold a file there that the server did not move (added after the move): file by file instead", async () => {
    const view = await synced([["d", "dir", 1], ["d/e", "dir", 2], ["d/e/a.txt", "file", 3], ["d/e/late.txt", "file", 12]]);
    const done = await serverMovesDToM(view);
    expect(done.size).toBe(0);
    expect(await fs.readFile(path.join(root, "d/e/late.txt"), "utf8")).toBe("d/e/late.txt");
    expect(index.get("d/e/late.txt")?.entry.version).toBe(12);
    expect(events).toEqual([]);
  });
});
