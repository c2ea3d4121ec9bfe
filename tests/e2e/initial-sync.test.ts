import { expect, setDefaultTimeout, test } from "bun:test";
import { useFileCluster } from "../helpers/cluster-hooks.ts";
import { serverEntries } from "../helpers/raw-client.ts";
import { dumpLogsOnFailure } from "../helpers/spawn-dropsim.ts";
import { conflictCopiesOf, DIR, describeTree, type Tree, writeFile, writeRandomFile } from "../helpers/tree.ts";

// A client joining a share that already has content, with different content of its own:
// it downloads what the server has, uploads what only it has, and a path both hold with
// different bytes becomes a conflict copy. Nothing is lost on either side.
setDefaultTimeout(60_000);

const cluster = useFileCluster({ clients: ["A"] });

test(
  "a new client with its own files merges with the server's: downloads, uploads, and a conflict copy",
  dumpLogsOnFailure(async () => {
    const a = cluster().path("A");
    const fromA = {
      "docs/readme.md": await writeFile(a, "docs/readme.md", "# written on A\n"),
      "docs/deep/nested/a.txt": await writeFile(a, "docs/deep/nested/a.txt", "nested, from A\n"),
      "a-data.bin": await writeRandomFile(a, "a-data.bin", 700_000),
      "same.txt": await writeFile(a, "same.txt", "same.txt as written on A\n"),
    };
    // The server holds A's files before B ever starts.
    await cluster().waitFor("the server to hold A's files", async () => {
      const entries = await serverEntries(cluster().server.port);
      const missing = Object.keys(fromA).filter((p) => entries.get(p)?.kind !== "file");
      return missing.length === 0 || `missing on the server: ${missing.join(", ")}; it has: ${[...entries.keys()].join(", ")}`;
    });

    // B's folder exists with its own content before its client first runs.
    const b = cluster().root.join("B");
    const fromB = {
      "b-only/notes.txt": await writeFile(b, "b-only/notes.txt", "only B had this\n"),
      "b-data.bin": await writeRandomFile(b, "b-data.bin", 500_000),
      "same.txt": await writeFile(b, "same.txt", "same.txt as written on B, different bytes\n"),
    };
    cluster().addClient("B", b);

    const tree = await cluster().waitForAgreement(
      "every file of A and B is present and same.txt has one conflict copy",
      (t: Tree) => {
        for (const [p, h] of Object.entries({ ...fromA, ...fromB })) {
          if (p === "same.txt") continue;
          if (t.get(p) !== h) return `"${p}" is ${t.get(p) ?? "absent"}, expected ${h.slice(0, 12)}`;
        }
        const copies = conflictCopiesOf(t, "same.txt");
        if (copies.length !== 1) return `expected one conflict copy of same.txt, found ${copies.length}: ${copies.join(", ")}`;
        const both = [t.get("same.txt"), t.get(copies[0]!)].sort();
        const want = [fromA["same.txt"], fromB["same.txt"]].sort();
        if (both[0] !== want[0] || both[1] !== want[1]) return "same.txt and its conflict copy do not hold A's and B's contents";
        return true;
      },
    );

    // The server's version keeps the name; the newcomer's bytes go to the copy (DESIGN §6).
    expect(tree.get("same.txt")).toBe(fromA["same.txt"]);
    expect(tree.get(conflictCopiesOf(tree, "same.txt")[0]!)).toBe(fromB["same.txt"]);
    // Nothing else appeared: the tree is exactly both sides' files, their folders and one copy.
    const expectedPaths = new Set([
      ...Object.keys(fromA),
      ...Object.keys(fromB),
      "docs",
      "docs/deep",
      "docs/deep/nested",
      "b-only",
      conflictCopiesOf(tree, "same.txt")[0]!,
    ]);
    expect([...tree.keys()].sort(), describeTree(tree)).toEqual([...expectedPaths].sort());
    for (const d of ["docs", "docs/deep/nested", "b-only"]) expect(tree.get(d)).toBe(DIR);

    // And the server agrees: every path, including the conflict copy, is committed.
    const entries = await serverEntries(cluster().server.port);
    expect([...entries.keys()].sort()).toEqual([...expectedPaths].sort());
  }),
);
