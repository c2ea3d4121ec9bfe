import { expect, setDefaultTimeout, test } from "bun:test";
import * as fs from "node:fs/promises";
import { useFileCluster } from "../helpers/cluster-hooks.ts";
import { serverEntries } from "../helpers/raw-client.ts";
import { dumpLogsOnFailure } from "../helpers/spawn-dropsim.ts";
import { DIR, sha256, snapshotTree, type Tree, writeFile } from "../helpers/tree.ts";

// OS metadata, editor swap files and Office lock files stay where they were made, and a
// client's own state folder is never part of the share.
setDefaultTimeout(60_000);

const cluster = useFileCluster({ clients: ["A", "B"] });

const IGNORED = [".DS_Store", "foo.swp", "~$doc.docx", "sub/.DS_Store", "sub/.notes.txt.swp", "sub/~$report.docx"];

test(
  "ignored files created on A never reach the server or B, and stay on A",
  dumpLogsOnFailure(async () => {
    const a = cluster().path("A");
    for (const p of IGNORED) await writeFile(a, p, `ignored ${p}\n`);
    await writeFile(a, "sub/real.txt", "a real file next to ignored ones\n");
    await writeFile(a, "visible.txt", "a real file written after the ignored ones\n");

    const expected: Tree = new Map([
      ["sub", DIR],
      ["sub/real.txt", sha256("a real file next to ignored ones\n")],
      ["visible.txt", sha256("a real file written after the ignored ones\n")],
    ]);
    await cluster().waitForTree(expected, ["B"]);

    // One more change after them: anything A was going to send has been sent by now.
    await writeFile(a, "after.txt", "last\n");
    expected.set("after.txt", sha256("last\n"));
    await cluster().waitForTree(expected, ["B"]);

    const entries = await serverEntries(cluster().server.port);
    expect([...entries.keys()].sort()).toEqual([...expected.keys()].sort());
    for (const p of IGNORED) expect(await Bun.file(cluster().path("A", p)).exists()).toBe(true);
  }),
);

test(
  "the .dropsim state folder is never synced",
  dumpLogsOnFailure(async () => {
    // A file dropped into A's state folder by hand must stay there.
    await writeFile(cluster().path("A"), ".dropsim/planted-by-test.txt", "not for sharing\n");
    await writeFile(cluster().path("A"), "marker.txt", "after the planted file\n");
    await cluster().waitFor("marker.txt to reach B", async () => (await Bun.file(cluster().path("B", "marker.txt")).exists()) || "not yet");

    const entries = await serverEntries(cluster().server.port);
    const leaked = [...entries.keys()].filter((p) => p === ".dropsim" || p.startsWith(".dropsim/"));
    expect(leaked).toEqual([]);
    expect(await Bun.file(cluster().path("B", ".dropsim/planted-by-test.txt")).exists()).toBe(false);

    // Each side's state is its own: B's state folder holds nothing of A's.
    const bState = await snapshotTree(cluster().path("B", ".dropsim"));
    const aState = await snapshotTree(cluster().path("A", ".dropsim"));
    expect(aState.has("planted-by-test.txt")).toBe(true);
    expect(bState.has("planted-by-test.txt")).toBe(false);
    expect((await fs.stat(cluster().path("A", ".dropsim/planted-by-test.txt"))).isFile()).toBe(true);
  }),
);
