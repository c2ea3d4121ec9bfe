import { afterEach, describe, expect, test } from "bun:test";
import { conflictName } from "../../src/core/conflict-name.ts";
import { applyOk, closeRig, connect, openRig, type Rig, textPut, writeText } from "./_session-rig.ts";

// history and trash through real sessions on memory stores: what `dropsim history` and
// `dropsim trash` print comes from these replies.

let rig: Rig | undefined;
afterEach(async () => {
  await closeRig(rig);
  rig = undefined;
});

async function ready(clientId = "client-a") {
  rig = await openRig();
  const c = connect(rig);
  await c.hello(clientId);
  return c;
}

describe("history", () => {
  test("history of a file tells each version newest first: create, edits, a restore, with time, client and host", async () => {
    const c = await ready();
    const before = Date.now();
    const v1 = await writeText(c, "f.txt", "one");
    const v2 = await writeText(c, "f.txt", "two!", v1.version);
    await c.request<"restore_result">({ type: "restore", path: "f.txt", version: v1.version, seen: v2.version, dryRun: false });
    const { rows, more } = await c.request<"history_result">({ type: "history", path: "f.txt", below: false });
    expect(more).toBe(false);
    expect(rows.map((r) => [r.seq, r.change, r.size])).toEqual([
      [3, "restore", 3],
      [v2.version, "edit", 4],
      [v1.version, "create", 3],
    ]);
    for (const r of rows) {
      expect(r).toMatchObject({ path: "f.txt", kind: "file", clientId: "client-a", host: "laptop" });
      expect(r.at).toBeGreaterThanOrEqual(before);
    }
  });

  test("history of a folder tells moves, deletions, conflict copies and a creation after a deletion", async () => {
    const c = await ready();
    const f = await writeText(c, "d/f", "x");
    const g = await applyOk(c, [{ op: "move", from: "d/f", to: "d/g", baseVersion: f.version }], "d/g");
    const copy = conflictName("d/g", { host: "desk", clientId: "abcdef", date: new Date() });
    await writeText(c, copy, "mine");
    await applyOk(c, [{ op: "delete", path: "d/g", baseVersion: g.version }], "d/g");
    await writeText(c, "d/g", "again");
    const { rows } = await c.request<"history_result">({ type: "history", path: "d", below: true });
    expect(rows.map((r) => [r.path, r.change])).toEqual([
      ["d/g", "create"],
      ["d/g", "delete"],
      [copy, "conflict"],
      ["d/f", "delete"],
      ["d/g", "move"],
      ["d/f", "create"],
      ["d", "create"],
    ]);
    expect(rows.find((r) => r.change === "move")?.movedFrom).toBe("d/f");
  });

  test("history pages with before and limit, and says when more are left", async () => {
    const c = await ready();
    let v = 0;
    for (const text of ["a", "bb", "ccc", "dddd", "eeeee"]) v = (await writeText(c, "f", text, v)).version;
    const first = await c.request<"history_result">({ type: "history", path: "f", below: false, limit: 2 });
    expect(first.rows.map((r) => [r.seq, r.change])).toEqual([
      [5, "edit"],
      [4, "edit"],
    ]);
    expect(first.more).toBe(true);
    const last = await c.request<"history_result">({ type: "history", path: "f", below: false, limit: 2, before: 2 });
    // The page's oldest row looks past the page: seq 1 is still known as the creation.
    expect(last.rows.map((r) => [r.seq, r.change])).toEqual([[1, "create"]]);
    expect(last.more).toBe(false);
    const middle = await c.request<"history_result">({ type: "history", path: "f", below: false, limit: 2, before: 4 });
    expect(middle.rows.map((r) => [r.seq, r.change])).toEqual([
      [3, "edit"],
      [2, "edit"],
    ]);
  });

  test("history of the whole share is asked with the path \"\", and a path that is not a wire path is refused", async () => {
    const c = await ready();
    await writeText(c, "a", "1");
    await writeText(c, "b/c", "2");
    const all = await c.request<"history_result">({ type: "history", path: "", below: false });
    expect(all.rows.map((r) => r.path)).toEqual(["b/c", "b", "a"]);
    await expect(c.request({ type: "history", path: "../etc", below: false })).rejects.toMatchObject({ code: "bad_path" });
    await expect(c.request({ type: "trash", path: "/abs" })).rejects.toMatchObject({ code: "bad_path" });
  });

  test("history names the host of each client that said one at hello, and none for one that did not", async () => {
    const c = await ready();
    await writeText(c, "a", "1");
    const other = connect(rig!);
    await other.request({ type: "hello", protocol: 2, clientId: "no-host", share: "default", token: rig!.token });
    await writeText(other, "b", "2");
    const { rows } = await c.request<"history_result">({ type: "history", path: "", below: true });
    expect(rows.map((r) => [r.path, r.clientId, r.host])).toEqual([
      ["b", "no-host", null],
      ["a", "client-a", "laptop"],
    ]);
  });
});

describe("trash", () => {
  test("trash lists deleted files newest first, with the version to restore, its size and who deleted it", async () => {
    const c = await ready();
    const a = await writeText(c, "docs/a", "alpha");
    const b = await writeText(c, "docs/b", "be");
    await writeText(c, "keep", "k");
    const gone = await applyOk(c, [{ op: "delete", path: "docs/a", baseVersion: a.version }], "docs/a");
    const gone2 = await applyOk(c, [{ op: "delete", path: "docs/b", baseVersion: b.version }], "docs/b");
    const { items, more } = await c.request<"trash_result">({ type: "trash", path: "" });
    expect(more).toBe(false);
    expect(items).toEqual([
      { path: "docs/b", kind: "file", seq: gone2.version, version: b.version, size: 2, at: expect.any(Number), clientId: "client-a", host: "laptop" },
      { path: "docs/a", kind: "file", seq: gone.version, version: a.version, size: 5, at: expect.any(Number), clientId: "client-a", host: "laptop" },
    ]);
    const page = await c.request<"trash_result">({ type: "trash", path: "docs", limit: 1 });
    expect(page.items.map((i) => i.path)).toEqual(["docs/b"]);
    expect(page.more).toBe(true);
    const next = await c.request<"trash_result">({ type: "trash", path: "docs", limit: 1, before: page.items[0]!.seq });
    expect(next.items.map((i) => i.path)).toEqual(["docs/a"]);
    expect(next.more).toBe(false);
  });

  test("a file moved away is not in the trash, and one brought back leaves it", async () => {
    const c = await ready();
    const f = await writeText(c, "f", "x");
    await applyOk(c, [{ op: "move", from: "f", to: "g", baseVersion: f.version }], "g");
    expect((await c.request<"trash_result">({ type: "trash", path: "" })).items).toEqual([]);
    const g = await c.request<"history_result">({ type: "history", path: "g", below: false });
    await applyOk(c, [{ op: "delete", path: "g", baseVersion: g.rows[0]!.seq }], "g");
    expect((await c.request<"trash_result">({ type: "trash", path: "" })).items.map((i) => i.path)).toEqual(["g"]);
    await c.request<"restore_result">({ type: "restore", path: "g", seen: await rig!.shares.get("default")!.meta.head(), dryRun: false });
    expect((await c.request<"trash_result">({ type: "trash", path: "" })).items).toEqual([]);
    expect(textPut("g", "x").op.hash).toBe((await rig!.shares.get("default")!.meta.get("g"))!.hash);
  });
});
