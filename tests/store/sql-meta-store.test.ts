import { afterEach, beforeEach, expect, test } from "bun:test";
import { openBunDatabase } from "../../src/runtime/sqlite-bun.ts";
import { metaFile } from "../../src/store/data-dir.ts";
import type { EntryDraft } from "../../src/store/meta-store.ts";
import { openStores } from "../../src/store/open.ts";
import { type TempDir, tempDir } from "../helpers/temp-dir.ts";

// What only SQLite can get wrong (entries pointing into the journal) is found by its check().

let scratch: TempDir;
beforeEach(async () => {
  scratch = await tempDir("dropsim-sql-meta-");
});
afterEach(() => scratch.remove());

function dir(path: string): EntryDraft {
  return { path, kind: "dir", size: 0, mode: 0o755, hash: "", blocks: [], deleted: false, mtime: 1 };
}

test("SqlMetaStore check names each entry that points at a missing, foreign or stale journal row, and each row without an entry", async () => {
  const root = scratch.path;
  const stores = await openStores(root, { openDatabase: openBunDatabase });
  await stores.share("default")!.meta.transaction({ clientId: "c", at: 1 }, async (tx) => {
    for (const p of ["a", "b", "c", "d", "e"]) await tx.append(dir(p));
  });
  await stores.close();

  const db = openBunDatabase(metaFile(root, "default"));
  db.exec(`
    UPDATE entries SET seq = 99 WHERE path = 'a';
    UPDATE entries SET seq = 3 WHERE path = 'b';
    DELETE FROM entries WHERE path = 'd';
    INSERT INTO journal (path, kind, size, mode, hash, blocks, deleted, mtime) VALUES ('e', 'dir', 0, 493, '', '[]', 1, 2);
  `);
  db.close();

  const again = await openStores(root, { openDatabase: openBunDatabase });
  const problems = await again.check();
  await again.close();
  expect(problems.sort()).toEqual(
    [
      `Share "default": Entry "a" points at journal row 99, which does not exist`,
      `Share "default": Entry "a" points at journal row 99, but the newest row for that path is 1`,
      `Share "default": Entry "b" points at journal row 3, which is about "c"`,
      `Share "default": Entry "b" points at journal row 3, but the newest row for that path is 2`,
      `Share "default": Journal row 4 is about "d", which has no entry`,
      `Share "default": Entry "e" points at journal row 5, but the newest row for that path is 6`,
    ].sort(),
  );
});

test("SqlMetaStore reads rows from before stamps as unstamped, older than any time, and carries their journal to format 5", async () => {
  const root = scratch.path;
  const stores = await openStores(root, { openDatabase: openBunDatabase });
  const meta = stores.share("default")!.meta;
  await meta.transaction({ clientId: "c", at: 5000 }, async (tx) => {
    for (const p of ["a", "b", "c"]) await tx.append(dir(p));
  });
  await stores.close();
  // As a journal from before issue 12 and before stamps left it: no cause column, rows 1–2 unstamped.
  const db = openBunDatabase(metaFile(root, "default"));
  db.exec(`
    UPDATE journal SET committed_at = NULL, client_id = NULL WHERE seq <= 2;
    DROP TABLE clients; DROP INDEX journal_by_path; DROP INDEX journal_by_time; DROP INDEX journal_by_move;
    ALTER TABLE journal DROP COLUMN cause; DELETE FROM meta WHERE key = 'pruned_through';
    PRAGMA user_version = 4;
  `);
  db.close();

  const again = await openStores(root, { openDatabase: openBunDatabase });
  const old = again.share("default")!.meta;
  expect((await old.history({ path: "", below: true, limit: 10 })).map((r) => [r.version, r.committedAt, r.clientId, r.cause])).toEqual([
    [3, 5000, "c", null],
    [2, null, null, null],
    [1, null, null, null],
  ]);
  expect(await old.seqAt(0)).toBe(2);
  expect(await old.seqAt(5000)).toBe(3);
  expect(await old.prunedThrough()).toBe(0);
  await old.noteClient("c", "host");
  expect(await old.clientHosts(["c"])).toEqual(new Map([["c", "host"]]));
  expect(await again.check()).toEqual([]);
  await again.close();
});
