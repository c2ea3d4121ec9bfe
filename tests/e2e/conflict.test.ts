import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import * as fs from "node:fs/promises";
import { Cluster } from "../helpers/cluster.ts";
import { dumpLogsOnFailure } from "../helpers/spawn-dropsim.ts";
import { allConflictCopies, conflictCopiesOf, sha256, type Tree, writeFile } from "../helpers/tree.ts";

// Two replicas change one file at the same moment. Nobody's edit may be silently dropped:
// one version keeps the name, the other lands in exactly one conflict copy, on every replica.
setDefaultTimeout(60_000);

let cluster: Cluster;

beforeAll(async () => {
  cluster = await Cluster.start();
}, 60_000);

afterAll(async () => {
  await cluster?.[Symbol.asyncDispose]();
}, 30_000);

/** A round trip through the server from every client: whatever they had queued before is through. */
async function barrier(tag: string): Promise<Tree> {
  const names = cluster.clients.map((c) => c.name);
  await Promise.all(names.map((n) => writeFile(cluster.path(n), `barrier-${tag}-${n}.txt`, `${tag} ${n}\n`)));
  return cluster.waitForAgreement(`every barrier-${tag} file has arrived`, (t) => {
    const missing = names.filter((n) => !t.has(`barrier-${tag}-${n}.txt`));
    return missing.length === 0 || `barrier files missing from: ${missing.join(", ")}`;
  });
}

test(
  "concurrent edits of one file on A and B leave the file and exactly one conflict copy holding both",
  dumpLogsOnFailure(async () => {
    await writeFile(cluster.path("A"), "doc.txt", "original text\n");
    await cluster.waitForTree(await cluster.snapshot("A"));

    const fromA = "edited on A at the same time\n";
    const fromB = "edited on B at the same time, differently\n";
    await Promise.all([fs.writeFile(cluster.path("A", "doc.txt"), fromA), fs.writeFile(cluster.path("B", "doc.txt"), fromB)]);

    const bothPresent = (t: Tree) => {
      const copies = conflictCopiesOf(t, "doc.txt");
      if (copies.length !== 1) return `expected one conflict copy of doc.txt, found ${copies.length}: ${copies.join(", ") || "none"}`;
      const got = [t.get("doc.txt"), t.get(copies[0]!)].sort();
      const want = [sha256(fromA), sha256(fromB)].sort();
      return (got[0] === want[0] && got[1] === want[1]) || "doc.txt and its conflict copy do not hold A's and B's edits";
    };
    await cluster.waitForAgreement("doc.txt and one conflict copy hold A's and B's edits", bothPresent);

    // Settled, not just passing through: after a round trip from everyone, still exactly that.
    const settled = await barrier("edit-edit");
    expect(bothPresent(settled)).toBe(true);
    expect(allConflictCopies(settled)).toHaveLength(1);
  }),
);

test(
  "a delete on A concurrent with an edit on B keeps the edit everywhere",
  dumpLogsOnFailure(async () => {
    await writeFile(cluster.path("A"), "notes.txt", "notes, first version\n");
    await cluster.waitFor("notes.txt to reach B and C", async () => {
      for (const n of ["B", "C"]) if ((await cluster.snapshot(n)).get("notes.txt") !== sha256("notes, first version\n")) return `not yet on ${n}`;
      return true;
    });

    const edit = "notes, edited on B while A deleted them\n";
    await Promise.all([fs.rm(cluster.path("A", "notes.txt")), fs.writeFile(cluster.path("B", "notes.txt"), edit)]);

    await cluster.waitForAgreement("notes.txt holds B's edit", (t) => t.get("notes.txt") === sha256(edit) || `notes.txt is ${t.get("notes.txt") ?? "absent"}`);
    const settled = await barrier("delete-edit");
    expect(settled.get("notes.txt")).toBe(sha256(edit));
    // The edit survives under its own name; there is no second version to keep as a copy.
    expect(conflictCopiesOf(settled, "notes.txt")).toEqual([]);
  }),
);
