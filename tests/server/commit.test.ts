import { describe, expect, test } from "bun:test";
import { hashBlock, hashBlockList } from "../../src/core/block-hash.ts";
import { type BlockRef, type Entry, symlinkContent } from "../../src/core/entry.ts";
import type { XattrSet } from "../../src/core/xattrs.ts";
import { depthOf, isInside } from "../../src/core/wire-path.ts";
import type { Op, OpResult } from "../../src/protocol/messages.ts";
import { applyOps, type FindMissing } from "../../src/server/commit.ts";
import type { CommitStamp, EntryDraft, MetaStore, MetaTx } from "../../src/store/meta-store.ts";
import { MemoryMetaStore } from "../../src/store/memory-meta-store.ts";

const NOW = 1_700_000_000_000;
/** The block store's answer when `absent` are the blocks it lacks. */
function lacking(absent: ReadonlySet<string>): FindMissing {
  return async (hashes) => new Set(hashes.filter((h) => absent.has(h)));
}
const NONE = lacking(new Set());

function newStore(): MetaStore {
  return new MemoryMetaStore();
}

interface Bytes {
  hash: string;
  blocks: BlockRef[];
  size: number;
}

function bytes(...chunks: string[]): Bytes {
  const blocks = chunks.map((c): BlockRef => [hashBlock(new TextEncoder().encode(c)), c.length]);
  return { hash: hashBlockList(blocks.map(([h]) => h)), blocks, size: chunks.reduce((n, c) => n + c.length, 0) };
}

const A = bytes("hello ", "world");
const B = bytes("goodbye");

type PutOp = Extract<Op, { op: "put" }>;

function putFile(path: string, baseVersion: number, b: Bytes = A, mode = 0o644): PutOp {
  return { op: "put", path, kind: "file", baseVersion, size: b.size, mode, hash: b.hash, blocks: b.blocks, mtime: 5 };
}
function putDir(path: string, baseVersion: number): PutOp {
  return { op: "put", path, kind: "dir", baseVersion, size: 0, mode: 0o755, hash: "", blocks: [], mtime: 5 };
}
function putLink(path: string, baseVersion: number, target: string): PutOp {
  const { size, hash } = symlinkContent(target);
  return { op: "put", path, kind: "symlink", baseVersion, size, mode: 0o777, hash, mtime: 5, target };
}
const del = (path: string, baseVersion: number): Op => ({ op: "delete", path, baseVersion });
const move = (from: string, to: string, baseVersion: number): Op => ({ op: "move", from, to, baseVersion });

const STAMP = { clientId: "test-client", at: NOW };

async function apply(store: MetaStore, ops: Op[], absent: ReadonlySet<string> = new Set()): Promise<OpResult[]> {
  return (await applyOps(store, ops, lacking(absent), STAMP)).results;
}

/** Applies one op and insists that it succeeded. */
async function ok(store: MetaStore, op: Op): Promise<Entry[]> {
  const [r] = await apply(store, [op]);
  if (r?.status !== "ok") throw new Error(`expected ok for ${JSON.stringify(op)}, got ${JSON.stringify(r)}`);
  return r.entries as Entry[];
}

/** The live children of `folder`: the transaction handle is the only way to list them. */
function liveChildren(store: MetaStore, folder: string): Promise<Entry[]> {
  return store.transaction(STAMP, (tx) => tx.liveChildren(folder));
}

const paths = (entries: readonly Entry[]) => entries.map((e) => `${e.deleted ? "-" : "+"}${e.path}`);

