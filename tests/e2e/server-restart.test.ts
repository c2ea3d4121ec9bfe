import { expect, setDefaultTimeout, test } from "bun:test";
import * as fs from "node:fs/promises";
import { useFileCluster } from "../helpers/cluster-hooks.ts";
import { dumpLogsOnFailure } from "../helpers/spawn-dropsim.ts";
import { writeFile, writeFiles } from "../helpers/tree.ts";

// The server goes away under running clients and comes back on the same port with the same
// data dir: clients reconnect by themselves, and what was changed meanwhile gets through.
setDefaultTimeout(90_000);

const cluster = useFileCluster();

test(
  "clients reconnect after a server restart and converge with changes made while it was down",
  dumpLogsOnFailure(async () => {
    await writeFiles(cluster().path("A"), {
      "before.txt": "synced before the restart\n",
      "to-modify.txt": "first version\n",
      "to-delete.txt": "deleted while the server is down\n",
      "folder/inside.txt": "in a folder\n",
    });
    await cluster().waitForTree(await cluster().snapshot("A"));

    const port = cluster().server.port;
    expect(await cluster().server.stop()).toBe(0);

    await writeFiles(cluster().path("A"), {
      "during-a.txt": "created on A while the server was down\n",
      "to-modify.txt": "second version, written while the server was down\n",
    });
    await fs.rm(cluster().path("A", "to-delete.txt"));
    await writeFile(cluster().path("B"), "folder/during-b.txt", "created on B while the server was down\n");

    await cluster().server.launch();
    expect(cluster().server.port).toBe(port);

    const expected = await cluster().snapshot("A");
    expected.set("folder/during-b.txt", (await cluster().snapshot("B")).get("folder/during-b.txt")!);
    await cluster().waitForTree(expected, undefined, { timeout: 45_000 });

    // The data dir kept everything: a brand-new client gets the whole tree from the server.
    cluster().addClient("D");
    await cluster().waitForTree(expected, undefined, { timeout: 30_000 });
  }),
);
