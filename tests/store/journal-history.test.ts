import { describe, expect, test } from "bun:test";
import type { MetaStore } from "../../src/store/meta-store.ts";
import type { StoreSet } from "../../src/store/open.ts";
import { appendAll, backends, dir, file, gone, openEach, STAMP } from "./backends.ts";

// Issue 12's reads of the journal (history, treeAt, seqAt, trash, clients) and retention's
// writes (versions, drop, referencedBlocks), on every backend.

const at = (ms: number) => ({ clientId: "c", at: STAMP.at + ms });

/** Folders whose names sort around "a/" ("a b" and "a0" just before and after it) test every scope. */
async function neighbours(meta: MetaStore): Promise<void> {
  await appendAll(meta, [dir("a"), file("a/x"), dir("a/b"), file("a/b/y"), file("a b"), file("a0"), file("z")], at(0));
}

const paths = (es: { path: string }[]) => es.map((e) => e.path);

describe.each(backends)("journal history: $name", (backend) => {
  let stores: StoreSet;
  let meta: MetaStore;
  openEach(backend, (s) => {
    stores = s;
    meta = s.share("default")!.meta;
  });

  test("history of a path lists its rows newest first, in pages", async () => {
    await appendAll(meta, [file("f", "1"), file("g")], at(0));
    await appendAll(meta, [file("f", "2")], at(10));
    await appendAll(meta, [gone(file("f"))], at(20));
    const all = await meta.history({ path: "f", below: false, limit: 10 });
    expect(all.map((r) => [r.version, r.deleted, r.committedAt])).toEqual([
      [4, true, STAMP.at + 20],
      [3, false, STAMP.at + 10],
      [1, false, STAMP.at],
    ]);
    expect((await meta.history({ path: "f", below: false, limit: 2 })).map((r) => r.version)).toEqual([4, 3]);
    expect((await meta.history({ path: "f", below: false, before: 3, limit: 2 })).map((r) => r.version)).toEqual([1]);
    expect(await meta.history({ path: "nothing", below: false, limit: 10 })).toEqual([]);
  });

  test("history below a folder holds it and its insides, not its neighbours; below the share, everything", async () => {
    await neighbours(meta);
    expect(paths(await meta.history({ path: "a", below: true, limit: 10 }))).toEqual(["a/b/y", "a/b", "a/x", "a"]);
    expect(paths(await meta.history({ path: "a/b", below: true, limit: 10 }))).toEqual(["a/b/y", "a/b"]);
    expect(paths(await meta.history({ path: "a", below: false, limit: 10 }))).toEqual(["a"]);
    expect((await meta.history({ path: "", below: true, limit: 100 })).length).toBe(7);
    expect(paths(await meta.history({ path: "", below: true, before: 3, limit: 100 }))).toEqual(["a/x", "a"]);
  });

  test("treeAt gives the live tree right after a row, at or inside a path, in path order", async () => {
    await neighbours(meta); // 1–7
    await appendAll(meta, [file("a/x", "new")], at(10)); // 8
    await appendAll(meta, [file("a/b2/y", "a/b/y", { movedFrom: "a/b/y" }), gone(file("a/b/y"))], at(20)); // 9, 10
    await appendAll(meta, [gone(file("a0"))], at(30)); // 11
    const contents = async (p: string, seq: number) => (await meta.treeAt(p, seq)).map((e) => `${e.path}@${e.version}`);
    expect(await contents("a", 7)).toEqual(["a@1", "a/b@3", "a/b/y@4", "a/x@2"]);
    expect(await contents("a", 10)).toEqual(["a@1", "a/b@3", "a/b2/y@9", "a/x@8"]);
    expect(await contents("a/x", 7)).toEqual(["a/x@2"]);
    expect(await contents("a/b", 10)).toEqual(["a/b@3"]);
    expect(await contents("", 11)).toEqual(["a@1", "a b@5", "a/b@3", "a/b2/y@9", "a/x@8", "z@7"]);
    expect(await contents("", 0)).toEqual([]);
    const [x] = await meta.treeAt("a/x", 8);
    expect(x).toEqual((await meta.get("a/x"))!);
  });

  test("seqAt is the head at a moment: rows stamped after it are not counted", async () => {
    expect(await meta.seqAt(STAMP.at)).toBe(0);
    await appendAll(meta, [file("f", "1"), file("g")], at(0));
    await appendAll(meta, [file("f", "2")], at(1000));
    await appendAll(meta, [file("f", "3")], at(2000));
    expect(await meta.seqAt(STAMP.at - 1)).toBe(0);
    expect(await meta.seqAt(STAMP.at)).toBe(2);
    expect(await meta.seqAt(STAMP.at + 999)).toBe(2);
    expect(await meta.seqAt(STAMP.at + 1000)).toBe(3);
    expect(await meta.seqAt(STAMP.at + 10_000)).toBe(4);
  });

  test("trash lists current deletions with their last live version, newest first, not moves or re-creations", async () => {
    await neighbours(meta); // 1–7
    await appendAll(meta, [gone(file("a/b/y")), gone(dir("a/b"))], at(10)); // 8, 9
    await appendAll(meta, [file("moved", "z", { movedFrom: "z" }), gone(file("z"))], at(20)); // 10, 11
    await appendAll(meta, [gone(file("a b"))], at(30)); // 12
    await appendAll(meta, [file("a b", "back")], at(40)); // 13
    await appendAll(meta, [file("a/x", "edited")], at(50)); // 14
    await appendAll(meta, [gone(file("a/x"))], at(60)); // 15
    const items = await meta.trash({ path: "", limit: 10 });
    expect(items.map((t) => [t.deleted.path, t.deleted.version, t.last.version, t.deleted.committedAt])).toEqual([
      ["a/x", 15, 14, STAMP.at + 60],
      ["a/b", 9, 3, STAMP.at + 10],
      ["a/b/y", 8, 4, STAMP.at + 10],
    ]);
    expect(items[0]!.last.size).toBe("edited".length);
    expect(paths((await meta.trash({ path: "a/b", limit: 10 })).map((t) => t.deleted))).toEqual(["a/b", "a/b/y"]);
    expect(paths((await meta.trash({ path: "", before: 15, limit: 1 })).map((t) => t.deleted))).toEqual(["a/b"]);
    expect(await meta.trash({ path: "a0", limit: 10 })).toEqual([]);
  });

  test("clients' host names are kept and the newest one wins", async () => {
    await meta.noteClient("c1", "laptop");
    await meta.noteClient("c2", "desk");
    await meta.noteClient("c1", "laptop-2");
    expect(await meta.clientHosts(["c1", "c2", "unknown"])).toEqual(new Map([["c1", "laptop-2"], ["c2", "desk"]]));
    expect(await meta.clientHosts([])).toEqual(new Map());
  });

  test("versions tells each row's path, stamp and whether it is current; referencedBlocks every block of any row", async () => {
    await appendAll(meta, [file("f", "1"), dir("d")], at(0));
    await appendAll(meta, [file("f", "2")], at(5));
    await appendAll(meta, [gone(dir("d"))], at(6));
    const rows = await meta.transaction(STAMP, (tx) => tx.versions());
    expect(rows).toEqual([
      { seq: 1, path: "f", committedAt: STAMP.at, deleted: false, current: false },
      { seq: 2, path: "d", committedAt: STAMP.at, deleted: false, current: false },
      { seq: 3, path: "f", committedAt: STAMP.at + 5, deleted: false, current: true },
      { seq: 4, path: "d", committedAt: STAMP.at + 6, deleted: true, current: true },
    ]);
    const refs = await meta.transaction(STAMP, (tx) => tx.referencedBlocks());
    expect(refs).toEqual(new Set([file("f", "1").hash, file("f", "2").hash]));
  });

  test("drop removes old rows, takes a dropped tombstone's path whole, keeps head, live bytes and a sound store", async () => {
    await appendAll(meta, [file("f", "1"), file("g", "gg")], at(0)); // 1, 2
    await appendAll(meta, [file("f", "22")], at(1)); // 3
    await appendAll(meta, [file("g", "ggg")], at(2)); // 4
    await appendAll(meta, [gone(file("g"))], at(3)); // 5
    const bytes = await meta.liveBytes();
    const [before, after] = await meta.transaction(STAMP, async (tx) => {
      const before = await tx.referencedBlocks();
      await tx.drop([1, 5, 99]);
      expect((await tx.versions()).map((v) => v.seq)).toEqual([3]);
      expect(await tx.get("g")).toBeUndefined();
      return [before, await tx.referencedBlocks()];
    });
    expect(before.size).toBe(4);
    expect(after).toEqual(new Set([file("f", "22").hash]));
    expect(await meta.head()).toBe(5);
    expect(await meta.prunedThrough()).toBe(5);
    expect(await meta.liveBytes()).toBe(bytes);
    expect(await meta.get("g")).toBeUndefined();
    expect((await meta.changesSince(0, 10)).map((e) => e.version)).toEqual([3]);
    expect(await meta.history({ path: "", below: true, limit: 10 })).toHaveLength(1);
    expect(await meta.trash({ path: "", limit: 10 })).toEqual([]);
    expect(await stores.check()).toEqual([]);
    // Seqs are never handed out twice, even those of dropped rows.
    const [next] = await appendAll(meta, [file("g", "new")]);
    expect(next!.version).toBe(6);
    expect(await stores.check()).toEqual([]);
  });

  test("drop refuses a current live row and a failed transaction drops nothing", async () => {
    await appendAll(meta, [file("f", "1")], at(0));
    await appendAll(meta, [file("f", "2")], at(1));
    const refused = meta.transaction(STAMP, async (tx) => {
      await tx.drop([1]);
      await tx.drop([2]);
    });
    await expect(refused).rejects.toMatchObject({ code: "internal" });
    expect((await meta.history({ path: "f", below: false, limit: 10 })).map((r) => r.version)).toEqual([2, 1]);
    expect(await meta.prunedThrough()).toBe(0);
  });

  test("a tombstone appended and dropped in one transaction leaves no entry", async () => {
    await appendAll(meta, [file("f")], at(0));
    await meta.transaction(STAMP, async (tx) => {
      const t = await tx.append(gone(file("f")));
      await tx.drop([t.version]);
      expect(await tx.get("f")).toBeUndefined();
    });
    expect(await meta.get("f")).toBeUndefined();
    expect(await meta.head()).toBe(2);
    expect(await stores.check()).toEqual([]);
  });
});