describe("applyOps put with a splice", () => {
  const big = bytes("a", "b", "c", "d", "e");
  const edited = bytes("a", "b", "X", "d", "e");
  const splicePut = (baseVersion: number, splice: { base: number; at: number; drop: number; insert: BlockRef[] }, b = edited): PutOp => {
    const { blocks: _, ...rest } = putFile("f", baseVersion, b);
    return { ...rest, splice };
  };

  test("a splice of the current version commits the whole new list", async () => {
    const store = newStore();
    const [v1] = await ok(store, putFile("f", 0, big));
    const [v2] = await ok(store, splicePut(v1!.version, { base: v1!.version, at: 2, drop: 1, insert: [edited.blocks[2]!] }));
    expect(v2!.blocks).toEqual(edited.blocks);
    expect((await store.get("f"))!.blocks).toEqual(edited.blocks);
  });

  test("a splice of an older version is a conflict, not a merge", async () => {
    const store = newStore();
    const [v1] = await ok(store, putFile("f", 0, big));
    const [v2] = await ok(store, putFile("f", v1!.version, B));
    expect(await apply(store, [splicePut(v1!.version, { base: v1!.version, at: 2, drop: 1, insert: [edited.blocks[2]!] })])).toEqual([{ status: "conflict", current: v2! }]);
  });

  test("a splice of a path that is not a file is a conflict", async () => {
    const store = newStore();
    const [d] = await ok(store, putDir("f", 0));
    expect(await apply(store, [splicePut(d!.version, { base: d!.version, at: 0, drop: 0, insert: [] })])).toEqual([{ status: "conflict", current: d! }]);
  });

  test("a splice outside the base list, or one that does not add up to the hash, is refused", async () => {
    const store = newStore();
    const [v1] = await ok(store, putFile("f", 0, big));
    const [outside] = await apply(store, [splicePut(1, { base: v1!.version, at: 4, drop: 2, insert: [] })]);
    expect(outside).toMatchObject({ status: "error", code: "bad_message", message: expect.stringMatching(/drops blocks 4..6 of a list of 5/) });
    const [wrong] = await apply(store, [splicePut(1, { base: v1!.version, at: 1, drop: 1, insert: [edited.blocks[2]!] })]);
    expect(wrong).toMatchObject({ status: "error", code: "bad_message", message: expect.stringMatching(/hash does not match/) });
  });

  test("a put with both a list and a splice, or neither, is refused", async () => {
    const store = newStore();
    await ok(store, putFile("f", 0, big));
    const both = { ...putFile("f", 1, edited), splice: { base: 1, at: 2, drop: 1, insert: [edited.blocks[2]!] } };
    const { blocks: _, ...neither } = putFile("f", 1, edited);
    for (const op of [both, neither]) {
      expect((await apply(store, [op]))[0]).toMatchObject({ status: "error", code: "bad_message", message: expect.stringMatching(/either a block list or a splice/) });
    }
  });
});

describe("applyOps results", () => {
  // The server pushes the results' new entries as the journal rows (from, head]: they must be
  // exactly those rows, in order, or replicas would skip changes.
  test("the new entries of a batch's results are its journal rows, in order", async () => {
    const store = newStore();
    await ok(store, putFile("keep/x", 0));
    await ok(store, putFile("old", 0));
    const from = await store.head();
    const results = await apply(store, [putFile("a/b/c", 0), putFile("keep/x", 0), move("old", "n/new", 3), del("keep/x", 2), putFile("a/b/c", 6, B), putDir("e", 0)]);
    const versions = results.flatMap((r) => (r.status === "ok" ? r.entries : [])).map((e) => e.version).filter((v) => v > from);
    expect(versions).toEqual(Array.from({ length: await store.head() - from }, (_, i) => from + 1 + i));
  });
});

describe("applyOps commit", () => {
  test("applyOps reports the head before and after the batch, read in its transaction", async () => {
    const store = newStore();
    await ok(store, putFile("a/x", 0));
    const commit = await applyOps(store, [putFile("a/y", 0), putFile("a/x", 0)], NONE, STAMP);
    expect([commit.from, commit.head]).toEqual([2, 3]);
    const unchanged = await applyOps(store, [putFile("a/y", 0)], NONE, STAMP);
    expect([unchanged.from, unchanged.head]).toEqual([3, 3]);
  });

  test("applyOps tells what each file put replaced, as it was before the batch", async () => {
    const store = newStore();
    const [v1] = await ok(store, putFile("f", 0));
    const commit = await applyOps(store, [putFile("f", v1!.version, B), putFile("f", v1!.version + 1, A), putFile("new", 0), putDir("d", 0)], NONE, STAMP);
    expect(commit.results.map((r) => r.status)).toEqual(["ok", "ok", "ok", "ok"]);
    expect([...commit.replaced]).toEqual([
      ["f", v1!],
      ["new", undefined],
    ]);
  });
});

