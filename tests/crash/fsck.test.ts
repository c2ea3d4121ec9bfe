import { Database } from "bun:sqlite";
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { DEFAULT_SHARE, metaFile } from "../../src/store/data-dir.ts";
import { Cluster } from "../helpers/cluster.ts";
import { dumpLogsOnFailure } from "../helpers/spawn-dropsim.ts";
import { type TempDir, tempDir } from "../helpers/temp-dir.ts";
import { writeFile, writeRandomFile } from "../helpers/tree.ts";
import { runFsck } from "./_lib.ts";

// `dropsim fsck` must pass on a healthy data dir and name each kind of damage in plain words.
// One real cluster fills a data dir; each case damages its own copy.

let scratch: TempDir;
let pristine: string;

beforeAll(async () => {
  scratch = await tempDir("dropsim-fsck-");
  await using cluster = await Cluster.start({ clients: ["A"], warmUp: false });
  await cluster.waitFor("A to create .dropsim/", async () => (await fs.exists(cluster.path("A", ".dropsim"))) || "not yet");
  await writeRandomFile(cluster.path("A"), "big.bin", 2_000_000);
  await writeFile(cluster.path("A"), "docs/note.txt", "hello\n");
  await writeFile(cluster.path("A"), "docs/deep/other.txt", "other\n");
  await fs.symlink("docs/note.txt", cluster.path("A", "link"));
  await cluster.client("A").waitForLine(/Uploaded put "docs\/deep\/other.txt"/);
  await cluster.client("A").waitForLine(/Uploaded put "link"/);
  await cluster.client("A").waitForLine(/Uploaded put "big.bin"/);
  await cluster.client("A").waitForLine(/Uploaded put "docs\/note.txt"/);
  await cluster.server.stop();
  pristine = scratch.join("pristine");
  await fs.cp(cluster.server.dataDir, pristine, { recursive: true });
}, 60_000);

afterAll(async () => {
  await scratch?.remove();
});

async function copyOfData(name: string): Promise<string> {
  const dir = scratch.join(name);
  await fs.cp(pristine, dir, { recursive: true });
  return dir;
}

function withDb<T>(file: string, fn: (db: Database) => T): T {
  const db = new Database(file);
  try {
    return fn(db);
  } finally {
    db.close();
  }
}

function meta(dir: string): string {
  return metaFile(dir, DEFAULT_SHARE);
}
function index(dir: string): string {
  return path.join(dir, "shares", "default", "blocks", "index.db");
}

/** The block (hash, pack, offset, size) of the first block of "big.bin". */
function firstBlockOfBig(dir: string): { hash: string; pack: number; offset: number; size: number } {
  const blocks = withDb(meta(dir), (db) => {
    const row = db.query("SELECT j.blocks FROM entries e JOIN journal j ON j.seq = e.seq WHERE e.path = 'big.bin'").get() as { blocks: string };
    return JSON.parse(row.blocks) as [string, number][];
  });
  return withDb(index(dir), (db) => db.query("SELECT hash, pack, offset, size FROM blocks WHERE hash = ?").get(blocks[0]![0]) as never);
}

async function expectProblem(dir: string, pattern: RegExp): Promise<void> {
  const r = await runFsck(dir);
  expect(r.code).not.toBe(0);
  expect(r.output).toMatch(pattern);
}

