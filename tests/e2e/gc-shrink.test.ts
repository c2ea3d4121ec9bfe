import { expect, setDefaultTimeout, test } from "bun:test";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs/promises";
import { expectFsckClean, placeFile } from "../crash/_lib.ts";
import { useTestCluster } from "../helpers/cluster-hooks.ts";
import { dirBytes } from "../helpers/dir-bytes.ts";
import { dropsimOk } from "../helpers/run-dropsim.ts";
import { writeFiles } from "../helpers/tree.ts";

// Issue 12: a deleted 100 MiB file's space comes back once retention lets its versions go.
// Real processes: a client syncs and deletes it, the operator sets --keep-days 0 and runs
// `dropsim gc` beside the running server (which runs the GC itself), and the data dir shrinks.

setDefaultTimeout(120_000);

const MiB = 1024 * 1024;
const withCluster = useTestCluster({ clients: ["A"] });

test("after deleting a 100 MiB file, keep-days 0 and gc shrink the data dir by at least 90 MiB; fsck is clean and the rest still syncs", async () => {
  await withCluster(async (c) => {
    const dataDir = c.server.dataDir;
    await writeFiles(c.path("A"), { "keep/a.txt": "stays\n", "keep/b.txt": "stays too\n", "notes.md": "# kept\n" });
    await placeFile(c, "A", "big.bin", new Uint8Array(randomBytes(100 * MiB)));
    const A = c.client("A");
    await A.waitForLine(/Uploaded put "big\.bin"/, 90_000);
    await A.waitForLine(/Uploaded put "notes\.md"/);
    const withBig = await dirBytes(dataDir);
    expect(withBig).toBeGreaterThan(100 * MiB);

    await fs.rm(c.path("A", "big.bin"));
    await A.waitForLine(/Uploaded delete "big\.bin"/);
    const expected = await c.snapshot("A");

    await dropsimOk(["share", "set", "default", "--keep-days", "0", "--data", dataDir]);
    const gc = await dropsimOk(["gc", "--data", dataDir], { timeout: 60_000 });
    console.error(`[gc-shrink] dropsim gc said:\n${gc.output}`);
    const after = await dirBytes(dataDir);
    const reclaimed = withBig - after;
    if (reclaimed < 90 * MiB) {
      throw new Error(`The data dir shrank by ${(reclaimed / MiB).toFixed(1)} MiB only (${(withBig / MiB).toFixed(1)} → ${(after / MiB).toFixed(1)} MiB); gc said:\n${gc.output}`);
    }

    await c.server.stop();
    await expectFsckClean(dataDir);
    await c.server.launch();
    c.addClient("B");
    await c.waitForTree(expected, ["A", "B"], { timeout: 30_000 });
  });
});
