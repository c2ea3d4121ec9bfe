import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import * as fs from "node:fs/promises";
import { blockStoreUsage, Cluster } from "../helpers/cluster.ts";
import { dumpLogsOnFailure } from "../helpers/spawn-dropsim.ts";
import { writeFile, writeRandomFile, writeRandomFiles } from "../helpers/tree.ts";

// Server + three clients (A, B, C) as separate processes; a change made in one folder must
// reach the other two. Every step waits for the three folders to equal the writer's tree.
setDefaultTimeout(60_000);

let cluster: Cluster;

beforeAll(async () => {
  cluster = await Cluster.start();
}, 60_000);

afterAll(async () => {
  await cluster?.[Symbol.asyncDispose]();
}, 30_000);

/** Waits until every client holds what `name`'s folder holds now. */
async function convergeOn(name: string, modes = false): Promise<void> {
  await cluster.waitForTree(await cluster.snapshot(name, modes), undefined, { modes });
}

describe("basic sync", () => {
  test(
    "a file created, updated and deleted on A is created, updated and deleted on B and C",
    dumpLogsOnFailure(async () => {
      await writeFile(cluster.path("A"), "hello.txt", "hello, world\n");
      await convergeOn("A");
      expect(await Bun.file(cluster.path("C", "hello.txt")).text()).toBe("hello, world\n");

      await writeFile(cluster.path("A"), "hello.txt", "hello again, a longer second version\n");
      await convergeOn("A");
      expect(await Bun.file(cluster.path("B", "hello.txt")).text()).toBe("hello again, a longer second version\n");

      await fs.rm(cluster.path("A", "hello.txt"));
      await convergeOn("A");
      expect(await Bun.file(cluster.path("B", "hello.txt")).exists()).toBe(false);
    }),
  );

  test(
    "a file changed on B reaches A and C",
    dumpLogsOnFailure(async () => {
      await writeFile(cluster.path("B"), "from-b.txt", "written on B\n");
      await convergeOn("B");
    }),
  );

  test(
    "an empty folder and an empty file sync, and so does deleting the folder",
    dumpLogsOnFailure(async () => {
      await fs.mkdir(cluster.path("A", "empty-dir"));
      await writeFile(cluster.path("A"), "empty-file", "");
      await convergeOn("A");
      expect((await fs.stat(cluster.path("C", "empty-dir"))).isDirectory()).toBe(true);
      expect((await fs.stat(cluster.path("C", "empty-file"))).size).toBe(0);

      await fs.rmdir(cluster.path("A", "empty-dir"));
      await convergeOn("A");
    }),
  );

  test(
    "a file nested six folders deep syncs with all its folders",
    dumpLogsOnFailure(async () => {
      await writeFile(cluster.path("C"), "l1/l2/l3/l4/l5/l6/leaf.txt", "deep down\n");
      await convergeOn("C");
      expect(await Bun.file(cluster.path("A", "l1/l2/l3/l4/l5/l6/leaf.txt")).text()).toBe("deep down\n");
    }),
  );

  test(
    "binary content of several blocks arrives byte-identical",
    dumpLogsOnFailure(async () => {
      // 3 MiB: several blocks with the default chunking (64 KiB min, 1 MiB max).
      await writeRandomFile(cluster.path("A"), "bin/random.bin", 3 * 1024 * 1024 + 17);
      await writeRandomFile(cluster.path("A"), "bin/small.bin", 1000);
      await convergeOn("A");
    }),
  );

  test(
    "a file with a non-ASCII name syncs under the same name",
    dumpLogsOnFailure(async () => {
      const name = "résumé 日本.txt";
      await writeFile(cluster.path("A"), name, "ünïcödé contents ✓\n");
      await convergeOn("A");
      expect(await fs.readdir(cluster.path("B"))).toContain(name);
      expect(await Bun.file(cluster.path("C", name)).text()).toBe("ünïcödé contents ✓\n");
    }),
  );

  test(
    "deleting a folder holding 200 files removes it from every replica",
    dumpLogsOnFailure(async () => {
      await writeRandomFiles(cluster.path("A"), "bulk", 150, 2048);
      await writeRandomFiles(cluster.path("A"), "bulk/sub", 50, 2048);
      await convergeOn("A");

      // Deleted on another replica than the one that created it.
      await fs.rm(cluster.path("B", "bulk"), { recursive: true });
      await convergeOn("B");
      for (const name of ["A", "B", "C"]) expect(await Bun.file(cluster.path(name, "bulk/file-000.bin")).exists()).toBe(false);
    }),
  );

  test(
    "renaming a file renames it everywhere",
    dumpLogsOnFailure(async () => {
      await writeFile(cluster.path("A"), "rename/old-name.txt", "same bytes, new name\n");
      await convergeOn("A");
      await fs.rename(cluster.path("A", "rename/old-name.txt"), cluster.path("A", "rename/new-name.txt"));
      await convergeOn("A");
      expect(await Bun.file(cluster.path("C", "rename/old-name.txt")).exists()).toBe(false);
    }),
  );

  test(
    "renaming a folder with files moves them everywhere without storing new blocks",
    dumpLogsOnFailure(async () => {
      for (let i = 0; i < 5; i++) await writeRandomFile(cluster.path("A"), `photos/img-${i}.jpg`, 200_000 + i);
      await writeRandomFile(cluster.path("A"), "photos/2024/summer.jpg", 150_000);
      await convergeOn("A");
      const before = await blockStoreUsage(cluster.server.dataDir);

      await fs.rename(cluster.path("A", "photos"), cluster.path("A", "pictures"));
      await convergeOn("A");
      const tree = await cluster.snapshot("B");
      expect([...tree.keys()].filter((p) => p.startsWith("photos"))).toEqual([]);
      expect(tree.has("pictures/2024/summer.jpg")).toBe(true);

      // The server stored no block again: no new block file, no pack grown.
      const after = await blockStoreUsage(cluster.server.dataDir);
      expect([...after.files].filter((f) => !before.files.has(f))).toEqual([]);
      expect(after.bytes).toBe(before.bytes);
    }),
  );

  test(
    "moving a file to another folder moves it everywhere",
    dumpLogsOnFailure(async () => {
      await writeFile(cluster.path("A"), "inbox/letter.txt", "dear B and C\n");
      await fs.mkdir(cluster.path("A", "archive"));
      await convergeOn("A");
      await fs.rename(cluster.path("A", "inbox/letter.txt"), cluster.path("A", "archive/letter.txt"));
      await convergeOn("A");
      expect(await Bun.file(cluster.path("B", "archive/letter.txt")).text()).toBe("dear B and C\n");
    }),
  );

  test(
    "the executable bit is preserved, for a new file and for chmod +x on a synced one",
    dumpLogsOnFailure(async () => {
      await writeFile(cluster.path("A"), "bin/new-script.sh", "#!/bin/sh\necho new\n");
      await fs.chmod(cluster.path("A", "bin/new-script.sh"), 0o755);
      await writeFile(cluster.path("A"), "bin/later-script.sh", "#!/bin/sh\necho later\n");
      await convergeOn("A", true);

      await fs.chmod(cluster.path("A", "bin/later-script.sh"), 0o755);
      await convergeOn("A", true);
      for (const name of ["B", "C"]) {
        expect((await fs.stat(cluster.path(name, "bin/new-script.sh"))).mode & 0o111).not.toBe(0);
        expect((await fs.stat(cluster.path(name, "bin/later-script.sh"))).mode & 0o111).not.toBe(0);
      }
    }),
  );
});
