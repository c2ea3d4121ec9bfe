import { afterAll, describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { LocalIndex, sameStat } from "../../src/client/local-index.ts";
import { loadRuntime } from "../../src/runtime/index.ts";
import { tempDir } from "../helpers/temp-dir.ts";

const dir = await tempDir("dropsim-index-");
afterAll(() => dir.remove());
const runtime = await loadRuntime();

/** The files table as bc248cc wrote it: no st_ctime, user_version 0. */
const OLD_FORMAT = `
CREATE TABLE files (path TEXT PRIMARY KEY, kind TEXT NOT NULL, size INTEGER NOT NULL, mode INTEGER NOT NULL, hash TEXT NOT NULL,
  blocks TEXT NOT NULL, version INTEGER NOT NULL, mtime REAL NOT NULL, st_size INTEGER NOT NULL, st_mtime REAL NOT NULL,
  st_ino INTEGER NOT NULL, st_mode INTEGER NOT NULL) WITHOUT ROWID;
INSERT INTO files VALUES ('a.txt', 'file', 3, 420, 'h', '[["b",3]]', 7, 1000, 3, 1000.5, 42, 420);
`;

describe("LocalIndex formats", () => {
  test("a state.db of the format before ctimes opens and keeps its entries, whose fingerprints take the first ctime seen", () => {
    const file = dir.join("old.db");
    const old = new Database(file);
    old.exec(OLD_FORMAT);
    old.close();
    const index = new LocalIndex(runtime.openDatabase(file));
    const a = index.get("a.txt")!;
    expect(a.entry).toMatchObject({ path: "a.txt", version: 7, hash: "h", blocks: [["b", 3]] });
    expect(a.stat).toMatchObject({ size: 3, mtimeMs: 1000.5, ino: 42, ctimeMs: -1 });
    expect(index.namesOf(42)).toEqual(["a.txt"]);
    expect(sameStat(a.stat, { ...a.stat, ctimeMs: 5000 })).toBe(true);
    index.setStat("a.txt", { ...a.stat, ctimeMs: 5000 });
    const refreshed = index.get("a.txt")!.stat;
    expect(sameStat(refreshed, { ...a.stat, ctimeMs: 6000 })).toBe(false);
    index.close();
    // Opening again migrates nothing twice.
    new LocalIndex(runtime.openDatabase(file)).close();
  });

  test("a state.db from before extended attributes (format 2) opens, keeps its entries, marks its files' attributes unread, and stores a file's attributes", () => {
    const file = dir.join("format2.db");
    const old = new Database(file);
    old.exec(`${OLD_FORMAT}
      ALTER TABLE files ADD COLUMN st_ctime REAL NOT NULL DEFAULT -1;
      ALTER TABLE files ADD COLUMN target TEXT;
      INSERT INTO files VALUES ('l', 'symlink', 1, 511, 'h2', '[]', 8, 1000, 1, 1000, 43, 511, 1001, 'a.txt');
      PRAGMA user_version = 2;`);
    old.close();
    const index = new LocalIndex(runtime.openDatabase(file));
    // Synced before attributes were: they are read once, though the file's stat is unchanged.
    expect(index.get("a.txt")!.entry.xattrs).toBeUndefined();
    expect(index.get("a.txt")!.xattrsUnread).toBe(true);
    expect(index.get("l")!.entry).toMatchObject({ kind: "symlink", target: "a.txt", version: 8 });
    expect(index.get("l")!.xattrsUnread).toBeUndefined();
    index.setXattrsRead("a.txt");
    expect(index.get("a.txt")!.xattrsUnread).toBeUndefined();
    const stat = index.get("a.txt")!.stat;
    const xattrs = [["user.color", "cmVk"]] as const;
    index.put({ ...index.get("a.txt")!.entry, version: 9, xattrs: [xattrs[0]] }, stat);
    expect(index.get("a.txt")!.entry).toMatchObject({ version: 9, xattrs: [["user.color", "cmVk"]] });
    index.setXattrsRead("a.txt");
    expect(index.get("a.txt")!.entry.xattrs).toEqual([["user.color", "cmVk"]]);
    index.put({ path: "new.txt", kind: "file", size: 0, mode: 0o644, hash: "h3", blocks: [], version: 11, deleted: false, mtime: 0 }, stat);
    expect(index.get("new.txt")!.xattrsUnread).toBeUndefined();
    // A set emptied again is no set: the column goes back to NULL.
    index.put({ ...index.get("a.txt")!.entry, version: 10, xattrs: [] }, stat);
    expect(index.get("a.txt")!.entry.xattrs).toBeUndefined();
    index.close();
    new LocalIndex(runtime.openDatabase(file)).close();
  });

  test("a state.db written by a newer format is refused with a sentence that says so", () => {
    const file = dir.join("newer.db");
    const db = new Database(file);
    db.exec("PRAGMA user_version = 99");
    db.close();
    expect(() => new LocalIndex(runtime.openDatabase(file))).toThrow(/written by a newer dropsim/);
  });
});

describe("LocalIndex beside another process", () => {
  test("opening waits for another process's write (dropsim status reading state.db while the client starts) instead of failing 'database is locked'", async () => {
    const file = dir.join("locked-state.db");
    // A second process makes the file and holds its write lock for 400 ms, as a client creating
    // its state.db does while `dropsim status` opens it: the schema cannot be written meanwhile.
    const holder = Bun.spawn(
      ["bun", "-e", `const { Database } = require("bun:sqlite"); const db = new Database(${JSON.stringify(file)}); db.exec("PRAGMA journal_mode = WAL; BEGIN IMMEDIATE; CREATE TABLE other (a)"); console.log("locked"); Bun.sleepSync(400); db.exec("COMMIT");`],
      { stdout: "pipe", stderr: "inherit" },
    );
    const reader = holder.stdout.getReader();
    const { value } = await reader.read();
    expect(new TextDecoder().decode(value)).toContain("locked");
    const index = new LocalIndex((await loadRuntime()).openDatabase(file));
    expect(index.all()).toEqual([]);
    index.close();
    expect(await holder.exited).toBe(0);
  });
});

describe("LocalIndex fingerprints", () => {
  const stat = (ino: number) => ({ kind: "file" as const, size: 1, mtimeMs: 1000, ctimeMs: 1001, ino, mode: 0o644, nlink: 1 });
  const entry = (path: string) => ({ path, kind: "file" as const, size: 1, mode: 0o644, hash: "h", blocks: [["b", 1]] as [string, number][], version: 1, deleted: false, mtime: 1000 });

  test("fingerprintsUnder reads the entries inside a folder in path order, past a page, without its neighbours", () => {
    const index = new LocalIndex(runtime.openDatabase(dir.join("fingerprints.db")));
    const inside = Array.from({ length: 2500 }, (_, i) => `a/f${String(i).padStart(5, "0")}`);
    index.transaction(() => {
      // "a b" and "a0" sort next to "a/…" but are not inside "a"; "a" itself is not inside it.
      for (const [i, p] of ["a", "a b", "a0", ...inside].entries()) index.put(entry(p), stat(i));
    });
    const under = [...index.fingerprintsUnder("a")];
    expect(under.map((f) => f.path)).toEqual(inside);
    expect(under[0]).toEqual({ path: "a/f00000", kind: "file", mode: 0o644, stat: stat(3), xattrsUnread: false });
    expect([...index.fingerprintsUnder("")].map((f) => f.path)).toEqual(["a", "a b", ...inside, "a0"].sort());
    expect([...index.fingerprintsUnder("a/f00001")]).toEqual([]);
    index.close();
  });
});

describe("LocalIndex block sources", () => {
  test("each block of a file is found at its own offset, a block held twice at both, and a new version replaces them", () => {
    const index = new LocalIndex(runtime.openDatabase(dir.join("blocks.db")));
    const [x, y] = ["x".repeat(64), "y".repeat(64)];
    const stat = { kind: "file" as const, size: 9, mtimeMs: 1, ino: 1, mode: 0o644, ctimeMs: 1, nlink: 1 };
    const file = { path: "f.bin", kind: "file" as const, size: 9, mode: 0o644, hash: "h", blocks: [[x, 2], [y, 3], [x, 2]] as [string, number][], version: 1, deleted: false, mtime: 1 };
    index.put(file, stat);
    expect(index.findBlock(x).sort((a, b) => a.offset - b.offset)).toEqual([
      { path: "f.bin", offset: 0, size: 2 },
      { path: "f.bin", offset: 5, size: 2 },
    ]);
    expect(index.findBlock(y)).toEqual([{ path: "f.bin", offset: 2, size: 3 }]);
    index.put({ ...file, blocks: [[y, 3]], size: 3, version: 2 }, stat);
    expect(index.findBlock(x)).toEqual([]);
    expect(index.findBlock(y)).toEqual([{ path: "f.bin", offset: 0, size: 3 }]);
    index.close();
  });
});
