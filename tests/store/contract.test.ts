import { describe, expect, test } from "bun:test";
import { hashBlock } from "../../src/core/block-hash.ts";
import type { CommitNotice } from "../../src/store/journal-feed.ts";
import type { MetaStore } from "../../src/store/meta-store.ts";
import type { StoreSet } from "../../src/store/open.ts";
import { appendAll, backends, dir, file, gone, openEach, STAMP } from "./backends.ts";

/** A few turns of the event loop: lets other transactions and reads run in between. */
async function yieldTurns(n: number): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise((r) => setTimeout(r, 0));
}

describe.each(backends)("store contract: $name", (backend) => {
  let stores: StoreSet;
  let meta: MetaStore;
  openEach(backend, (s) => {
    stores = s;
    meta = s.share("default")!.meta;
  });

  test("a new store has the one share default, an empty journal and a server id", async () => {
    expect(stores.shareNames()).toEqual(["default"]);
    expect(stores.share("other")).toBeUndefined();
    expect(await meta.head()).toBe(0);
    expect(await meta.changesSince(0, 10)).toEqual([]);
    expect(meta.serverId).toMatch(/^[0-9a-f-]{36}$/);
  });

  test("appends get the next sequence numbers and become the current entries", async () => {
    const [docs, a, b] = await appendAll(meta, [dir("docs"), file("docs/a.txt"), file("b", "b", { xattrs: [["user.tag", "eA=="]], mode: 0o755 })]);
    expect([docs!.version, a!.version, b!.version]).toEqual([1, 2, 3]);
    expect(await meta.head()).toBe(3);
    expect(await meta.get("docs/a.txt")).toEqual(a!);
    expect(await meta.get("b")).toEqual(b!);
    expect(await meta.get("nothing")).toBeUndefined();
    const [moved] = await appendAll(meta, [file("docs/a2.txt", "docs/a.txt", { movedFrom: "docs/a.txt" })]);
    expect(await meta.get("docs/a2.txt")).toEqual(moved!);
    // Reads after each commit see it (no stale snapshot kept by a reader).
    expect(await meta.head()).toBe(4);
    expect((await meta.changesSince(3, 10)).map((e) => e.path)).toEqual(["docs/a2.txt"]);
  });

  test("liveBytes is the sum of the live files' sizes, the transaction's own appends included, and survives a rollback", async () => {
    expect(await meta.liveBytes()).toBe(0);
    await appendAll(meta, [dir("d"), file("d/a"), file("b"), { path: "l", kind: "symlink", size: 9, mode: 0o777, hash: "h", blocks: [], deleted: false, mtime: 1, target: "somewhere" }]);
    const [a, b] = [(await meta.get("d/a"))!.size, (await meta.get("b"))!.size];
    expect(await meta.liveBytes()).toBe(a + b);
    await meta.transaction(STAMP, async (tx) => {
      await tx.append({ ...(await tx.get("b"))!, deleted: true, size: 0 });
      expect(await tx.liveBytes()).toBe(a);
      await tx.append({ ...(await tx.get("d/a"))!, size: 1000 });
      expect(await tx.liveBytes()).toBe(1000);
    });
    expect(await meta.liveBytes()).toBe(1000);
    await expect(
      meta.transaction(STAMP, async (tx) => {
        await tx.append({ ...(await tx.get("d/a"))!, size: 5 });
        throw new Error("rolled back");
      }),
    ).rejects.toThrow("rolled back");
    expect(await meta.liveBytes()).toBe(1000);
    expect(await meta.check()).toEqual([]);
  });

  test("a symlink keeps its target and an empty attribute set is no set", async () => {
    await appendAll(meta, [{ path: "l", kind: "symlink", size: 1, mode: 0o777, hash: "h", blocks: [], deleted: false, mtime: 1, target: "x" }, file("f", "f", { xattrs: [] })]);
    expect((await meta.get("l"))!.target).toBe("x");
    expect("xattrs" in (await meta.get("f"))!).toBe(false);
  });

  test("every journal row records its commit's stamp, and its cause", async () => {
    await appendAll(meta, [file("a"), file("b")]);
    await appendAll(meta, [file("a", "again")], { clientId: "client-b", at: STAMP.at + 5, cause: "restore" });
    const stamps = (await meta.history({ path: "", below: true, limit: 10 })).map((r) => [r.version, r.clientId, r.committedAt, r.cause]);
    expect(stamps).toEqual([
      [3, "client-b", STAMP.at + 5, "restore"],
      [2, STAMP.clientId, STAMP.at, null],
      [1, STAMP.clientId, STAMP.at, null],
    ]);
  });

  test("concurrent transactions run one at a time, so sequence order is commit order", async () => {
    const events: string[] = [];
    const runs = Array.from({ length: 8 }, (_, i) =>
      meta.transaction({ clientId: `c${i}`, at: i }, async (tx) => {
        events.push(`start ${i}`);
        const before = await tx.head();
        await yieldTurns((i * 5) % 3);
        const e = await tx.append(file(`f${i}`));
        await yieldTurns(1);
        events.push(`end ${i}`);
        return { before, version: e.version };
      }),
    );
    const results = await Promise.all(runs);
    expect(events).toEqual(Array.from({ length: 8 }, (_, i) => [`start ${i}`, `end ${i}`]).flat());
    results.forEach((r, i) => expect(r).toEqual({ before: i, version: i + 1 }));
  });

  test("a transaction that throws leaves nothing, and the next one takes its numbers", async () => {
    await appendAll(meta, [file("kept")]);
    const boom = new Error("refused");
    await expect(
      meta.transaction(STAMP, async (tx) => {
        await tx.append(file("lost"));
        await tx.append(file("kept", "changed"));
        expect(await tx.head()).toBe(3);
        throw boom;
      }),
    ).rejects.toBe(boom);
    expect(await meta.head()).toBe(1);
    expect(await meta.get("lost")).toBeUndefined();
    expect((await meta.get("kept"))!.version).toBe(1);
    expect(await meta.changesSince(0, 10)).toHaveLength(1);
    const [next] = await appendAll(meta, [file("next")]);
    expect(next!.version).toBe(2);
  });

  test("reads outside a transaction see only what is committed", async () => {
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let appended!: () => void;
    const inside = new Promise<void>((r) => (appended = r));
    const commit = meta.transaction(STAMP, async (tx) => {
      await tx.append(file("pending"));
      appended();
      await held;
    });
    await inside;
    expect(await meta.head()).toBe(0);
    expect(await meta.get("pending")).toBeUndefined();
    expect(await meta.changesSince(0, 10)).toEqual([]);
    release();
    await commit;
    expect((await meta.get("pending"))!.version).toBe(1);
  });

  test("a transaction's handle inside sees its own appends; after it ends it refuses to be used", async () => {
    let kept: Parameters<Parameters<MetaStore["transaction"]>[1]>[0] | undefined;
    await meta.transaction(STAMP, async (tx) => {
      kept = tx;
      const e = await tx.append(file("x"));
      expect(await tx.get("x")).toEqual(e);
      expect(await tx.head()).toBe(1);
    });
    await expect(kept!.append(file("late"))).rejects.toThrow(/after it ended/);
    expect(await meta.head()).toBe(1);
  });

  test("changesSince pages through the current entries in journal order, newest version only", async () => {
    await appendAll(meta, [dir("d"), file("d/1"), file("d/2"), file("d/3")]);
    await appendAll(meta, [file("d/1", "edited"), gone(file("d/2"))]);
    await appendAll(meta, [file("d/4")]);
    const seen: [string, number, boolean][] = [];
    for (let since = 0; ; ) {
      const page = await meta.changesSince(since, 2);
      seen.push(...page.map((e): [string, number, boolean] => [e.path, e.version, e.deleted]));
      if (page.length < 2) break;
      since = page[page.length - 1]!.version;
    }
    expect(seen).toEqual([
      ["d", 1, false],
      ["d/3", 4, false],
      ["d/1", 5, false],
      ["d/2", 6, true],
      ["d/4", 7, false],
    ]);
    expect((await meta.changesSince(5, 10)).map((e) => e.path)).toEqual(["d/2", "d/4"]);
  });

  test("liveChildren lists live entries strictly inside a folder in path order, the transaction's own included", async () => {
    await appendAll(meta, [dir("a"), file("a/z"), dir("a/b"), file("a/b/c"), file("a/gone"), file("ab"), file("a0"), dir("ä"), file("ä/x")]);
    await appendAll(meta, [gone(file("a/gone"))]);
    await meta.transaction(STAMP, async (tx) => {
      await tx.append(file("a/new"));
      await tx.append(gone(file("a/z")));
      expect((await tx.liveChildren("a")).map((e) => e.path)).toEqual(["a/b", "a/b/c", "a/new"]);
      expect((await tx.liveChildren("a/b")).map((e) => e.path)).toEqual(["a/b/c"]);
      expect((await tx.liveChildren("ä")).map((e) => e.path)).toEqual(["ä/x"]);
      expect(await tx.liveChildren("a/b/c")).toEqual([]);
    });
  });

  test("blocks: missing counts puts not yet synced as held, delete forgets, readInto fills the given buffers", async () => {
    const blocks = stores.share("default")!.blocks;
    const a = new TextEncoder().encode("block a");
    const b = new TextEncoder().encode("block b, longer");
    const [ha, hb, hc] = [hashBlock(a), hashBlock(b), hashBlock(new Uint8Array([1]))];
    expect(await blocks.missing([ha, hb, hc])).toEqual([ha, hb, hc]);
    await blocks.put(ha, a);
    expect(await blocks.missing([hc, ha, hb])).toEqual([hc, hb]);
    await blocks.put(hb, b);
    await blocks.put(hb, b);
    await blocks.sync();
    expect(await blocks.missing([ha, hb])).toEqual([]);
    expect(await blocks.missing([])).toEqual([]);

    expect(await blocks.sizes([hb, hc, ha])).toEqual([b.length, undefined, a.length]);
    const frame = new Uint8Array(100);
    const bodies = [frame.subarray(10, 10 + b.length), frame.subarray(40, 40 + a.length)];
    expect(await blocks.readInto([hb, ha], bodies)).toEqual([true, true]);
    expect(bodies).toEqual([b, a]);
    expect(await blocks.get(ha)).toEqual(a);
    expect(await blocks.get(hc)).toBeUndefined();

    await blocks.delete([ha, hc]);
    expect(await blocks.missing([ha, hb])).toEqual([ha]);
    expect(await blocks.get(ha)).toBeUndefined();
    await blocks.put(ha, a);
    await blocks.sync();
    expect(await blocks.get(ha)).toEqual(a);
  });

  test("a block is kept as it was put, even if the caller reuses its buffer", async () => {
    const blocks = stores.share("default")!.blocks;
    const buf = new TextEncoder().encode("reused buffer");
    const h = hashBlock(buf);
    await blocks.put(h, buf);
    buf.fill(0);
    await blocks.sync();
    expect(hashBlock((await blocks.get(h))!)).toBe(h);
  });

  test("readInto says which blocks it no longer holds and fills the others", async () => {
    const blocks = stores.share("default")!.blocks;
    const [a, b] = [new TextEncoder().encode("kept"), new TextEncoder().encode("deleted")];
    await blocks.put(hashBlock(a), a);
    await blocks.put(hashBlock(b), b);
    await blocks.sync();
    await blocks.delete([hashBlock(b)]);
    const into = [new Uint8Array(b.length), new Uint8Array(a.length)];
    expect(await blocks.readInto([hashBlock(b), hashBlock(a)], into)).toEqual([false, true]);
    expect(into[1]).toEqual(a);
  });

  test("blocks: list gives the durable blocks with when they were stored; compact keeps every live block", async () => {
    const blocks = stores.share("default")!.blocks;
    const made = Array.from({ length: 6 }, (_, i) => new TextEncoder().encode(`block ${i} `.repeat(100 + i)));
    const since = Date.now();
    for (const b of made) await blocks.put(hashBlock(b), b);
    await blocks.sync();
    const listed = await blocks.list();
    expect(listed.map((b) => b.hash).sort()).toEqual(made.map((b) => hashBlock(b)).sort());
    for (const b of listed) {
      expect(b.size).toBe(made.find((m) => hashBlock(m) === b.hash)!.length);
      expect(b.storedAt).toBeGreaterThanOrEqual(since);
    }
    await blocks.delete(made.slice(0, 3).map((b) => hashBlock(b)));
    const dry = await blocks.compact(0.1, true);
    const done = await blocks.compact(0.1, false);
    expect(done.before).toBe(dry.before);
    expect(done.after).toBeLessThanOrEqual(done.before);
    for (const b of made.slice(3)) expect(await blocks.get(hashBlock(b))).toEqual(b);
    expect((await blocks.list()).length).toBe(3);
    expect(await stores.check()).toEqual([]);
  });

  test("check finds nothing wrong with a sound store", async () => {
    await appendAll(meta, [dir("d"), file("d/f")]);
    await appendAll(meta, [gone(file("d/f"))]);
    const blocks = stores.share("default")!.blocks;
    const bytes = new TextEncoder().encode("x");
    await blocks.put(hashBlock(bytes), bytes);
    await blocks.sync();
    expect(await stores.check()).toEqual([]);
  });

  test("the feed hands each later commit of a share to its subscribers, in order, until they unsubscribe", () => {
    const notice = (from: number, head: number): CommitNotice => ({ from, head, entries: [] });
    const got: string[] = [];
    const stopA = stores.feed.subscribe("default", 2, (n) => got.push(`A ${n.from}-${n.head}`));
    stores.feed.subscribe("other", 0, (n) => got.push(`other ${n.from}-${n.head}`));
    const stopB = stores.feed.subscribe("default", 0, (n) => {
      got.push(`B ${n.from}-${n.head}`);
      // Unsubscribing while being called is allowed.
      if (n.head === 3) stopB();
    });
    stores.feed.publish("default", notice(0, 2));
    stores.feed.publish("default", notice(2, 3));
    stores.feed.publish("default", notice(3, 5));
    stopA();
    stores.feed.publish("default", notice(5, 6));
    expect(got).toEqual(["B 0-2", "A 2-3", "B 2-3", "A 3-5"]);
  });
});
