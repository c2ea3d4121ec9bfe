import { expect, setDefaultTimeout, test } from "bun:test";
import * as fs from "node:fs/promises";
import { useFileCluster } from "../helpers/cluster-hooks.ts";
import { dumpLogsOnFailure } from "../helpers/spawn-dropsim.ts";
import { DIR, sha256, type Tree, writeFile, writeFiles } from "../helpers/tree.ts";

// A client that was stopped finds, when it starts again, both what changed in its folder
// while it was not running and what the others changed meanwhile.
setDefaultTimeout(90_000);

const cluster = useFileCluster();

test(
  "changes made on a stopped client and on the others all survive its restart",
  dumpLogsOnFailure(async () => {
    const base: Record<string, string> = {
      "keep.txt": "untouched by anyone\n",
      "c-modifies.txt": "base version, C will change it\n",
      "c-deletes.txt": "C will delete this while offline\n",
      "a-modifies.txt": "base version, A will change it\n",
      "a-deletes.txt": "A will delete this while C is offline\n",
      "dir/a-deletes-inside.txt": "A deletes this one in a folder C has\n",
    };
    await writeFiles(cluster().path("A"), base);
    await cluster().waitForTree(await cluster().snapshot("A"));

    const c = cluster().client("C");
    expect(await c.stop()).toBe(0);

    // While C is down: changes in C's folder, directly on disk…
    await writeFiles(cluster().path("C"), {
      "c-new.txt": "created on C while offline\n",
      "c-new-dir/inner/file.txt": "a new folder tree from C\n",
      "c-modifies.txt": "changed on C while offline, and longer than before\n",
    });
    await fs.rm(cluster().path("C", "c-deletes.txt"));
    // …and on A, synced to B through the server.
    await writeFiles(cluster().path("A"), {
      "a-new.txt": "created on A while C was offline\n",
      "a-modifies.txt": "changed on A while C was offline\n",
    });
    await fs.rm(cluster().path("A", "a-deletes.txt"));
    await fs.rm(cluster().path("A", "dir/a-deletes-inside.txt"));
    await cluster().waitForTree(await cluster().snapshot("A"), ["A", "B"]);

    c.start();

    const expected: Tree = new Map([
      ["keep.txt", sha256(base["keep.txt"]!)],
      ["c-modifies.txt", sha256("changed on C while offline, and longer than before\n")],
      ["a-modifies.txt", sha256("changed on A while C was offline\n")],
      ["c-new.txt", sha256("created on C while offline\n")],
      ["c-new-dir", DIR],
      ["c-new-dir/inner", DIR],
      ["c-new-dir/inner/file.txt", sha256("a new folder tree from C\n")],
      ["a-new.txt", sha256("created on A while C was offline\n")],
      ["dir", DIR],
    ]);
    await cluster().waitForTree(expected);

    // Restarted C is live again, not just caught up: a new change still flows both ways.
    await writeFile(cluster().path("C"), "after-restart.txt", "C is back\n");
    expected.set("after-restart.txt", sha256("C is back\n"));
    await cluster().waitForTree(expected);
  }),
);