describe("applyOps put", () => {
  test("applyOps creates a file and its missing parent folders", async () => {
    const store = newStore();
    const entries = await ok(store, putFile("a/b/c.txt", 0));
    expect(paths(entries)).toEqual(["+a", "+a/b", "+a/b/c.txt"]);
    expect(entries.map((e) => e.version)).toEqual([1, 2, 3]);
    expect(entries[0]).toMatchObject({ kind: "dir", mode: 0o755, hash: "", blocks: [], deleted: false, mtime: NOW });
    expect(entries[2]).toMatchObject({ kind: "file", size: A.size, hash: A.hash, blocks: A.blocks, mode: 0o644, mtime: 5 });
    expect(await store.get("a/b")).toMatchObject({ kind: "dir", version: 2, deleted: false });
    expect(await store.get("a/b/c.txt")).toEqual(entries[2]!);
    expect(await store.head()).toBe(3);
  });

  test("applyOps creates only the parents that are missing", async () => {
    const store = newStore();
    await ok(store, putFile("a/x", 0));
    expect(paths(await ok(store, putFile("a/b/y", 0)))).toEqual(["+a/b", "+a/b/y"]);
  });

  test("applyOps recreates a deleted parent folder", async () => {
    const store = newStore();
    const [dir] = await ok(store, putDir("a", 0));
    await ok(store, del("a", dir!.version));
    expect(paths(await ok(store, putFile("a/x", 0)))).toEqual(["+a", "+a/x"]);
    expect((await store.get("a"))!.deleted).toBe(false);
  });

  test("applyOps updates a file made on its current version", async () => {
    const store = newStore();
    const [v1] = await ok(store, putFile("f", 0));
    const [v2] = await ok(store, putFile("f", v1!.version, B));
    expect(v2!.version).toBeGreaterThan(v1!.version);
    expect(await store.get("f")).toMatchObject({ hash: B.hash, version: v2!.version });
  });

  test("applyOps answers a stale baseVersion with conflict and the current entry", async () => {
    const store = newStore();
    const [v1] = await ok(store, putFile("f", 0));
    const [v2] = await ok(store, putFile("f", v1!.version, B));
    const head = await store.head();
    const [r] = await apply(store, [putFile("f", v1!.version, bytes("third"))]);
    expect(r).toEqual({ status: "conflict", current: v2! });
    expect(await store.head()).toBe(head);
    expect((await store.get("f"))!.hash).toBe(B.hash);
  });

  test("applyOps answers a create over an existing file with conflict", async () => {
    const store = newStore();
    const [v1] = await ok(store, putFile("f", 0));
    expect(await apply(store, [putFile("f", 0, B)])).toEqual([{ status: "conflict", current: v1! }]);
  });

  test("applyOps accepts identical content with a stale base without a new journal row", async () => {
    const store = newStore();
    const [v1] = await ok(store, putFile("f", 0));
    const head = await store.head();
    expect(await apply(store, [putFile("f", 0)])).toEqual([{ status: "ok", entries: [v1!] }]);
    expect(await apply(store, [putFile("f", 999)])).toEqual([{ status: "ok", entries: [v1!] }]);
    expect(await store.head()).toBe(head);
  });

  test("applyOps treats a non-executable mode change as identical content", async () => {
    const store = newStore();
    const [v1] = await ok(store, putFile("f", 0, A, 0o644));
    expect(await apply(store, [putFile("f", 0, A, 0o600)])).toEqual([{ status: "ok", entries: [v1!] }]);
  });

  test("applyOps records an executable bit change as a new version", async () => {
    const store = newStore();
    const [v1] = await ok(store, putFile("f", 0, A, 0o644));
    const [v2] = await ok(store, putFile("f", v1!.version, A, 0o700));
    expect(v2!.mode).toBe(0o755);
    expect(v2!.version).toBeGreaterThan(v1!.version);
  });

  test("applyOps keeps only the executable bit of a file mode and stores folders as 0755", async () => {
    const store = newStore();
    expect((await ok(store, putFile("plain", 0, A, 0o600)))[0]!.mode).toBe(0o644);
    expect((await ok(store, putFile("exec", 0, A, 0o4711)))[0]!.mode).toBe(0o755);
    expect((await ok(store, { ...putDir("d", 0), mode: 0o700 }))[0]!.mode).toBe(0o755);
  });

  test("applyOps stores a folder without hash or blocks", async () => {
    const store = newStore();
    const [d] = await ok(store, { ...putDir("d", 0), hash: A.hash, blocks: A.blocks });
    expect(d).toMatchObject({ kind: "dir", hash: "", blocks: [] });
  });

  test("applyOps recreates a deleted file from base 0 or from the tombstone's version", async () => {
    const store = newStore();
    const [v1] = await ok(store, putFile("f", 0));
    const [t] = await ok(store, del("f", v1!.version));
    await ok(store, putFile("f", 0, B));
    const [v3] = await ok(store, del("f", (await store.get("f"))!.version));
    await ok(store, putFile("f", v3!.version, A));
    expect(await store.get("f")).toMatchObject({ deleted: false, hash: A.hash });
    // Any other version is stale, and the conflict carries the tombstone.
    const [t2] = await ok(store, del("f", (await store.get("f"))!.version));
    expect(await apply(store, [putFile("f", t!.version, B)])).toEqual([{ status: "conflict", current: t2! }]);
  });

  test("applyOps refuses a file over a folder that has live children", async () => {
    const store = newStore();
    await ok(store, putFile("d/x", 0));
    const d = (await store.get("d"))!;
    expect(await apply(store, [putFile("d", d.version)])).toEqual([{ status: "conflict", current: d }]);
  });

  test("applyOps replaces an empty folder by a file", async () => {
    const store = newStore();
    const [d] = await ok(store, putDir("d", 0));
    const [f] = await ok(store, putFile("d", d!.version));
    expect(f).toMatchObject({ kind: "file", path: "d", hash: A.hash });
  });

  test("applyOps refuses a path under a file with parent_not_dir", async () => {
    const store = newStore();
    await ok(store, putFile("f", 0));
    const head = await store.head();
    const [r] = await apply(store, [putFile("f/x", 0)]);
    expect(r).toMatchObject({ status: "error", code: "parent_not_dir" });
    expect((r as { message: string }).message).toContain('"f" is a file');
    const [deep] = await apply(store, [putFile("f/y/z", 0)]);
    expect(deep).toMatchObject({ status: "error", code: "parent_not_dir" });
    expect(await store.head()).toBe(head);
    expect(await store.get("f/y")).toBeUndefined();
  });

  test("applyOps refuses a file whose blocks were never uploaded with missing_blocks", async () => {
    const store = newStore();
    const c = bytes("one", "two", "three");
    const [r] = await apply(store, [putFile("a/f", 0, c)], new Set([c.blocks[0]![0], c.blocks[2]![0]]));
    expect(r).toMatchObject({ status: "error", code: "missing_blocks" });
    expect((r as { message: string }).message).toContain("2 block(s)");
    expect(await store.head()).toBe(0);
    expect(await store.get("a")).toBeUndefined();
  });

  test("applyOps asks which blocks are missing inside its transaction, once, for the blocks its file puts name", async () => {
    const store = newStore();
    const [v1] = await ok(store, putFile("f", 0, bytes("a", "b")));
    const asked: string[][] = [];
    let inTransaction = false;
    const watched: MetaStore = Object.create(store, {
      transaction: {
        value: <T>(stamp: CommitStamp, fn: (tx: MetaTx) => Promise<T>) =>
          store.transaction(stamp, async (tx) => {
            inTransaction = true;
            try {
              return await fn(tx);
            } finally {
              inTransaction = false;
            }
          }),
      },
    });
    const findMissing: FindMissing = async (hashes) => {
      expect(inTransaction).toBe(true);
      asked.push([...hashes]);
      return new Set();
    };
    const c = bytes("a", "c");
    const splice = { base: v1!.version, at: 1, drop: 1, insert: [c.blocks[1]!] };
    const ops: Op[] = [{ ...putFile("f", v1!.version, c), blocks: undefined, splice }, putFile("g", 0, B), putFile("h", 0, B), putDir("d", 0), del("x", 1)];
    const { results } = await applyOps(watched, ops, findMissing, STAMP);
    expect(results.map((r) => r.status)).toEqual(["ok", "ok", "ok", "ok", "ok"]);
    expect(asked).toEqual([[c.blocks[1]![0], B.blocks[0]![0]]]);
  });

  test("applyOps ignores missing blocks that the file does not use", async () => {
    const store = newStore();
    await ok(store, { ...putFile("f", 0) });
    expect((await apply(store, [putFile("g", 0, B)], new Set([A.blocks[0]![0]])))[0]!.status).toBe("ok");
  });

  test("applyOps refuses a file whose blocks do not add up to its size", async () => {
    const store = newStore();
    const [r] = await apply(store, [{ ...putFile("f", 0), size: A.size + 1 }]);
    expect(r).toMatchObject({ status: "error", code: "bad_message" });
    expect(await store.head()).toBe(0);
  });

  test("applyOps accepts an empty file", async () => {
    const store = newStore();
    const empty = bytes();
    expect((await ok(store, putFile("empty", 0, empty)))[0]).toMatchObject({ size: 0, blocks: [], hash: empty.hash });
  });
});

