import { expect, test } from "bun:test";
import * as fs from "node:fs/promises";
import { useTestCluster } from "../helpers/cluster-hooks.ts";
import { serverEntries } from "../helpers/raw-client.ts";
import { sha256, type Tree } from "../helpers/tree.ts";

const inCluster = useTestCluster({ clients: ["A", "B"] });

test("edits of .dropsimignore apply while running, are logged, and never delete what was synced", () =>
  inCluster(async (cluster) => {
    const a = (rel: string) => cluster.path("A", rel);
    const expected: Tree = new Map([["kept.log", sha256("synced before the rule\n")]]);
    await fs.writeFile(a("kept.log"), "synced before the rule\n");
    await cluster.waitForTree(expected, ["B"]);

    await fs.writeFile(a(".dropsimignore"), "# logs stay here\n*.log\n");
    await cluster.client("A").waitForLine(/Ignore rules changed: 1 rule from \.dropsimignore/);
    expected.set(".dropsimignore", sha256("# logs stay here\n*.log\n"));

    await fs.writeFile(a("x.log"), "ignored now\n");
    await fs.writeFile(a("y.txt"), "not ignored\n");
    expected.set("y.txt", sha256("not ignored\n"));
    await cluster.waitForTree(expected, ["B"]);
    // One more change after them: anything A was going to send about x.log has been sent.
    await fs.writeFile(a("marker.txt"), "after x.log\n");
    expected.set("marker.txt", sha256("after x.log\n"));
    await cluster.waitForTree(expected, ["B"]);
    const entries = await serverEntries(cluster.server.port);
    expect(entries.has("x.log")).toBe(false);
    // A file that became ignored stays on the server and on B as it was synced.
    expect(entries.has("kept.log")).toBe(true);
    expect(await fs.exists(a("x.log"))).toBe(true);

    await fs.writeFile(a(".dropsimignore"), "# logs are shared again\n");
    expected.set(".dropsimignore", sha256("# logs are shared again\n"));
    expected.set("x.log", sha256("ignored now\n"));
    await cluster.waitForTree(expected, ["A", "B"]);
    await cluster.client("A").waitForLine(/Ignore rules changed: 0 rules from \.dropsimignore/);
  }), 60_000);
