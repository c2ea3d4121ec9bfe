import { expect, setDefaultTimeout, test } from "bun:test";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { useTestCluster } from "../helpers/cluster-hooks.ts";
import { serverEntries } from "../helpers/raw-client.ts";
import { allConflictCopies, sha256, writeFiles } from "../helpers/tree.ts";

// A server put back from an older backup (its journal ends before a client's cursor), or
// replaced by a new one (a new server id): the most reported mass-deletion cause in other
// sync tools. Clients delete and overwrite nothing because of it, upload what the server
// lacks, and say what happened (issue 9, item 18).

setDefaultTimeout(90_000);

const withCluster = useTestCluster({ clients: ["A", "B"] });

const BEFORE = { "old.txt": "synced before the backup\n", "edited.txt": "first version\n" };
const AFTER = { "new.txt": "created after the backup\n", "edited.txt": "second version, after the backup\n" };

test("a server restored from an older backup gets back what clients hold; nothing local is deleted or reverted", async () => {
  await withCluster(async (c) => {
    await writeFiles(c.path("A"), BEFORE);
    await c.waitForTree(await c.snapshot("A"));
    await c.server.stop();
    const backup = c.root.join("backup");
    await fs.cp(c.server.dataDir, backup, { recursive: true });
    await c.server.launch();
    await writeFiles(c.path("A"), AFTER);
    const expected = await c.snapshot("A");
    await c.waitForTree(expected);

    // B stays away until A has noticed: a client that connects after others re-uploaded past
    // its cursor cannot tell (see the notes of issue 9), so A must be first here.
    await c.client("B").stop();
    await c.server.stop();
    await fs.rm(c.server.dataDir, { recursive: true });
    await fs.rename(backup, c.server.dataDir);
    await c.server.launch();

    await c.client("A").waitForLine(/restored from an older backup/);
    await c.waitFor("the server to hold every file again", async () => {
      const held = await serverEntries(c.server.port);
      return ["old.txt", "new.txt", "edited.txt"].every((p) => held.has(p)) || `server holds ${[...held.keys()].join(", ")}`;
    });
    c.client("B").start();
    await c.waitForTree(expected);
    expect(allConflictCopies(await c.snapshot("A"))).toEqual([]);
    expect((await c.snapshot("B")).get("edited.txt")).toBe(sha256(AFTER["edited.txt"]));
  });
});

test("a new, empty server in place of the old one gets everything back; nothing local is deleted", async () => {
  await withCluster(async (c) => {
    await writeFiles(c.path("A"), { ...BEFORE, ...AFTER, "dir/deep.txt": "deep\n" });
    const expected = await c.snapshot("A");
    await c.waitForTree(expected);

    await c.server.stop();
    // Its tokens and its TLS identity are kept (an admin restores access.db and tls/, or the
    // clients would rightly refuse a new certificate until told to accept it): what is new is
    // the journal.
    const access = await fs.readFile(path.join(c.server.dataDir, "access.db"));
    const saved = path.join(path.dirname(c.server.dataDir), "tls-saved");
    await fs.rename(path.join(c.server.dataDir, "tls"), saved);
    await fs.rm(c.server.dataDir, { recursive: true });
    await fs.mkdir(c.server.dataDir);
    await fs.writeFile(path.join(c.server.dataDir, "access.db"), access);
    await fs.rename(saved, path.join(c.server.dataDir, "tls"));
    await c.server.launch();

    await c.client("A").waitForLine(/not the server this folder synced with/);
    await c.waitFor("the new server to hold every file", async () => {
      const held = await serverEntries(c.server.port);
      return [...expected.keys()].every((p) => held.has(p)) || `server holds ${held.size} of ${expected.size}`;
    });
    await c.waitForTree(expected);
    expect(allConflictCopies(await c.snapshot("B"))).toEqual([]);
  });
});