describe("applyOps delete", () => {
  test("applyOps deletes a file made on its current version", async () => {
    const store = newStore();
    const [f] = (await ok(store, putFile("a/f", 0))).slice(-1);
    const [t] = await ok(store, del("a/f", f!.version));
    expect(t).toMatchObject({ path: "a/f", kind: "file", deleted: true, size: 0, hash: "", blocks: [], mtime: NOW });
    expect(await store.get("a/f")).toEqual(t!);
    expect(await liveChildren(store, "a")).toEqual([]);
    expect((await store.get("a"))!.deleted).toBe(false);
  });

  test("applyOps answers a stale delete with conflict", async () => {
    const store = newStore();
    const [v1] = await ok(store, putFile("f", 0));
    const [v2] = await ok(store, putFile("f", v1!.version, B));
    expect(await apply(store, [del("f", v1!.version)])).toEqual([{ status: "conflict", current: v2! }]);
    expect((await store.get("f"))!.deleted).toBe(false);
  });

  test("applyOps treats deleting something already gone as done, without a journal row", async () => {
    const store = newStore();
    const [v1] = await ok(store, putFile("f", 0));
    await ok(store, del("f", v1!.version));
    const head = await store.head();
    expect(await apply(store, [del("f", v1!.version), del("never", 0)])).toEqual([
      { status: "ok", entries: [] },
      { status: "ok", entries: [] },
    ]);
    expect(await store.head()).toBe(head);
  });

  test("applyOps refuses to delete a folder with live children", async () => {
    const store = newStore();
    await ok(store, putFile("d/x", 0));
    const d = (await store.get("d"))!;
    expect(await apply(store, [del("d", d.version)])).toEqual([{ status: "conflict", current: d }]);
    expect((await store.get("d/x"))!.deleted).toBe(false);
  });

  test("applyOps deletes children then their folder in one batch", async () => {
    const store = newStore();
    await ok(store, putFile("d/e/x", 0));
    await ok(store, putFile("d/y", 0));
    const v = async (p: string) => (await store.get(p))!.version;
    const results = await apply(store, [del("d/e/x", await v("d/e/x")), del("d/y", await v("d/y")), del("d/e", await v("d/e")), del("d", await v("d"))]);
    expect(results.map((r) => r.status)).toEqual(["ok", "ok", "ok", "ok"]);
    for (const p of ["d", "d/e", "d/e/x", "d/y"]) expect((await store.get(p))!.deleted).toBe(true);
  });

  test("applyOps answers each op of a batch in order, accepting some and refusing others", async () => {
    const store = newStore();
    await ok(store, putFile("d/x", 0));
    const [d, x] = [(await store.get("d"))!, (await store.get("d/x"))!];
    const results = await apply(store, [del("d", d.version), putFile("f", 0), del("d/x", x.version + 100)]);
    expect(results.map((r) => r.status)).toEqual(["conflict", "ok", "conflict"]);
  });
});