describe("dropsim fsck", () => {
  test(
    "passes on a healthy data dir and says what it checked",
    dumpLogsOnFailure(async () => {
      const r = await runFsck(await copyOfData("healthy"));
      // The symlink is the sixth entry: checked against its target, no blocks.
      expect(r.output).toMatch(/consistent: 6 entries \(3 files, 2 folders\), \d+ blocks, 2000012 bytes/);
      expect(r.code).toBe(0);
    }),
  );

  test("fails on a folder that is not a data dir", async () => {
    await fs.mkdir(scratch.join("empty"));
    await expectProblem(scratch.join("empty"), /no meta\.db/);
  });

  test("finds a flipped byte in a pack file", async () => {
    const dir = await copyOfData("flipped");
    const b = firstBlockOfBig(dir);
    const packFile = path.join(dir, "shares", "default", "blocks", "packs", `${String(b.pack).padStart(6, "0")}.pack`);
    const bytes = await fs.readFile(packFile);
    bytes[b.offset + 10] = bytes[b.offset + 10]! ^ 0xff;
    await fs.writeFile(packFile, bytes);
    await expectProblem(dir, new RegExp(`File "big\\.bin" .*bytes of block ${b.hash.slice(0, 12)}… do not hash to its name`));
  });

  test("finds a block missing from the block index", async () => {
    const dir = await copyOfData("unindexed");
    const b = firstBlockOfBig(dir);
    withDb(index(dir), (db) => db.run("DELETE FROM blocks WHERE hash = ?", [b.hash]));
    await expectProblem(dir, new RegExp(`File "big\\.bin" .*block ${b.hash.slice(0, 12)}… is not in the block store`));
  });

  test("finds a pack file cut short", async () => {
    const dir = await copyOfData("truncated");
    const packFile = path.join(dir, "shares", "default", "blocks", "packs", "000001.pack");
    const st = await fs.stat(packFile);
    await fs.truncate(packFile, st.size - 1000);
    await expectProblem(dir, /which has only \d+/);
  });

  test("finds an entry pointing at another path's journal row", async () => {
    const dir = await copyOfData("crossed");
    withDb(meta(dir), (db) => {
      const other = db.query("SELECT seq FROM entries WHERE path = 'docs/note.txt'").get() as { seq: number };
      db.run("UPDATE entries SET seq = ? WHERE path = 'big.bin'", [other.seq]);
    });
    await expectProblem(dir, /Entry "big\.bin" points at journal row \d+, which is about "docs\/note\.txt"/);
  });

  test("finds a symlink whose recorded hash is not its target's", async () => {
    const dir = await copyOfData("bad-link");
    withDb(meta(dir), (db) => db.run("UPDATE journal SET target = 'elsewhere' WHERE seq = (SELECT seq FROM entries WHERE path = 'link')"));
    await expectProblem(dir, /Symlink "link" \(version \d+\) does not match its target/);
  });

  test("finds a file whose size does not match its blocks", async () => {
    const dir = await copyOfData("resized");
    withDb(meta(dir), (db) => db.run("UPDATE journal SET size = size + 1 WHERE seq = (SELECT seq FROM entries WHERE path = 'big.bin')"));
    await expectProblem(dir, /File "big\.bin" \(version \d+\) is 2000001 bytes, but its blocks add up to 2000000/);
  });

  test("finds a journalled path without an entry, and an entry that is not the newest row", async () => {
    const dir = await copyOfData("unpointed");
    withDb(meta(dir), (db) => {
      db.run("DELETE FROM entries WHERE path = 'docs/note.txt'");
      db.run(
        "INSERT INTO journal (path, kind, size, mode, hash, blocks, deleted, mtime) SELECT path, kind, size, mode, hash, blocks, deleted, mtime FROM journal WHERE seq = (SELECT seq FROM entries WHERE path = 'big.bin')",
      );
    });
    const r = await runFsck(dir);
    expect(r.code).not.toBe(0);
    expect(r.output).toMatch(/Journal row \d+ is about "docs\/note\.txt", which has no entry/);
    expect(r.output).toMatch(/Entry "big\.bin" points at journal row \d+, but the newest row for that path is \d+/);
  });

  test("finds a live file inside a deleted folder", async () => {
    const dir = await copyOfData("orphan");
    withDb(meta(dir), (db) => {
      const { seq } = db
        .query("INSERT INTO journal (path, kind, size, mode, hash, blocks, deleted, mtime) VALUES ('docs/deep', 'dir', 0, 493, '', '[]', 1, 0) RETURNING seq")
        .get() as { seq: number };
      db.run("UPDATE entries SET seq = ? WHERE path = 'docs/deep'", [seq]);
    });
    await expectProblem(dir, /Entry "docs\/deep\/other\.txt" is live but its folder "docs\/deep" is not/);
  });
});
