import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { hashBlock, hashBlockList } from "../../src/core/block-hash.ts";
import { conflictName } from "../../src/core/conflict-name.ts";
import { type BlockRef, type Entry, sameContent, symlinkContent } from "../../src/core/entry.ts";
import { planRestore, type RestoreInput, type RestoreOp } from "../../src/core/restore-plan.ts";
import { depthOf, isInside } from "../../src/core/wire-path.ts";
import type { Op } from "../../src/protocol/messages.ts";
import { applyOps } from "../../src/server/commit.ts";
import { MemoryMetaStore } from "../../src/store/memory-meta-store.ts";

// ---------------------------------------------------------------------------------------------
// Fixtures

const ORIGIN = { host: "laptop", clientId: "c0ffee42", date: new Date(Date.UTC(2026, 11, 1, 14, 3, 22)) };

function content(text: string): Pick<Entry, "hash" | "blocks" | "size"> {
  const blocks: BlockRef[] = [[hashBlock(new TextEncoder().encode(text)), text.length]];
  return { hash: hashBlockList(blocks.map(([h]) => h)), blocks, size: text.length };
}
const file = (path: string, version: number, text = path): Entry => ({ path, kind: "file", mode: 0o644, ...content(text), version, deleted: false, mtime: 7 });
const dir = (path: string, version: number): Entry => ({ path, kind: "dir", size: 0, mode: 0o755, hash: "", blocks: [], version, deleted: false, mtime: 7 });
const link = (path: string, version: number, target: string): Entry => ({ path, ...symlinkContent(target), version, deleted: false, mtime: 7 });

function plan(then: Entry[], now: Entry[], seen = 100, taken: RestoreInput["taken"] = () => false) {
  return planRestore({ then, now, seen, origin: ORIGIN, taken });
}

const copyOf = (path: string) => conflictName(path, ORIGIN);
const brief = (ops: RestoreOp[]) => ops.map((o) => `${o.op} ${o.path}@${o.baseVersion}`);

// ---------------------------------------------------------------------------------------------
// Tables