describe("applyOps move", () => {
  test("applyOps moves a file, creating parents and leaving a tombstone", async () => {
    const store = newStore();
    const [f] = (await ok(store, putFile("a/f", 0))).slice(-1);
    const entries = await ok(store, move("a/f", "b/c/g", f!.version));
    expect(paths(entries)).toEqual(["+b", "+b/c", "+b/c/g", "-a/f"]);
    expect(entries[2]).toMatchObject({ path: "b/c/g", movedFrom: "a/f", kind: "file", hash: A.hash, blocks: A.blocks, size: A.size, deleted: false });
    expect(await store.get("b/c/g")).toMatchObject({ movedFrom: "a/f", hash: A.hash });
    expect((await store.get("a/f"))!.deleted).toBe(true);
    // Versions grow along the batch.
    const versions = entries.map((e) => e.version);
    expect([...versions].sort((x, y) => x - y)).toEqual(versions);
  });

  test("applyOps moves a folder with its children: new paths parents first, tombstones children first", async () => {
    const store = newStore();
    for (const p of ["d/x", "d/e/y", "d/e/f/z", "d2/keep"]) await ok(store, putFile(p, 0));
    const d = (await store.get("d"))!;
    const entries = await ok(store, move("d", "n", d.version));
    const created = entries.filter((e) => !e.deleted);
    const gone = entries.filter((e) => e.deleted);
    expect(created.map((e) => e.path).sort()).toEqual(["n", "n/e", "n/e/f", "n/e/f/z", "n/e/y", "n/x"]);
    expect(gone.map((e) => e.path).sort()).toEqual(["d", "d/e", "d/e/f", "d/e/f/z", "d/e/y", "d/x"]);
    // Every new path comes before every tombstone, parents before children...
    expect(entries.findIndex((e) => e.deleted)).toBe(created.length);
    for (const e of created) expect(e.movedFrom).toBe(`d${e.path.slice(1)}`);
    for (let i = 0; i < created.length; i++)
      for (let j = i + 1; j < created.length; j++) expect(isInside(created[i]!.path, created[j]!.path)).toBe(false);
    // ...and tombstones go children before parents.
    const depths = gone.map((e) => depthOf(e.path));
    expect([...depths].sort((a, b) => b - a)).toEqual(depths);
    expect(gone.at(-1)!.path).toBe("d");
    // The sibling whose name shares a prefix is untouched.
    expect((await store.get("d2/keep"))!.deleted).toBe(false);
    expect(await liveChildren(store, "d")).toEqual([]);
    expect((await liveChildren(store, "n")).map((e) => e.path)).toEqual(["n/e", "n/e/f", "n/e/f/z", "n/e/y", "n/x"]);
    expect(await store.get("n/e/f/z")).toMatchObject({ hash: A.hash, blocks: A.blocks });
  });

  test("applyOps refuses to move a folder into itself", async () => {
    const store = newStore();
    await ok(store, putFile("d/x", 0));
    const d = (await store.get("d"))!;
    const head = await store.head();
    for (const to of ["d/sub", "d/x/deeper", "d"]) {
      const [r] = await apply(store, [move("d", to, d.version)]);
      expect(r).toMatchObject({ status: "error", code: "bad_path" });
      expect((r as { message: string }).message).toContain("into itself");
    }
    expect(await store.head()).toBe(head);
  });

  test("applyOps moves a folder to a sibling whose name starts with the folder's", async () => {
    const store = newStore();
    await ok(store, putFile("d/x", 0));
    expect(paths(await ok(store, move("d", "d2", (await store.get("d"))!.version)))).toEqual(["+d2", "+d2/x", "-d/x", "-d"]);
  });

  test("applyOps answers a stale move with conflict", async () => {
    const store = newStore();
    const [v1] = await ok(store, putFile("f", 0));
    const [v2] = await ok(store, putFile("f", v1!.version, B));
    expect(await apply(store, [move("f", "g", v1!.version)])).toEqual([{ status: "conflict", current: v2! }]);
    expect(await store.get("g")).toBeUndefined();
  });

  test("applyOps answers a move of a missing path with conflict", async () => {
    const store = newStore();
    expect(await apply(store, [move("nope", "g", 1)])).toEqual([{ status: "conflict", current: null }]);
  });

  test("applyOps refuses to move onto an existing path", async () => {
    const store = newStore();
    const [f] = await ok(store, putFile("f", 0));
    const [g] = await ok(store, putFile("g", 0, B));
    expect(await apply(store, [move("f", "g", f!.version)])).toEqual([{ status: "conflict", current: g! }]);
    expect((await store.get("f"))!.deleted).toBe(false);
  });

  test("applyOps refuses to move under a file with parent_not_dir", async () => {
    const store = newStore();
    const [f] = await ok(store, putFile("f", 0));
    await ok(store, putFile("g", 0, B));
    expect((await apply(store, [move("f", "g/f", f!.version)]))[0]).toMatchObject({ status: "error", code: "parent_not_dir" });
  });
});

