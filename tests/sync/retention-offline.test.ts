import { expect, setDefaultTimeout, test } from "bun:test";
import * as fs from "node:fs/promises";
import { useTestCluster } from "../helpers/cluster-hooks.ts";
import { dropsimOk } from "../helpers/run-dropsim.ts";
import type { ClientProcess } from "../helpers/spawn-dropsim.ts";
import { conflictCopiesOf, describeTree, writeFile, writeFiles } from "../helpers/tree.ts";
import { waitFor } from "../helpers/wait-for.ts";

// Issue 12: a client that was away while retention dropped the journal rows after its cursor
// (keep-days 0 and gc) is told its cursor expired, resyncs from the current tree and converges.
// It keeps its own files, so what was deleted elsewhere meanwhile may come back: nothing is lost.

setDefaultTimeout(120_000);

const withCluster = useTestCluster({ clients: ["A", "B"] });

/** Waits until `client` has logged `count` uploads of `op` on `path` (each edit is its own commit). */
async function uploaded(client: ClientProcess, op: string, path: string, count = 1): Promise<void> {
  const re = new RegExp(`Uploaded ${op} "${path.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}" → version \\d+`, "g");
  await waitFor(`${client.name} to upload ${op} "${path}" ${count} time(s)`, () => {
    const n = [...client.logs().matchAll(re)].length;
    return n >= count || `${n} so far`;
  });
}

test("a client offline past retention is told to resync, and both clients converge without losing any file of the other", async () => {
  await withCluster(async (c) => {
    await writeFiles(c.path("A"), {
      "edited.txt": "v1\n",
      "deleted.txt": "will be deleted on A\n",
      "folder/gone-1.txt": "folder deleted on A\n",
      "folder/gone-2.txt": "folder deleted on A\n",
      "same.txt": "never changes\n",
    });
    await c.waitForTree(await c.snapshot("A"));

    const B = c.client("B");
    expect(await B.stop()).toBe(0);
    const A = c.client("A");
    await writeFile(c.path("A"), "edited.txt", "v2\n");
    await uploaded(A, "put", "edited.txt", 2);
    await writeFile(c.path("A"), "edited.txt", "v3, the one A keeps\n");
    await uploaded(A, "put", "edited.txt", 3);
    await fs.rm(c.path("A", "deleted.txt"));
    await fs.rm(c.path("A", "folder"), { recursive: true });
    await writeFile(c.path("A"), "new-on-a.txt", "made while B was away\n");
    await uploaded(A, "delete", "deleted.txt");
    await uploaded(A, "delete", "folder");
    await uploaded(A, "put", "new-on-a.txt");
    const aTree = await c.snapshot("A");

    const dataDir = c.server.dataDir;
    await dropsimOk(["share", "set", "default", "--keep-days", "0", "--data", dataDir]);
    const gc = await dropsimOk(["gc", "--data", dataDir], { timeout: 60_000 });
    console.error(`[retention-offline] dropsim gc said:\n${gc.output}`);

    B.start();
    const resync = await B.waitForLine(/Not trusting what this folder last synced: (.*)/, 30_000);
    console.error(`[retention-offline] B: ${resync[0]}`);
    expect(resync[1]).not.toMatch(/id changed|older backup/);

    const agreed = await c.waitForAgreement("every file of A is kept", (tree) => {
      const lost = [...aTree].filter(([p, h]) => tree.get(p) !== h && !conflictCopiesOf(tree, p).some((copy) => tree.get(copy) === h));
      return lost.length === 0 || `A's ${lost.map(([p]) => p).join(", ")} lost (its content at no path nor conflict copy)`;
    }, ["A", "B"], { timeout: 45_000 });
    console.error(`[retention-offline] agreed tree: ${describeTree(agreed)}`);
    // B never touched edited.txt: A's newer edit wins outright, B's stale copy is no change of its own.
    expect(agreed.get("edited.txt")).toBe(aTree.get("edited.txt")!);
    expect(conflictCopiesOf(agreed, "edited.txt")).toEqual([]);
  });
});