describe("planRestore", () => {
  test("planRestore of a tree that did not change plans nothing", () => {
    const tree = [dir("d", 1), file("d/a", 2), link("d/l", 3, "a")];
    expect(plan(tree, tree)).toEqual({ ops: [], steps: [] });
  });

  type Row = [name: string, then: Entry[], now: Entry[], ops: string[], steps: string[]];
  const rows: Row[] = [
    ["an edited file gets its old content on its current version", [file("f", 1, "old")], [file("f", 5, "new")], ["put f@5"], ["restore f"]],
    ["a deleted file comes back from base 0", [file("f", 1)], [], ["put f@0"], ["restore f"]],
    ["a created file goes to the trash", [], [file("f", 5)], ["delete f@5"], ["remove f"]],
    ["a moved file returns where it was", [file("a", 1, "x")], [file("b", 6, "x")], ["delete b@6", "put a@0"], ["remove b", "restore a"]],
    [
      "a created folder goes children first",
      [],
      [dir("d", 3), dir("d/e", 4), file("d/e/f", 5), file("d/g", 6)],
      ["delete d/e/f@5", "delete d/e@4", "delete d/g@6", "delete d@3"],
      ["remove d/e/f", "remove d/e", "remove d/g", "remove d"],
    ],
    [
      "a deleted folder comes back parents first",
      [dir("d", 1), dir("d/e", 2), file("d/e/f", 3), file("d/g", 4)],
      [],
      ["put d@0", "put d/e@0", "put d/g@0", "put d/e/f@0"],
      ["restore d", "restore d/e", "restore d/g", "restore d/e/f"],
    ],
    ["a file that became a folder: the folder goes, the file comes back", [file("p", 1)], [dir("p", 4), file("p/x", 5)], ["delete p/x@5", "delete p@4", "put p@0"], ["remove p/x", "remove p", "restore p"]],
    ["a folder that became a file: the file goes, the folder comes back", [dir("p", 1), file("p/x", 2)], [file("p", 6)], ["delete p@6", "put p@0", "put p/x@0"], ["remove p", "restore p", "restore p/x"]],
    ["a link with another target gets its old one", [link("l", 1, "a")], [link("l", 4, "b")], ["put l@4"], ["restore l"]],
    ["a file that became a link", [file("l", 1)], [link("l", 4, "b")], ["delete l@4", "put l@0"], ["remove l", "restore l"]],
  ];
  test.each(rows)("planRestore: %s", (_name, then, now, ops, steps) => {
    const p = plan(then, now);
    expect(brief(p.ops)).toEqual(ops);
    expect(p.steps.map((s) => `${s.action} ${s.path}`)).toEqual(steps);
  });

  test("planRestore puts a file's old blocks, mode, mtime and attributes, never a splice", () => {
    const old: Entry = { ...file("f", 1, "old"), mode: 0o755, mtime: 42, xattrs: [["user.tag", "eA=="]] };
    const [put] = plan([old], [file("f", 5, "new")]).ops;
    expect(put).toEqual({ op: "put", path: "f", kind: "file", baseVersion: 5, size: old.size, mode: 0o755, hash: old.hash, blocks: old.blocks, mtime: 42, xattrs: old.xattrs });
  });

  test("planRestore puts a folder with an empty block list and a link with its target", () => {
    const ops = plan([dir("d", 1), link("d/l", 2, "../t")], []).ops;
    expect(ops[0]).toMatchObject({ kind: "dir", blocks: [] });
    expect(ops[1]).toMatchObject({ kind: "symlink", target: "../t", hash: symlinkContent("../t").hash });
    expect(ops[1]).not.toHaveProperty("blocks");
  });

  test("planRestore leaves a file edited after seen and puts the old content beside it", () => {
    const p = plan([file("d/f", 1, "old")], [file("d/f", 101, "theirs")]);
    expect(brief(p.ops)).toEqual([`put ${copyOf("d/f")}@0`]);
    expect(p.steps).toEqual([{ path: copyOf("d/f"), action: "conflict_copy", kind: "file", size: 3, of: "d/f" }]);
  });

  test("planRestore keeps a file created after seen and the folder holding it, and removes the rest", () => {
    const now = [dir("new", 50), file("new/old", 60), file("new/theirs", 101), file("gone", 70)];
    const p = plan([], now);
    expect(brief(p.ops)).toEqual(["delete new/old@60", "delete gone@70"]);
  });

  test("planRestore does not replace a folder holding a later change by a file: the file goes beside it", () => {
    const p = plan([file("p", 1, "old")], [dir("p", 4), file("p/theirs", 101)]);
    expect(brief(p.ops)).toEqual([`put ${copyOf("p")}@0`]);
  });

  test("planRestore brings a folder held by a later file back whole under a conflict-copy name", () => {
    const then = [dir("p", 1), dir("p/q", 2), file("p/q/x", 3)];
    const p = plan(then, [file("p", 101)]);
    const moved = copyOf("p");
    expect(brief(p.ops)).toEqual([`put ${moved}@0`, `put ${moved}/q@0`, `put ${moved}/q/x@0`]);
    expect(p.steps.map((s) => [s.action, s.of])).toEqual([
      ["conflict_copy", "p"],
      ["conflict_copy", "p/q"],
      ["conflict_copy", "p/q/x"],
    ]);
  });

  test("planRestore picks a conflict-copy name nobody uses", () => {
    const taken = copyOf("f");
    const p = plan([file("f", 1, "old")], [file("f", 101, "theirs"), file(taken, 102)]);
    const name = p.ops[0]!.path;
    expect(name).not.toBe(taken);
    expect(name).toBe(conflictName("f", ORIGIN, (q) => q === taken));
    const outside = plan([file("f", 1, "old")], [file("f", 101, "theirs")], 100, (q) => q === taken).ops[0]!.path;
    expect(outside).toBe(name);
  });

  test("planRestore restores a path deleted after seen: bringing back loses no write", () => {
    expect(brief(plan([file("f", 1)], [], 100).ops)).toEqual(["put f@0"]);
  });
});

// ---------------------------------------------------------------------------------------------
// Property: random histories replayed on a memory store

const NAMES = ["a", "b", "a b"];
const PATHS = NAMES.flatMap((x) => [x, ...NAMES.flatMap((y) => [`${x}/${y}`, ...NAMES.map((z) => `${x}/${y}/${z}`)])]);
const TEXTS = ["one", "two", "three"];

/** One random change, read against the tree as it is when it runs. */
interface Action {
  kind: "file" | "dir" | "link" | "delete" | "move";
  path: number;
  to: number;
  text: number;
}
const action: fc.Arbitrary<Action> = fc.record({
  kind: fc.constantFrom<Action["kind"]>("file", "file", "file", "dir", "link", "delete", "delete", "move"),
  path: fc.nat(PATHS.length - 1),
  to: fc.nat(PATHS.length - 1),
  text: fc.nat(TEXTS.length - 1),
});

type Live = Map<string, Entry>;