describe("applyOps journal", () => {
  test("changesSince returns the current entry of each changed path, oldest first", async () => {
    const store = newStore();
    await ok(store, putFile("a/f", 0)); // 1 a, 2 a/f
    await ok(store, putFile("g", 0)); // 3
    await ok(store, putFile("a/f", 2, B)); // 4
    await ok(store, del("g", 3)); // 5
    expect(await store.head()).toBe(5);
    const all = await store.changesSince(0, 100);
    expect(all.map((e) => [e.path, e.version, e.deleted])).toEqual([
      ["a", 1, false],
      ["a/f", 4, false],
      ["g", 5, true],
    ]);
    expect((await store.changesSince(1, 100)).map((e) => e.path)).toEqual(["a/f", "g"]);
    expect((await store.changesSince(4, 100)).map((e) => e.path)).toEqual(["g"]);
    expect(await store.changesSince(5, 100)).toEqual([]);
    expect((await store.changesSince(0, 2)).map((e) => e.path)).toEqual(["a", "a/f"]);
  });

  test("changesSince keeps movedFrom on moved entries", async () => {
    const store = newStore();
    await ok(store, putFile("f", 0));
    await ok(store, move("f", "g", 1));
    expect((await store.changesSince(1, 10)).map((e) => [e.path, e.movedFrom, e.deleted])).toEqual([
      ["g", "f", false],
      ["f", undefined, true],
    ]);
  });

  test("head starts at 0 and grows by one per journal row", async () => {
    const store = newStore();
    expect(await store.head()).toBe(0);
    await ok(store, putFile("a/b/c", 0));
    expect(await store.head()).toBe(3);
  });

  test("applyOps rolls back the whole batch when the store fails part-way", async () => {
    const store = newStore();
    let appends = 0;
    const failing: MetaStore = Object.create(store, {
      transaction: {
        value: <T>(stamp: CommitStamp, fn: (tx: MetaTx) => Promise<T>) =>
          store.transaction(stamp, (tx) =>
            fn({
              head: () => tx.head(),
              get: (path) => tx.get(path),
              liveChildren: (folder) => tx.liveChildren(folder),
              liveBytes: () => tx.liveBytes(),
              append: (d: EntryDraft) => {
                if (++appends === 3) throw new Error("disk on fire");
                return tx.append(d);
              },
              versions: () => tx.versions(),
              drop: (seqs) => tx.drop(seqs),
              referencedBlocks: () => tx.referencedBlocks(),
            }),
          ),
      },
    });
    await expect(applyOps(failing, [putFile("x", 0), putFile("y/z", 0)], NONE, STAMP)).rejects.toThrow("disk on fire");
    expect(await store.head()).toBe(0);
    expect(await store.get("x")).toBeUndefined();
    expect((await applyOps(store, [putFile("x", 0)], NONE, STAMP)).results[0]!.status).toBe("ok");
  });
});

