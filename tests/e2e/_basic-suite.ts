import { describe, expect, setDefaultTimeout, test } from "bun:test";
import * as fs from "node:fs/promises";
import { useFileCluster } from "../helpers/cluster-hooks.ts";
import { scrapeMetric } from "../helpers/metrics.ts";
import { dumpLogsOnFailure, type TestStore } from "../helpers/spawn-dropsim.ts";
import { type Tree, writeFile, writeRandomFile, writeRandomFiles } from "../helpers/tree.ts";

/**
 * Server + three clients (A, B, C) as separate processes; a change made in one folder must
 * reach the other two. Each test works in a folder of its own and compares only that
 * subtree, so one test's failure cannot make the next ones fail. Run by basic.test.ts on the
 * server's data dir and by basic-memory.test.ts on its in-memory stores.
 */
export function describeBasicSync(store?: TestStore): void {
  setDefaultTimeout(60_000);

  /** One folder per test, made in advance and synced while idle: a test's own folders are then one level down. */
  const TEST_DIRS = ["t-file", "t-empty", "t-deep", "t-binary", "t-unicode", "t-bulk", "t-rename-file", "t-rename-folder", "t-move", "t-exec", "t-together", "t-from-b"];

  const cluster = useFileCluster({
    store,
    prepare: async (c) => {
      for (const t of TEST_DIRS) await fs.mkdir(c.path("A", t));
      await c.waitForTree(await c.snapshot("A"));
    },
  });

  /** Waits until every client's `dir` holds what `name`'s `dir` holds now. */
  async function convergeOn(name: string, dir: string, modes = false): Promise<Tree> {
    const expected = await cluster().snapshot(name, { under: dir, modes });
    await cluster().waitForTree(expected, undefined, { under: dir, modes });
    return expected;
  }

  /** `rel` inside `dir` of client `name`. */
  function at(name: string, dir: string, rel = ""): string {
    return cluster().path(name, `${dir}/${rel}`);
  }

  describe("basic sync", () => {
    test(
      "a file created, updated and deleted on A is created, updated and deleted on B and C",
      dumpLogsOnFailure(async () => {
        const t = "t-file";
        await writeFile(at("A", t), "hello.txt", "hello, world\n");
        await convergeOn("A", t);
        expect(await Bun.file(at("C", t, "hello.txt")).text()).toBe("hello, world\n");

        await writeFile(at("A", t), "hello.txt", "hello again, a longer second version\n");
        await convergeOn("A", t);
        expect(await Bun.file(at("B", t, "hello.txt")).text()).toBe("hello again, a longer second version\n");

        await fs.rm(at("A", t, "hello.txt"));
        expect((await convergeOn("A", t)).size).toBe(0);
      }),
    );

    test(
      "a file created on B reaches A and C",
      dumpLogsOnFailure(async () => {
        await writeFile(at("B", "t-from-b"), "from-b.txt", "written on B\n");
        await convergeOn("B", "t-from-b");
      }),
    );

    test(
      "an empty folder and an empty file sync, and so does deleting the folder",
      dumpLogsOnFailure(async () => {
        const t = "t-empty";
        await fs.mkdir(at("A", t, "empty-dir"));
        await writeFile(at("A", t), "empty-file", "");
        await convergeOn("A", t);
        expect((await fs.stat(at("C", t, "empty-dir"))).isDirectory()).toBe(true);
        expect((await fs.stat(at("C", t, "empty-file"))).size).toBe(0);

        await fs.rmdir(at("A", t, "empty-dir"));
        await convergeOn("A", t);
      }),
    );

    test(
      "a file nested six folders deep syncs with all its folders, and so do later edits inside",
      dumpLogsOnFailure(async () => {
        const t = "t-deep";
        // The six folders are created at once (mkdir -p), like an unzip or a git checkout. On
        // Linux a watcher must then watch folders it was never told about (parcel-bundler/watcher#97).
        await writeFile(at("C", t), "l1/l2/l3/l4/l5/l6/leaf.txt", "deep down\n");
        await convergeOn("C", t);
        expect(await Bun.file(at("A", t, "l1/l2/l3/l4/l5/l6/leaf.txt")).text()).toBe("deep down\n");

        // The new folders are watched too: a change inside them later is noticed.
        await writeFile(at("C", t), "l1/l2/l3/l4/l5/l6/leaf.txt", "deep down, edited later\n");
        await writeFile(at("C", t), "l1/l2/l3/l4/l5/l6/sibling.txt", "added later\n");
        await convergeOn("C", t);
      }),
    );

    test(
      "binary content of several blocks arrives byte-identical",
      dumpLogsOnFailure(async () => {
        const t = "t-binary";
        // 3 MiB: several blocks with the default chunking (64 KiB min, 1 MiB max).
        await writeRandomFile(at("A", t), "random.bin", 3 * 1024 * 1024 + 17);
        await writeRandomFile(at("A", t), "small.bin", 1000);
        await convergeOn("A", t);
      }),
    );

    test(
      "a file with a non-ASCII name syncs under the same name",
      dumpLogsOnFailure(async () => {
        const t = "t-unicode";
        const name = "résumé 日本.txt";
        await writeFile(at("A", t), name, "ünïcödé contents ✓\n");
        await convergeOn("A", t);
        expect(await fs.readdir(at("B", t))).toEqual([name]);
        expect(await Bun.file(at("C", t, name)).text()).toBe("ünïcödé contents ✓\n");
      }),
    );

    test(
      "deleting a folder holding 200 files removes it from every replica",
      dumpLogsOnFailure(async () => {
        const t = "t-bulk";
        await writeRandomFiles(at("A", t), "bulk", 150, 2048);
        await writeRandomFiles(at("A", t), "bulk/sub", 50, 2048);
        expect((await convergeOn("A", t)).size).toBe(202);

        // Deleted on another replica than the one that created it.
        await fs.rm(at("B", t, "bulk"), { recursive: true });
        expect((await convergeOn("B", t)).size).toBe(0);
      }),
    );

    test(
      "renaming a file renames it everywhere",
      dumpLogsOnFailure(async () => {
        const t = "t-rename-file";
        await writeFile(at("A", t), "old-name.txt", "same bytes, new name\n");
        await convergeOn("A", t);
        await fs.rename(at("A", t, "old-name.txt"), at("A", t, "new-name.txt"));
        expect([...(await convergeOn("A", t)).keys()]).toEqual(["new-name.txt"]);
      }),
    );

    test(
      "renaming a folder with files moves them everywhere without storing new blocks",
      dumpLogsOnFailure(async () => {
        const t = "t-rename-folder";
        for (let i = 0; i < 5; i++) await writeRandomFile(at("A", t), `photos/img-${i}.jpg`, 200_000 + i);
        await writeRandomFile(at("A", t), "photos/2024/summer.jpg", 150_000);
        await convergeOn("A", t);
        const stored = () => scrapeMetric(cluster().server.metricsUrl, "dropsim_blocks_stored_total");
        const before = await stored();

        await fs.rename(at("A", t, "photos"), at("A", t, "pictures"));
        const tree = await convergeOn("A", t);
        expect([...tree.keys()].filter((p) => p.startsWith("photos"))).toEqual([]);
        expect(tree.has("pictures/2024/summer.jpg")).toBe(true);

        // The server stored no block again: none was even uploaded.
        expect(await stored()).toBe(before);
      }),
    );

    test(
      "moving a file to another folder moves it everywhere",
      dumpLogsOnFailure(async () => {
        const t = "t-move";
        await writeFile(at("A", t), "inbox/letter.txt", "dear B and C\n");
        await fs.mkdir(at("A", t, "archive"));
        await convergeOn("A", t);
        await fs.rename(at("A", t, "inbox/letter.txt"), at("A", t, "archive/letter.txt"));
        await convergeOn("A", t);
        expect(await Bun.file(at("B", t, "archive/letter.txt")).text()).toBe("dear B and C\n");
      }),
    );

    test(
      "the executable bit is preserved, for a new file and for chmod +x on a synced one",
      dumpLogsOnFailure(async () => {
        const t = "t-exec";
        await writeFile(at("A", t), "new-script.sh", "#!/bin/sh\necho new\n");
        await fs.chmod(at("A", t, "new-script.sh"), 0o755);
        await writeFile(at("A", t), "later-script.sh", "#!/bin/sh\necho later\n");
        await convergeOn("A", t, true);

        await fs.chmod(at("A", t, "later-script.sh"), 0o755);
        await convergeOn("A", t, true);
        for (const name of ["B", "C"]) {
          expect((await fs.stat(at(name, t, "new-script.sh"))).mode & 0o111).not.toBe(0);
          expect((await fs.stat(at(name, t, "later-script.sh"))).mode & 0o111).not.toBe(0);
        }
      }),
    );

    test(
      "files written on A, B and C at the same moment all reach every replica intact",
      dumpLogsOnFailure(async () => {
        const t = "t-together";
        // Three sessions upload blocks to the server concurrently: each block must be stored and
        // served back with exactly its own bytes. Last in this file: a crash here would fail the rest.
        await Promise.all(["A", "B", "C"].map((n) => writeRandomFiles(at(n, t), n, 30, 300_000)));
        const expected: Tree = new Map();
        for (const n of ["A", "B", "C"]) for (const [p, v] of await cluster().snapshot(n, { under: t })) if (p === n || p.startsWith(`${n}/`)) expected.set(p, v);
        expect(expected.size).toBe(93);
        await cluster().waitForTree(expected, undefined, { under: t });
      }),
    );
  });
}
