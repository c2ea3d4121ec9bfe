import { expect, setDefaultTimeout, test } from "bun:test";
import * as fs from "node:fs/promises";
import { useTestCluster } from "../helpers/cluster-hooks.ts";
import { snapshotTree } from "../helpers/tree.ts";

// Renaming a big folder is one operation on the other replica too: one rename of the folder,
// not one per file, and no block downloaded (issue 9, item 16; its speed is bench W9).

setDefaultTimeout(120_000);

const withCluster = useTestCluster({ clients: ["A", "B"] });
const FILES = 2000;

test("a folder of 2,000 files renamed on A is renamed in one step on B, downloading nothing", async () => {
  await withCluster(async (c) => {
    for (let d = 0; d < 20; d++) {
      await fs.mkdir(c.path("A", `big/sub-${d}`), { recursive: true });
      await Promise.all(Array.from({ length: FILES / 20 }, (_, i) => fs.writeFile(c.path("A", `big/sub-${d}/f-${i}.txt`), `file ${d}/${i}\n`)));
    }
    const before = await snapshotTree(c.path("A"));
    await c.waitForTree(before, ["B"], { timeout: 90_000 });
    const inode = (await fs.stat(c.path("B", "big/sub-7/f-42.txt"))).ino;
    const downloadsBefore = c.client("B").logs().split("\n").filter((l) => l.includes("Downloaded")).length;

    await fs.rename(c.path("A", "big"), c.path("A", "moved"));
    const after = new Map([...before].map(([p, h]) => [p.replace(/^big(?=\/|$)/, "moved"), h]));
    await c.waitForTree(after, ["B"], { timeout: 60_000 });
    // The rename shows in the folder a moment before B logs it (the index is updated between).
    await c.client("B").waitForLine(/Moved "big" to "moved"/);

    const logs = c.client("B").logs().split("\n");
    expect(logs.filter((l) => l.includes("Downloaded")).length).toBe(downloadsBefore);
    expect(logs.filter((l) => /Moved "big/.test(l))).toEqual([expect.stringContaining('Moved "big" to "moved"')]);
    expect((await fs.stat(c.path("B", "moved/sub-7/f-42.txt"))).ino).toBe(inode);
  });
});