describe("applyOps symlinks", () => {
  test("applyOps stores a symlink's target verbatim, with no blocks, and serves it back", async () => {
    const store = newStore();
    for (const [i, target] of ["../../etc/passwd", "/etc", "dangling/nowhere", "sp ace/é"].entries()) {
      const [e] = await ok(store, putLink(`l${i}`, 0, target));
      expect(e).toMatchObject({ kind: "symlink", target, blocks: [], mode: 0o777, size: new TextEncoder().encode(target).length });
      expect(await store.get(e!.path)).toEqual(e!);
      expect(await store.changesSince(e!.version - 1, 10)).toEqual([e!]);
    }
  });

  test("applyOps records a new target as a new version, and the same target twice as agreement", async () => {
    const store = newStore();
    const [v1] = await ok(store, putLink("l", 0, "a"));
    expect(await ok(store, putLink("l", 0, "a"))).toEqual([v1!]);
    const [v2] = await ok(store, putLink("l", v1!.version, "b"));
    expect(v2).toMatchObject({ target: "b", version: v1!.version + 1 });
    expect(await apply(store, [putLink("l", v1!.version, "c")])).toEqual([{ status: "conflict", current: v2! }]);
  });

  test("applyOps replaces a file by a symlink and a symlink by a file", async () => {
    const store = newStore();
    const [f] = await ok(store, putFile("x", 0));
    const [l] = await ok(store, putLink("x", f!.version, "y"));
    expect(l).toMatchObject({ kind: "symlink", target: "y", hash: symlinkContent("y").hash });
    const [f2] = await ok(store, putFile("x", l!.version));
    expect(f2).toMatchObject({ kind: "file", hash: A.hash });
    expect(f2!.target).toBeUndefined();
  });

  test("applyOps refuses a symlink whose size or hash is not its target's", async () => {
    const store = newStore();
    const [size] = await apply(store, [{ ...putLink("l", 0, "abc"), size: 2 }]);
    expect(size).toMatchObject({ status: "error", code: "bad_message", message: expect.stringMatching(/size or hash do not match its target/) });
    const [hash] = await apply(store, [{ ...putLink("l", 0, "abc"), hash: A.hash }]);
    expect(hash).toMatchObject({ status: "error", code: "bad_message" });
    expect(await store.head()).toBe(0);
  });

  test("applyOps refuses a path under a symlink with parent_not_dir: a link is never a folder", async () => {
    const store = newStore();
    await ok(store, putLink("link", 0, "/etc"));
    expect((await apply(store, [putFile("link/passwd", 0)]))[0]).toMatchObject({ status: "error", code: "parent_not_dir", message: expect.stringMatching(/"link" is a symlink/) });
    expect((await apply(store, [putDir("link/sub", 0)]))[0]).toMatchObject({ status: "error", code: "parent_not_dir" });
  });

  test("applyOps deletes a symlink with a tombstone that carries no target, and moves one with its target", async () => {
    const store = newStore();
    const [l] = await ok(store, putLink("l", 0, "t"));
    const [m] = await ok(store, move("l", "m", l!.version));
    expect(m).toMatchObject({ path: "m", kind: "symlink", target: "t", movedFrom: "l" });
    const [gone] = await ok(store, del("m", m!.version));
    expect(gone).toMatchObject({ kind: "symlink", deleted: true, blocks: [] });
    expect(gone!.target).toBeUndefined();
    expect((await store.get("m"))!.target).toBeUndefined();
  });
});

