import { expect, setDefaultTimeout, test } from "bun:test";
import * as fs from "node:fs/promises";
import { useTestCluster } from "../helpers/cluster-hooks.ts";
import { serverEntries } from "../helpers/raw-client.ts";
import { sha256, writeFile } from "../helpers/tree.ts";

// A remote deletion never removes a local file with unsynced changes (edit beats delete), and
// a remote edit of a file deleted locally brings it back: no edit is ever silently dropped.

setDefaultTimeout(90_000);

const withCluster = useTestCluster({ clients: ["A", "B"] });

test("a file deleted remotely while it was edited offline is kept, with the edit, everywhere", async () => {
  await withCluster(async (c) => {
    await writeFile(c.path("A"), "report.txt", "v1\n");
    await writeFile(c.path("A"), "notes/plan.txt", "plan v1\n");
    await c.waitForTree(new Map([["report.txt", sha256("v1\n")], ["notes", "dir"], ["notes/plan.txt", sha256("plan v1\n")]]));
    const a = c.client("A");
    await a.stop();
    await fs.rm(c.path("B", "report.txt"));
    await fs.rm(c.path("B", "notes"), { recursive: true });
    await c.waitFor("the server to hold the deletions", async () => {
      const e = await serverEntries(c.server.port);
      return (!e.has("report.txt") && !e.has("notes/plan.txt")) || "not yet";
    });
    await writeFile(c.path("A"), "report.txt", "v2, edited offline\n");
    await writeFile(c.path("A"), "notes/plan.txt", "plan v2, edited offline\n");
    a.start();
    await c.waitForTree(
      new Map([
        ["report.txt", sha256("v2, edited offline\n")],
        ["notes", "dir"],
        ["notes/plan.txt", sha256("plan v2, edited offline\n")],
      ]),
    );
  });
});

test("a file deleted locally while it was edited remotely comes back with the remote edit", async () => {
  await withCluster(async (c) => {
    await writeFile(c.path("A"), "shared.txt", "v1\n");
    await c.waitForTree(new Map([["shared.txt", sha256("v1\n")]]));
    const a = c.client("A");
    await a.stop();
    await fs.rm(c.path("A", "shared.txt"));
    await writeFile(c.path("B"), "shared.txt", "v2 from B\n");
    await c.client("B").waitForLine(/Uploaded put "shared\.txt"/);
    a.start();
    await c.waitForTree(new Map([["shared.txt", sha256("v2 from B\n")]]));
  });
});

test("an edit and a delete of the same file racing on two online clients: the edit survives", async () => {
  await withCluster(async (c) => {
    for (let round = 0; round < 5; round++) {
      const rel = `race-${round}.txt`;
      await writeFile(c.path("A"), rel, "v1\n");
      await c.waitFor(`B to see ${rel}`, async () => (await c.snapshot("B")).has(rel) || "not yet");
      const edit = `edited on A, round ${round}\n`;
      await Promise.all([writeFile(c.path("A"), rel, edit), fs.rm(c.path("B", rel))]);
      await c.waitForAgreement(`${rel} holds A's edit`, (t) => t.get(rel) === sha256(edit) || `${rel} is ${t.get(rel) ?? "absent"}`);
    }
  });
});
