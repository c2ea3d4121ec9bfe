import { expect, setDefaultTimeout, test } from "bun:test";
import * as fs from "node:fs/promises";
import { useFileCluster } from "../helpers/cluster-hooks.ts";
import { serverEntries } from "../helpers/raw-client.ts";
import { ClientProcess, dumpLogs } from "../helpers/spawn-dropsim.ts";
import { sha256, type Tree, writeFile } from "../helpers/tree.ts";

// Deleting many files at once (more than --mass-delete-limit paths and more than half of the
// folder) is held and reported; smaller deletions, and everything else, keep syncing; a
// client started with --allow-mass-delete sends them. The tests share one cluster, in order.

setDefaultTimeout(90_000);

const LIMIT = 5;
const ARGS = ["--rescan-interval", "1h", "--verbose", "--mass-delete-limit", String(LIMIT)];
const expected: Tree = new Map([
  ["data", "dir"],
  ["bulk", "dir"],
]);

const cluster = useFileCluster({
  clients: ["A", "B"],
  clientArgs: ARGS,
  timeout: 90_000,
  prepare: async (c) => {
    for (let i = 0; i < 30; i++) {
      const rel = i < 18 ? `data/file-${String(i).padStart(2, "0")}.txt` : `bulk/file-${String(i).padStart(2, "0")}.txt`;
      expected.set(rel, await writeFile(c.path("A"), rel, `file ${i}\n`));
    }
    await c.waitForTree(expected);
  },
});

async function step(fn: () => Promise<void>): Promise<void> {
  try {
    await fn();
  } catch (e) {
    dumpLogs(cluster().processes, 60);
    throw e;
  }
}

async function deleteOnA(indexes: number[]): Promise<void> {
  for (const i of indexes) {
    const rel = `data/file-${String(i).padStart(2, "0")}.txt`;
    await fs.rm(cluster().path("A", rel));
    expected.delete(rel);
  }
}

test("deleting no more than the limit goes through", async () => {
  await step(async () => {
    await deleteOnA([0, 1, 2, 3]);
    await cluster().waitForTree(expected);
  });
});

test("deleting more than the limit but less than half of the folder goes through", async () => {
  await step(async () => {
    await deleteOnA([4, 5, 6, 7, 8, 9, 10, 11]); // 8 of 28 synced paths
    await cluster().waitForTree(expected);
  });
});

test("deleting more than the limit and more than half of the folder is held and reported; other changes still sync", async () => {
  await step(async () => {
    const before = new Map(expected);
    // bulk/ and its 12 files (13 of the 20 synced paths) leave the folder in one rename, so
    // the client sees them go all at once.
    await fs.rename(cluster().path("A", "bulk"), cluster().root.join("bulk-moved-away"));
    for (const p of [...expected.keys()]) if (p === "bulk" || p.startsWith("bulk/")) expected.delete(p);
    await cluster().client("A").waitForLine(/Holding 13 local deletions/);
    // Everything else keeps syncing, both ways.
    await writeFile(cluster().path("A"), "while-held-A.txt", "from A\n");
    await writeFile(cluster().path("B"), "while-held-B.txt", "from B\n");
    await cluster().waitFor("the files written meanwhile to cross", async () => {
      const [a, b] = await Promise.all([cluster().snapshot("A"), cluster().snapshot("B")]);
      return (a.has("while-held-B.txt") && b.has("while-held-A.txt")) || "not yet";
    });
    const entries = await serverEntries(cluster().server.port);
    const b = await cluster().snapshot("B");
    for (const [p, v] of before) {
      expect(entries.has(p)).toBe(true);
      expect(b.get(p)).toBe(v);
    }
    expect(cluster().client("A").logs()).toMatch(/--confirm-deletes/);
  });
});

test("a small deletion made during a hold still reaches the server, and the held ones stay held", async () => {
  await step(async () => {
    await deleteOnA([12]);
    await cluster().waitFor(
      "the small deletion to reach the server within 5 s",
      async () => !(await serverEntries(cluster().server.port)).has("data/file-12.txt") || "still on the server",
      5_000,
    );
    expect((await serverEntries(cluster().server.port)).has("bulk/file-20.txt")).toBe(true);
  });
});

test("restarted with --confirm-deletes, the held deletions go through, and only those", async () => {
  await step(async () => {
    const a = cluster().client("A");
    await a.stop();
    const confirmed = new ClientProcess({ folder: a.folder, server: cluster().server.address, name: "A-confirmed", extraArgs: [...ARGS, "--confirm-deletes"] });
    confirmed.start();
    try {
      expected.set("while-held-A.txt", sha256("from A\n"));
      expected.set("while-held-B.txt", sha256("from B\n"));
      await cluster().waitFor("B to lose the held files", async () => {
        const b = await cluster().snapshot("B");
        const fresh = new Map(expected);
        for (const p of fresh.keys()) if (!b.has(p)) return `B lacks ${p}`;
        const extra = [...b.keys()].filter((p) => !fresh.has(p));
        return extra.length === 0 || `B still has ${extra.length} path(s), e.g. ${extra[0]}`;
      });
      const entries = await serverEntries(cluster().server.port);
      expect(entries.has("bulk/file-20.txt")).toBe(false);
      expect(entries.has("bulk")).toBe(false);
      expect(entries.has("data/file-17.txt")).toBe(true);

      // The confirmation was for that set only: the next mass deletion is held again.
      await fs.rename(cluster().path("A", "data"), cluster().root.join("data-moved-away"));
      await confirmed.waitForLine(/Holding 6 local deletions/);
      expect((await serverEntries(cluster().server.port)).has("data/file-17.txt")).toBe(true);
    } finally {
      await confirmed[Symbol.asyncDispose]();
    }
  });
});