describe("applyOps extended attributes", () => {
  const red: XattrSet = [["user.color", "cmVk"]];
  const blue: XattrSet = [["user.color", "Ymx1ZQ=="]];
  const tagged = (path: string, baseVersion: number, xattrs: XattrSet | undefined): PutOp => ({ ...putFile(path, baseVersion), ...(xattrs ? { xattrs } : {}) });

  test("applyOps stores a file's attributes and serves them back", async () => {
    const store = newStore();
    const [e] = await ok(store, tagged("f", 0, red));
    expect(e).toMatchObject({ kind: "file", hash: A.hash, xattrs: red });
    expect(await store.get("f")).toEqual(e!);
    expect(await store.changesSince(0, 10)).toEqual([e!]);
  });

  test("applyOps takes an attribute-only change as a new version with the same blocks, and the same set twice as agreement", async () => {
    const store = newStore();
    const [v1] = await ok(store, tagged("f", 0, red));
    expect(await ok(store, tagged("f", 0, red))).toEqual([v1!]);
    const [v2] = await ok(store, tagged("f", v1!.version, blue));
    expect(v2).toMatchObject({ version: v1!.version + 1, hash: v1!.hash, blocks: v1!.blocks, xattrs: blue });
    const [v3] = await ok(store, tagged("f", v2!.version, undefined));
    expect(v3!.xattrs).toBeUndefined();
    expect((await store.get("f"))!.xattrs).toBeUndefined();
    // Someone else's set on the old version is a conflict, as any stale edit.
    expect(await apply(store, [tagged("f", v2!.version, red)])).toEqual([{ status: "conflict", current: v3! }]);
  });

  test("applyOps moves a file with its attributes, and deletes it with a tombstone that carries none", async () => {
    const store = newStore();
    const [f] = await ok(store, tagged("f", 0, red));
    const [m] = await ok(store, move("f", "g", f!.version));
    expect(m).toMatchObject({ path: "g", movedFrom: "f", xattrs: red });
    const [gone] = await ok(store, del("g", m!.version));
    expect(gone!.xattrs).toBeUndefined();
    expect((await store.get("g"))!.xattrs).toBeUndefined();
  });
});

describe("quota", () => {
  const quotaApply = async (store: MetaStore, ops: Op[], quota: number) => (await applyOps(store, ops, NONE, STAMP, quota)).results;

  test("a put past the quota is refused quota_exceeded on its own; the others of the batch commit", async () => {
    const store = newStore();
    const results = await quotaApply(store, [putFile("a", 0, A), putFile("b", 0, B), putFile("c", 0, A)], A.size + B.size);
    expect(results.map((r) => (r.status === "error" ? r.code : r.status))).toEqual(["ok", "ok", "quota_exceeded"]);
    expect(await store.get("c")).toBeUndefined();
    expect(await store.liveBytes()).toBe(A.size + B.size);
  });

  test("over its quota a share can still shrink: deletes, moves, smaller files and folders go through", async () => {
    const store = newStore();
    const [a] = await ok(store, putFile("a", 0, A));
    await ok(store, putFile("b", 0, B));
    const results = await quotaApply(store, [move("a", "moved", a!.version), putDir("d", 0), putFile("b", 2, bytes("g")), putFile("c", 0, bytes("x"))], 1);
    expect(results.map((r) => (r.status === "error" ? r.code : r.status))).toEqual(["ok", "ok", "ok", "quota_exceeded"]);
    expect(results[3]).toMatchObject({ message: 'Cannot commit "c": the share would hold 13 bytes, over its quota of 1 bytes' });
  });
});
