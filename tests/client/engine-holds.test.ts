import { afterEach, beforeEach, expect, test } from "bun:test";
import * as fs from "node:fs/promises";
import type { SyncContext } from "../../src/client/context.ts";
import type { SyncEvent } from "../../src/client/events.ts";
import { LocalIndex } from "../../src/client/local-index.ts";
import type { ServerPeer } from "../../src/client/server-link.ts";
import { SyncEngine } from "../../src/client/sync-engine.ts";
import { makeIgnoreRules } from "../../src/core/ignore-rules.ts";
import { DELETE_QUIET_MS } from "../../src/core/plan-pass.ts";
import type { ClientMessage, Op } from "../../src/protocol/messages.ts";
import { statLocal } from "../../src/fsutil/scan.ts";
import { TempDirs } from "../../src/fsutil/temp-dirs.ts";
import { loadRuntime } from "../../src/runtime/index.ts";
import { type TempDir, tempDir } from "../helpers/temp-dir.ts";

// The engine decides waits on the clock it is given, never on the wall clock: these passes run
// back to back, and only the fake clock says how much time went by.

const runtime = await loadRuntime();
let dir: TempDir;
let index: LocalIndex;
let events: SyncEvent[];
/** Ops the "server" was sent, per apply request. */
let applied: Op[][];
let now: number;

const peer = {
  async request(m: ClientMessage) {
    if (m.type === "changes") return { type: "changes_result", id: 0, head: 3, entries: [], more: false };
    if (m.type === "apply") {
      applied.push(m.ops);
      const results = m.ops.map((op, i) => {
        const path = op.op === "move" ? op.to : op.path;
        return { status: "ok", entries: [{ path, kind: "file", size: 0, mode: 0o644, hash: "", blocks: [], version: 10 + i, deleted: true, mtime: 0 }] };
      });
      return { type: "applied", id: 0, results };
    }
    throw new Error(`unexpected request ${m.type}`);
  },
} as unknown as ServerPeer;

beforeEach(async () => {
  dir = await tempDir("dropsim-engine-holds-");
  await fs.mkdir(dir.join("root"));
  index = new LocalIndex(runtime.openDatabase(dir.join("state.db")));
  events = [];
  applied = [];
  now = 50_000;
});
afterEach(async () => {
  index.close();
  await dir.remove();
});

async function engine(opts: { massDeleteLimit?: number; confirmDeletes?: boolean } = {}): Promise<SyncEngine> {
  const ctx = {
    root: dir.join("root"),
    tmpDirs: await TempDirs.prepare(dir.join("tmp")),
    hostName: "host",
    clientId: "client",
    index,
    ignored: makeIgnoreRules(),
    fetcher: {},
    emit: (e: SyncEvent) => events.push(e),
    runtime,
    massDeleteLimit: opts.massDeleteLimit ?? Number.POSITIVE_INFINITY,
    confirmDeletes: opts.confirmDeletes ?? false,
    minDiskFree: { bytes: 0 },
    waitingForSpace: new Set(),
    foldsNames: false,
    markDirty() {},
    folderAppeared() {},
  } as unknown as SyncContext;
  const e = new SyncEngine(ctx, () => now);
  e.markDirty("");
  return e;
}

/** Files synced at version 1, then deleted from the folder. */
async function syncedThenDeleted(names: string[]): Promise<void> {
  for (const [i, name] of names.entries()) {
    const abs = dir.join("root", name);
    await fs.writeFile(abs, name);
    index.put({ path: name, kind: "file", size: name.length, mode: 0o644, hash: `h${i}`, blocks: [], version: 1, deleted: false, mtime: 0 }, (await statLocal(abs))!);
    await fs.rm(abs);
  }
  index.setMeta("cursor", "3");
}

const deletes = () => applied.flat().map((op) => (op.op === "delete" ? op.path : `${op.op}?`));

test("the engine holds a local deletion for the quiet period on its clock, then sends it", async () => {
  await syncedThenDeleted(["a"]);
  const e = await engine();
  await e.pass(peer);
  expect(deletes()).toEqual([]);
  now += DELETE_QUIET_MS - 1;
  e.markDirty("");
  await e.pass(peer);
  expect(deletes()).toEqual([]);
  now += 1;
  e.markDirty("");
  await e.pass(peer);
  expect(deletes()).toEqual(["a"]);
  expect(index.get("a")).toBeUndefined();
});

test("the engine holds a mass deletion across restarts, says so once, and sends it when confirmed", async () => {
  await syncedThenDeleted(["a", "b", "c"]);
  const first = await engine({ massDeleteLimit: 2 });
  await first.pass(peer);
  now += DELETE_QUIET_MS;
  first.markDirty("");
  await first.pass(peer);
  expect(deletes()).toEqual([]);
  expect(events.filter((ev) => ev.type === "held_deletions")).toEqual([{ type: "held_deletions", count: 3, root: dir.join("root") }]);
  expect(JSON.parse(index.getMeta("held_deletions")!).sort()).toEqual(["a", "b", "c"]);

  events = [];
  const confirmed = await engine({ massDeleteLimit: 2, confirmDeletes: true });
  expect(events).toEqual([{ type: "confirmed_deletions", count: 3 }]);
  await confirmed.pass(peer);
  now += DELETE_QUIET_MS;
  confirmed.markDirty("");
  await confirmed.pass(peer);
  expect(deletes().sort()).toEqual(["a", "b", "c"]);
  expect(index.getMeta("held_deletions")).toBe("[]");
});
