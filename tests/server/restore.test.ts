import { afterEach, describe, expect, test } from "bun:test";
import { conflictCopyHost } from "../../src/core/conflict-name.ts";
import type { Entry } from "../../src/core/entry.ts";
import { addToken, applyOk, type Client, closeRig, connect, openRig, type Rig, textPut, writeText } from "./_session-rig.ts";
import { waitFor } from "../helpers/wait-for.ts";

// Restores through real sessions on memory stores: the reply, the journal after, and the push
// every other client gets.

let rig: Rig | undefined;
afterEach(async () => {
  await closeRig(rig);
  rig = undefined;
});

async function ready(clientId = "client-a"): Promise<Client> {
  rig ??= await openRig();
  const c = connect(rig);
  await c.hello(clientId);
  return c;
}

const meta = () => rig!.shares.get("default")!.meta;
const head = () => meta().head();
const hashOf = (text: string) => textPut("x", text).op.hash;

/** The live tree as path → text hash (files) or "dir". */
async function tree(): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const e of await meta().treeAt("", await head())) out[e.path] = e.kind === "dir" ? "dir" : e.hash;
  return out;
}

describe("restore", () => {
  test("restore of a file by version brings back its old content as a new row, and every session gets the push", async () => {
    const c = await ready();
    const other = await ready("client-b");
    const v1 = await writeText(c, "f", "one");
    const v2 = await writeText(c, "f", "two", v1.version);
    await writeText(c, "f", "three", v2.version);
    const seen = await head();
    const result = await c.request<"restore_result">({ type: "restore", path: "f", version: v2.version, seen, dryRun: false });
    expect(result).toMatchObject({ head: seen + 1, target: v2.version, more: false, counts: { restore: 1, remove: 0, conflict_copy: 0 } });
    expect(result.changes).toEqual([{ path: "f", action: "restore", kind: "file", size: 3 }]);
    expect((await meta().get("f"))!.hash).toBe(hashOf("two"));
    await waitFor("the restore's push", () => other.pushes.some((p) => p.type === "changed" && p.head === seen + 1) || JSON.stringify(other.pushes.at(-1)));
    const [row] = await meta().history({ path: "f", below: false, limit: 1 });
    expect(row).toMatchObject({ cause: "restore", clientId: "client-a" });
  });

  test("restore by time brings back the state at that moment", async () => {
    const c = await ready();
    const v1 = await writeText(c, "f", "one");
    const at = (await meta().history({ path: "f", below: false, limit: 1 }))[0]!.committedAt!;
    await waitFor("the clock to move on", () => Date.now() > at || "same ms");
    await writeText(c, "f", "two", v1.version);
    const result = await c.request<"restore_result">({ type: "restore", path: "f", at, seen: await head(), dryRun: false });
    expect(result.target).toBe(v1.version);
    expect((await meta().get("f"))!.hash).toBe(hashOf("one"));
  });

  test("restore of a deleted file without a version brings back its last content", async () => {
    const c = await ready();
    const v1 = await writeText(c, "d/f", "one");
    const v2 = await writeText(c, "d/f", "two", v1.version);
    await applyOk(c, [{ op: "delete", path: "d/f", baseVersion: v2.version }], "d/f");
    const result = await c.request<"restore_result">({ type: "restore", path: "d/f", seen: await head(), dryRun: false });
    expect(result.target).toBe(v2.version);
    expect(await meta().get("d/f")).toMatchObject({ deleted: false, hash: hashOf("two") });
  });

  test("restore of a deleted folder without a version brings back what was in it when it went", async () => {
    const c = await ready();
    await writeText(c, "d/a", "a");
    await writeText(c, "d/e/b", "b");
    const inside = (await meta().treeAt("d", await head())).sort((x, y) => y.path.split("/").length - x.path.split("/").length);
    await applyOk(c, inside.map((e) => ({ op: "delete" as const, path: e.path, baseVersion: e.version })), "d");
    expect(await tree()).toEqual({});
    await c.request<"restore_result">({ type: "restore", path: "d", seen: await head(), dryRun: false });
    expect(await tree()).toEqual({ d: "dir", "d/a": hashOf("a"), "d/e": "dir", "d/e/b": hashOf("b") });
  });

  test("restore of a folder: deleted files come back, created ones go to the trash, moved ones return, edits are undone", async () => {
    const c = await ready();
    const a = await writeText(c, "d/a", "a");
    const b = await writeText(c, "d/b", "b");
    const e = await writeText(c, "d/e", "e");
    await writeText(c, "outside", "o");
    const target = await head();
    const before = await tree();
    await applyOk(c, [{ op: "delete", path: "d/a", baseVersion: a.version }], "d/a");
    await writeText(c, "d/new/n", "n");
    await applyOk(c, [{ op: "move", from: "d/b", to: "d/sub/b", baseVersion: b.version }], "d/sub/b");
    await writeText(c, "d/e", "edited", e.version);
    const o = await meta().get("outside");
    await writeText(c, "outside", "changed outside", o!.version);
    const preview = await c.request<"restore_result">({ type: "restore", path: "d", version: target, seen: await head(), dryRun: true });
    const h = await head();
    expect(preview.head).toBe(h);
    const result = await c.request<"restore_result">({ type: "restore", path: "d", version: target, seen: h, dryRun: false });
    expect(result.changes).toEqual(preview.changes);
    expect(result.counts).toEqual({ restore: 3, remove: 4, conflict_copy: 0 });
    expect(new Set(result.changes.map((ch) => `${ch.action} ${ch.path}`))).toEqual(
      new Set(["remove d/new/n", "remove d/new", "remove d/sub/b", "remove d/sub", "restore d/a", "restore d/b", "restore d/e"]),
    );
    expect(await tree()).toEqual({ ...before, outside: hashOf("changed outside") });
    // What the restore removed is in the trash, not gone (a move back is a deletion and a put).
    const trash = await c.request<"trash_result">({ type: "trash", path: "d" });
    expect(trash.items.map((i) => i.path).sort()).toEqual(["d/new", "d/new/n", "d/sub", "d/sub/b"]);
  });

  test("a dry run changes nothing and tells the same changes a restore would make", async () => {
    const c = await ready();
    const v1 = await writeText(c, "f", "one");
    await writeText(c, "f", "two", v1.version);
    const h = await head();
    const preview = await c.request<"restore_result">({ type: "restore", path: "f", version: v1.version, seen: h, dryRun: true });
    expect(preview).toMatchObject({ head: h, target: v1.version, counts: { restore: 1, remove: 0, conflict_copy: 0 } });
    expect(await head()).toBe(h);
    expect((await meta().get("f"))!.hash).toBe(hashOf("two"));
  });

  test("restore keeps an edit made after the asker looked, and puts the old content beside it", async () => {
    const c = await ready();
    const other = await ready("client-b");
    const v1 = await writeText(c, "f", "one");
    const v2 = await writeText(c, "f", "two", v1.version);
    const seen = await head();
    await writeText(other, "f", "theirs", v2.version);
    const result = await c.request<"restore_result">({ type: "restore", path: "f", version: v1.version, seen, dryRun: false });
    expect(result.counts).toEqual({ restore: 0, remove: 0, conflict_copy: 1 });
    const [copy] = result.changes;
    expect(copy).toMatchObject({ action: "conflict_copy", of: "f", kind: "file" });
    expect(conflictCopyHost(copy!.path)).toBe("laptop");
    expect((await meta().get("f"))!.hash).toBe(hashOf("theirs"));
    expect((await meta().get(copy!.path))!.hash).toBe(hashOf("one"));
  });

  test("restore whose old blocks are gone fails whole, with nothing committed", async () => {
    const c = await ready();
    const v1 = await writeText(c, "f", "one");
    await writeText(c, "f", "two", v1.version);
    await writeText(c, "g", "g");
    const h = await head();
    await rig!.shares.get("default")!.blocks.delete([textPut("f", "one").hash]);
    await expect(c.request({ type: "restore", path: "", version: v1.version, seen: h, dryRun: false })).rejects.toMatchObject({ code: "missing_blocks", message: expect.stringContaining('"f"') });
    expect(await head()).toBe(h);
  });

  test("restore says clearly when there is nothing to restore to", async () => {
    const c = await ready();
    const v1 = await writeText(c, "f", "one");
    const h = await head();
    await expect(c.request({ type: "restore", path: "f", version: h + 5, seen: h, dryRun: false })).rejects.toMatchObject({ code: "not_found" });
    const committed = (await meta().history({ path: "f", below: false, limit: 1 }))[0]!.committedAt!;
    await expect(c.request({ type: "restore", path: "f", at: committed - 60_000, seen: h, dryRun: false })).rejects.toMatchObject({
      code: "not_found",
      message: expect.stringContaining("no change at or before"),
    });
    await expect(c.request({ type: "restore", path: "f", seen: h, dryRun: false })).rejects.toMatchObject({ code: "not_found", message: expect.stringContaining("is not deleted") });
    await expect(c.request({ type: "restore", path: "never", seen: h, dryRun: false })).rejects.toMatchObject({ code: "not_found", message: expect.stringContaining("no history") });
    await expect(c.request({ type: "restore", path: "", seen: h, dryRun: false })).rejects.toMatchObject({ code: "bad_message" });
    await expect(c.request({ type: "restore", path: "a//b", version: v1.version, seen: h, dryRun: false })).rejects.toMatchObject({ code: "bad_path" });
    expect(await head()).toBe(h);
  });

  test("a read-only token may list history and trash and preview a restore, but not restore", async () => {
    const c = await ready();
    const v1 = await writeText(c, "f", "one");
    await writeText(c, "f", "two", v1.version);
    const h = await head();
    const reader = connect(rig!, { token: addToken(rig!.access, "default", "read_only") });
    await reader.hello("reader");
    expect((await reader.request<"history_result">({ type: "history", path: "f", below: false })).rows).toHaveLength(2);
    expect((await reader.request<"trash_result">({ type: "trash", path: "" })).items).toEqual([]);
    expect((await reader.request<"restore_result">({ type: "restore", path: "f", version: v1.version, seen: h, dryRun: true })).counts.restore).toBe(1);
    await expect(reader.request({ type: "restore", path: "f", version: v1.version, seen: h, dryRun: false })).rejects.toMatchObject({ code: "read_only" });
    expect(await head()).toBe(h);
  });

  test("a restore can itself be undone by restoring to the version before it", async () => {
    const c = await ready();
    const v1 = await writeText(c, "f", "one");
    await writeText(c, "f", "two", v1.version);
    const beforeRestore = await head();
    await c.request({ type: "restore", path: "", version: v1.version, seen: beforeRestore, dryRun: false });
    expect((await meta().get("f"))!.hash).toBe(hashOf("one"));
    await c.request({ type: "restore", path: "", version: beforeRestore, seen: await head(), dryRun: false });
    expect((await meta().get("f") as Entry).hash).toBe(hashOf("two"));
  });
});
