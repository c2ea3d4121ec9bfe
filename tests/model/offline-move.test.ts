import { expect, setDefaultTimeout, test } from "bun:test";
import * as fs from "node:fs/promises";
import { useTestCluster } from "../helpers/cluster-hooks.ts";
import { serverEntries } from "../helpers/raw-client.ts";
import { sha256, writeFile } from "../helpers/tree.ts";

// Regression, found by the randomized convergence test (seed 1141048988, run 15, --rescan-interval 5s):
// A renamed folder d0/e0 while offline; meanwhile B and C edited d0/e0/n1.txt. Back online,
// A's move was accepted and the server moved the *edited* file; A recorded that edited entry
// as the synced state of its own, older copy (SyncEngine.settle: a moved child whose local
// stat is unchanged is put in the index with the server's entry, without comparing the
// server's content with what A had synced). A then never downloads the edit, the replicas
// differ for good, and A's next edit of the file is accepted on top of the stale bytes: the
// other clients' edit is silently overwritten.

setDefaultTimeout(60_000);

const withCluster = useTestCluster({ clients: ["A", "B"] });

test("a folder renamed offline while a file inside was edited elsewhere: the edit survives the move, and A's later edit keeps it", async () => {
  await withCluster(async (c) => {
    const v1 = "v1\n";
    await writeFile(c.path("B"), "dir/f.txt", v1);
    await c.waitForTree(new Map([["dir", "dir"], ["dir/f.txt", sha256(v1)]]));

    const a = c.client("A");
    await a.stop();
    const v2 = `${v1}edit by B while A was offline\n`;
    await fs.appendFile(c.path("B", "dir/f.txt"), "edit by B while A was offline\n");
    // B's first upload of the file logs the same line: wait for the edit itself to be on the server.
    const uploads = () => c.client("B").logs().split("\n").filter((l) => l.includes('Uploaded put "dir/f.txt"')).length;
    await c.waitFor("B to upload its edit", () => uploads() === 2 || `${uploads()} uploads of dir/f.txt so far`);
    await fs.rename(c.path("A", "dir"), c.path("A", "dir-moved"));
    a.start();

    // The server moved B's edited file; A must end up with it too.
    await c.waitFor("the server to hold dir-moved/f.txt", async () => (await serverEntries(c.server.port)).has("dir-moved/f.txt") || "not yet");
    await c.waitForAgreement("dir-moved/f.txt holds B's edit", (t) => t.get("dir-moved/f.txt") === sha256(v2) || `dir-moved/f.txt is ${t.get("dir-moved/f.txt")}`, undefined, {
      timeout: 8_000,
    });

    // And an edit made on A afterwards keeps B's.
    await fs.appendFile(c.path("A", "dir-moved/f.txt"), "edit by A\n");
    const v3 = `${v2}edit by A\n`;
    await c.waitForAgreement("dir-moved/f.txt holds both edits", (t) => t.get("dir-moved/f.txt") === sha256(v3) || `dir-moved/f.txt is ${t.get("dir-moved/f.txt")}`);
    expect(await fs.readFile(c.path("B", "dir-moved/f.txt"), "utf8")).toContain("edit by B");
  });
});
