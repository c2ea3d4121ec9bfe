import { expect, setDefaultTimeout, test } from "bun:test";
import * as fs from "node:fs/promises";
import { useFileCluster } from "../helpers/cluster-hooks.ts";
import { dumpLogsOnFailure } from "../helpers/spawn-dropsim.ts";
import { allConflictCopies, conflictCopiesOf, sha256, type Tree, writeFile } from "../helpers/tree.ts";

// Two replicas change one file at the same moment. Nobody's edit may be silently dropped:
// one version keeps the name, the other lands in exactly one conflict copy, on every replica.
setDefaultTimeout(60_000);

const cluster = useFileCluster();

/**
 * A round trip through the server from every client: whatever they had queued before is
 * through. Resolves with the agreed tree of `dir`.
 */
async function barrier(dir: string): Promise<Tree> {
  const names = cluster().clients.map((c) => c.name);
  await Promise.all(names.map((n) => writeFile(cluster().path(n, dir), `barrier-${n}.txt`, `barrier ${n}\n`)));
  const tree = await cluster().waitForAgreement(
    "every barrier file has arrived",
    (t) => {
      const missing = names.filter((n) => !t.has(`barrier-${n}.txt`));
      return missing.length === 0 || `barrier files missing from: ${missing.join(", ")}`;
    },
    undefined,
    { under: dir },
  );
  for (const n of names) tree.delete(`barrier-${n}.txt`);
  return tree;
}

test(
  "concurrent edits of one file on A and B leave the file and exactly one conflict copy holding both",
  dumpLogsOnFailure(async () => {
    const dir = "edit-edit";
    await writeFile(cluster().path("A", dir), "doc.txt", "original text\n");
    await cluster().waitForTree(await cluster().snapshot("A", { under: dir }), undefined, { under: dir });

    const fromA = "edited on A at the same time\n";
    const fromB = "edited on B at the same time, differently\n";
    await Promise.all([fs.writeFile(cluster().path("A", `${dir}/doc.txt`), fromA), fs.writeFile(cluster().path("B", `${dir}/doc.txt`), fromB)]);

    const bothPresent = (t: Tree) => {
      const copies = conflictCopiesOf(t, "doc.txt");
      if (copies.length !== 1) return `expected one conflict copy of doc.txt, found ${copies.length}: ${copies.join(", ") || "none"}`;
      const got = [t.get("doc.txt"), t.get(copies[0]!)].sort();
      const want = [sha256(fromA), sha256(fromB)].sort();
      return (got[0] === want[0] && got[1] === want[1]) || "doc.txt and its conflict copy do not hold A's and B's edits";
    };
    await cluster().waitForAgreement("doc.txt and one conflict copy hold A's and B's edits", bothPresent, undefined, { under: dir });

    // Settled, not just passing through: after a round trip from everyone, still exactly that.
    const settled = await barrier(dir);
    expect(bothPresent(settled)).toBe(true);
    expect(allConflictCopies(settled)).toHaveLength(1);
    expect(settled.size).toBe(2);
    // Reported on both sides: the side that kept its bytes aside, and the side that won.
    const copy = allConflictCopies(settled)[0]!;
    const said = (name: string) => cluster().client(name).logs().includes(`"${dir}/${copy}"`) && /Conflict/.test(cluster().client(name).logs());
    expect(said("A")).toBe(true);
    expect(said("B")).toBe(true);
  }),
);

test(
  "a delete on A concurrent with an edit on B keeps the edit everywhere",
  dumpLogsOnFailure(async () => {
    const dir = "delete-edit";
    await writeFile(cluster().path("A", dir), "notes.txt", "notes, first version\n");
    await cluster().waitForTree(await cluster().snapshot("A", { under: dir }), undefined, { under: dir });

    const edit = "notes, edited on B while A deleted them\n";
    await Promise.all([fs.rm(cluster().path("A", `${dir}/notes.txt`)), fs.writeFile(cluster().path("B", `${dir}/notes.txt`), edit)]);

    const holdsEdit = (t: Tree) => t.get("notes.txt") === sha256(edit) || `notes.txt is ${t.get("notes.txt") ?? "absent"}`;
    await cluster().waitForAgreement("notes.txt holds B's edit", holdsEdit, undefined, { under: dir });
    const settled = await barrier(dir);
    expect(holdsEdit(settled)).toBe(true);
    // The edit survives under its own name; there is no second version to keep as a copy.
    expect([...settled.keys()]).toEqual(["notes.txt"]);
  }),
);
