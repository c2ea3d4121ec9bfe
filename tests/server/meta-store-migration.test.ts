import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import * as path from "node:path";
import { openBunDatabase } from "../../src/runtime/sqlite-bun.ts";
import { SqlMetaStore } from "../../src/store/sql-meta-store.ts";
import { type TempDir, tempDir } from "../helpers/temp-dir.ts";

// A data dir written by an older dropsim keeps its journal, server id and head when a newer one
// opens it; one written by a newer dropsim is refused rather than misread.

/** meta.db as dropsim wrote it before symlinks (no user_version, no target column). */
const BEFORE_SYMLINKS = `
CREATE TABLE journal (seq INTEGER PRIMARY KEY AUTOINCREMENT, path TEXT NOT NULL, kind TEXT NOT NULL, size INTEGER NOT NULL,
  mode INTEGER NOT NULL, hash TEXT NOT NULL, blocks TEXT NOT NULL, deleted INTEGER NOT NULL, mtime REAL NOT NULL, moved_from TEXT);
CREATE TABLE entries (path TEXT PRIMARY KEY, seq INTEGER NOT NULL) WITHOUT ROWID;
CREATE INDEX entries_by_seq ON entries(seq);
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT INTO meta VALUES ('server_id', 'old-server');
INSERT INTO journal (path, kind, size, mode, hash, blocks, deleted, mtime) VALUES ('docs', 'dir', 0, 493, '', '[]', 0, 1);
INSERT INTO entries VALUES ('docs', 1);
`;

const STAMP = { clientId: "c1", at: 1_700_000_000_000 };

let dir: TempDir;
beforeEach(async () => {
  dir = await tempDir("dropsim-meta-migration-");
});
afterEach(() => dir.remove());

describe("SqlMetaStore schema versions", () => {
  test("SqlMetaStore opens a meta.db from before symlinks, keeps its data and can store a symlink", async () => {
    const file = path.join(dir.path, "meta.db");
    const old = openBunDatabase(file);
    old.exec(BEFORE_SYMLINKS);
    old.close();
    const store = SqlMetaStore.open(file, openBunDatabase);
    expect(store.serverId).toBe("old-server");
    expect(await store.head()).toBe(1);
    expect(await store.get("docs")).toMatchObject({ kind: "dir", version: 1 });
    expect((await store.get("docs"))!.target).toBeUndefined();
    const link = await store.transaction(STAMP, (tx) =>
      tx.append({ path: "docs/l", kind: "symlink", size: 1, mode: 0o777, hash: "", blocks: [], deleted: false, mtime: 2, target: "x" }),
    );
    expect(await store.get("docs/l")).toEqual(link);
    await store.close();
    // Opened again, nothing is migrated twice.
    const again = SqlMetaStore.open(file, openBunDatabase);
    expect((await again.get("docs/l"))!.target).toBe("x");
    await again.close();
  });

  test("SqlMetaStore opens a meta.db from before extended attributes (format 1), keeps its links and can store a file's attributes", async () => {
    const file = path.join(dir.path, "meta.db");
    const old = openBunDatabase(file);
    old.exec(`${BEFORE_SYMLINKS}
      ALTER TABLE journal ADD COLUMN target TEXT;
      INSERT INTO journal (path, kind, size, mode, hash, blocks, deleted, mtime, target) VALUES ('docs/l', 'symlink', 1, 511, '', '[]', 0, 2, 'x');
      INSERT INTO entries VALUES ('docs/l', 2);
      PRAGMA user_version = 1;`);
    old.close();
    const store = SqlMetaStore.open(file, openBunDatabase);
    expect(await store.head()).toBe(2);
    expect(await store.get("docs/l")).toMatchObject({ kind: "symlink", target: "x", version: 2 });
    expect((await store.get("docs/l"))!.xattrs).toBeUndefined();
    const tagged = await store.transaction(STAMP, (tx) =>
      tx.append({ path: "docs/t", kind: "file", size: 0, mode: 0o644, hash: "", blocks: [], deleted: false, mtime: 3, xattrs: [["user.color", "cmVk"]] }),
    );
    await store.close();
    const again = SqlMetaStore.open(file, openBunDatabase);
    expect(await again.get("docs/t")).toEqual(tagged);
    expect(await again.changesSince(2, 10)).toEqual([tagged]);
    await again.close();
  });

  test("SqlMetaStore stamps rows appended after the upgrade to format 3 and leaves older rows unstamped", async () => {
    const file = path.join(dir.path, "meta.db");
    const old = openBunDatabase(file);
    old.exec(`${BEFORE_SYMLINKS}
      ALTER TABLE journal ADD COLUMN target TEXT;
      ALTER TABLE journal ADD COLUMN xattrs TEXT;
      PRAGMA user_version = 2;`);
    old.close();
    const store = SqlMetaStore.open(file, openBunDatabase);
    await store.transaction(STAMP, (tx) => tx.append({ path: "b", kind: "dir", size: 0, mode: 0o755, hash: "", blocks: [], deleted: false, mtime: 4 }));
    await store.close();
    const db = openBunDatabase(file);
    expect(db.prepare("PRAGMA user_version").get<{ user_version: number }>()!.user_version).toBe(5);
    expect(db.prepare("SELECT path, committed_at, client_id FROM journal ORDER BY seq").all()).toEqual([
      { path: "docs", committed_at: null, client_id: null },
      { path: "b", committed_at: STAMP.at, client_id: "c1" },
    ]);
    db.close();
  });

  test("SqlMetaStore sums the live files of a meta.db from before quotas (format 3) into its running total", async () => {
    const file = path.join(dir.path, "meta.db");
    const old = openBunDatabase(file);
    old.exec(`${BEFORE_SYMLINKS}
      ALTER TABLE journal ADD COLUMN target TEXT;
      ALTER TABLE journal ADD COLUMN xattrs TEXT;
      ALTER TABLE journal ADD COLUMN committed_at INTEGER; ALTER TABLE journal ADD COLUMN client_id TEXT;
      INSERT INTO journal (path, kind, size, mode, hash, blocks, deleted, mtime) VALUES ('docs/a', 'file', 100, 420, 'h', '[]', 0, 1);
      INSERT INTO journal (path, kind, size, mode, hash, blocks, deleted, mtime) VALUES ('docs/b', 'file', 30, 420, 'h', '[]', 0, 1);
      INSERT INTO journal (path, kind, size, mode, hash, blocks, deleted, mtime) VALUES ('docs/b', 'file', 0, 420, '', '[]', 1, 2);
      INSERT INTO entries VALUES ('docs/a', 2), ('docs/b', 4);
      PRAGMA user_version = 3;`);
    old.close();
    const store = SqlMetaStore.open(file, openBunDatabase);
    expect(await store.liveBytes()).toBe(100);
    await store.close();
  });

  test("SqlMetaStore refuses a meta.db written by a newer dropsim", () => {
    const file = path.join(dir.path, "meta.db");
    const db = openBunDatabase(file);
    db.exec("PRAGMA user_version = 99");
    db.close();
    expect(() => SqlMetaStore.open(file, openBunDatabase)).toThrow(/newer dropsim \(format 99/);
  });
});
