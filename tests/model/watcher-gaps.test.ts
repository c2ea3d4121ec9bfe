import { setDefaultTimeout, test } from "bun:test";
import * as fs from "node:fs/promises";
import type { Cluster } from "../helpers/cluster.ts";
import { useTestCluster } from "../helpers/cluster-hooks.ts";
import { sha256, writeFile } from "../helpers/tree.ts";

// Found by the randomized convergence test (seed 1803087796, runs 10 and 11 of 15 with
// --rescan-interval 1h): a client stopped seeing changes in one folder, d0/e0, for good. In
// run 10, C had created d0 and d0/e0 itself, one right after the other, while downloading;
// later a new file in d0/e0 on C never synced; at the end, touching it and writing a fresh
// file beside it raised no event either. @parcel/watcher's inotify backend watches a new
// folder when it handles that folder's create event, and does not look inside it
// (InotifyBackend::watchDir is not recursive; parcel-bundler/watcher#97, #243): a subfolder
// made before that event is handled is never watched. It is a race, lost more often under
// load (four busy processes on two cores), so these tests do not fail reliably; they pin down
// the shapes that lose it (a tree moved in, mkdir -p, nested folders the client downloads).
// The remedy belongs to the client: after folders appear, a fresh subscription (which reads the
// tree and watches every folder), then a rescan for what the gap hid. A tree moved in from
// outside loses every time (only its top folder is watched), so the first test fails reliably
// without that remedy, including when the "fresh" subscription is in fact the old one reused.

setDefaultTimeout(60_000);

const withCluster = useTestCluster({ clients: ["A", "B"] });

async function expectToReach(c: Cluster, from: string, to: string, rel: string, content: string): Promise<void> {
  await writeFile(c.path(from), rel, content);
  await c.waitFor(`${rel} written on ${from} to reach ${to}`, async () => (await c.snapshot(to)).get(rel) === sha256(content) || "not yet", 20_000);
}

test("a file written inside a folder tree moved into the sync folder reaches the other client", async () => {
  await withCluster(async (c) => {
    await fs.mkdir(c.root.join("elsewhere", "project", "src", "lib"), { recursive: true });
    await fs.rename(c.root.join("elsewhere", "project"), c.path("A", "project"));
    await c.waitFor("B to see project/src/lib", async () => (await c.snapshot("B")).get("project/src/lib") === "dir" || "not yet");
    // One after another, each once the previous has arrived: the later ones are written well after
    // any rescan the folder's arrival caused, so only a watch on project/src/lib can see them.
    for (let i = 0; i < 4; i++) await expectToReach(c, "A", "B", `project/src/lib/new-${i}.txt`, `written after the move, ${i}\n`);
  });
});

test("files written inside folders made with mkdir -p reach the other client", async () => {
  await withCluster(async (c) => {
    // Like a program saving a file into a new folder: mkdir -p, then write at once.
    const trees = Array.from({ length: 30 }, (_, i) => `m${i}/x/y`);
    for (const t of trees) {
      await fs.mkdir(c.path("A", t), { recursive: true });
      await fs.writeFile(c.path("A", `${t}/first.txt`), "first\n");
    }
    await c.waitFor("B to see every new folder", async () => {
      const b = await c.snapshot("B");
      const missing = trees.filter((t) => b.get(t) !== "dir");
      return missing.length === 0 || `missing: ${missing.join(", ")}`;
    });
    for (const t of trees) await writeFile(c.path("A"), `${t}/deep.txt`, `deep in ${t}\n`);
    await c.waitFor("every deep file to reach B", async () => {
      const b = await c.snapshot("B");
      const missing = trees.filter((t) => b.get(`${t}/deep.txt`) !== sha256(`deep in ${t}\n`));
      return missing.length === 0 || `missing on B: ${missing.map((t) => `${t}/deep.txt`).join(", ")}`;
    }, 20_000);
  });
});

test("files written inside nested folders the client itself downloaded reach the other client", async () => {
  await withCluster(async (c) => {
    const trees = Array.from({ length: 30 }, (_, i) => `t${i}/u/v`);
    for (const t of trees) await writeFile(c.path("A"), `${t}/seed.txt`, `seed ${t}\n`);
    await c.waitFor("B to get every seed file", async () => {
      const b = await c.snapshot("B");
      const missing = trees.filter((t) => !b.has(`${t}/seed.txt`));
      return missing.length === 0 || `missing: ${missing.length}`;
    });
    for (const t of trees) await writeFile(c.path("B"), `${t}/from-b.txt`, `from B in ${t}\n`);
    await c.waitFor("every file written on B to reach A", async () => {
      const a = await c.snapshot("A");
      const missing = trees.filter((t) => a.get(`${t}/from-b.txt`) !== sha256(`from B in ${t}\n`));
      return missing.length === 0 || `missing on A: ${missing.map((t) => `${t}/from-b.txt`).join(", ")}`;
    }, 20_000);
  });
});