async function liveTree(store: MemoryMetaStore): Promise<Live> {
  const all = await store.changesSince(0, 1_000_000);
  return new Map(all.filter((e) => !e.deleted).map((e) => [e.path, e]));
}

function opOf(a: Action, live: Live): Op[] {
  const path = PATHS[a.path]!;
  const cur = live.get(path);
  const base = cur?.version ?? 0;
  const text = TEXTS[a.text]!;
  switch (a.kind) {
    case "file": {
      const c = content(`${text}`);
      return [{ op: "put", path, kind: "file", baseVersion: base, size: c.size, mode: 0o644, hash: c.hash, blocks: c.blocks, mtime: 1 }];
    }
    case "dir":
      return [{ op: "put", path, kind: "dir", baseVersion: base, size: 0, mode: 0o755, hash: "", blocks: [], mtime: 1 }];
    case "link": {
      const l = symlinkContent(text);
      return [{ op: "put", path, kind: "symlink", baseVersion: base, size: l.size, mode: 0o777, hash: l.hash, mtime: 1, target: text }];
    }
    case "delete": {
      if (!cur) return [];
      const inside = [...live.values()].filter((e) => e.path === path || isInside(e.path, path));
      return inside.sort((x, y) => depthOf(y.path) - depthOf(x.path)).map((e): Op => ({ op: "delete", path: e.path, baseVersion: e.version }));
    }
    case "move":
      return cur ? [{ op: "move", from: path, to: PATHS[a.to]!, baseVersion: base }] : [];
  }
}

const STAMP = { clientId: "prop", at: 1 };

/** Runs the actions; refusals (a put under a file, a move onto a path) are part of random life. */
async function run(store: MemoryMetaStore, actions: readonly Action[]): Promise<void> {
  for (const a of actions) {
    const ops = opOf(a, await liveTree(store));
    if (ops.length > 0) await applyOps(store, ops, async () => new Set(), STAMP);
  }
}

function scoped(tree: Live, scope: string): Entry[] {
  return [...tree.values()].filter((e) => scope === "" || e.path === scope || isInside(e.path, scope));
}

/** Builds a history, restores `scope` to a point in it with `seen` before `concurrent`, and hands back what is needed to judge. */
async function restoreScenario(history: Action[], since: Action[], concurrent: Action[], scope: string) {
  const store = new MemoryMetaStore();
  await run(store, history);
  const then = scoped(await liveTree(store), scope);
  await run(store, since);
  const seen = await store.head();
  await run(store, concurrent);
  const now = scoped(await liveTree(store), scope);
  const before = await liveTree(store);
  const p = planRestore({ then, now, seen, origin: ORIGIN, taken: (q) => before.has(q) });
  const commit = await applyOps(store, p.ops as Op[], async () => new Set(), { ...STAMP, cause: "restore" });
  const refused = commit.results.filter((r) => r.status !== "ok");
  expect(refused).toEqual([]);
  return { store, then, now, seen, after: await liveTree(store) };
}

const scopeArb = fc.constantFrom("", "a", "a/b");

describe("planRestore property", () => {
  test("planRestore applied to random histories brings the tree back to its past state, keeping the journal", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(action, { maxLength: 25 }), fc.array(action, { maxLength: 25 }), scopeArb, async (history, since, scope) => {
        const { store, then, now, after } = await restoreScenario(history, since, [], scope);
        const restored = scoped(after, scope);
        expect(restored.map((e) => e.path).sort()).toEqual(then.map((e) => e.path).sort());
        for (const t of then) expect(sameContent(after.get(t.path), t)).toBe(true);
        // Only appends: every row that was current is still in the journal.
        for (const n of now) expect((await store.history({ path: n.path, below: false, before: n.version + 1, limit: 1 }))[0]?.version).toBe(n.version);
      }),
      { numRuns: 300, seed: 1212 },
    );
  });

  test("planRestore racing random later changes overwrites none of them and keeps every old file somewhere", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(action, { maxLength: 20 }),
        fc.array(action, { maxLength: 20 }),
        fc.array(action, { minLength: 1, maxLength: 10 }),
        scopeArb,
        async (history, since, concurrent, scope) => {
          const { then, now, seen, after } = await restoreScenario(history, since, concurrent, scope);
          for (const n of now) if (n.version > seen) expect(after.get(n.path)?.version).toBe(n.version);
          const contents = [...after.values()];
          for (const t of then) {
            if (t.kind === "dir") continue;
            expect(contents.some((e) => sameContent(e, t))).toBe(true);
          }
        },
      ),
      { numRuns: 300, seed: 2424 },
    );
  });
});
