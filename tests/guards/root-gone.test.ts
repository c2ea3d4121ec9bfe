import { expect, setDefaultTimeout, test } from "bun:test";
import * as fs from "node:fs/promises";
import type { Cluster } from "../helpers/cluster.ts";
import { useTestCluster } from "../helpers/cluster-hooks.ts";
import { serverEntries } from "../helpers/raw-client.ts";
import { sha256, type Tree, writeFile } from "../helpers/tree.ts";

// An unmounted disk, a deleted sync folder or a deleted .dropsim/ looks to a naive sync tool
// like "the user deleted everything". The client must stop, say so, and send no deletion.

setDefaultTimeout(90_000);

const withCluster = useTestCluster({ clients: ["A", "B"] });

const GONE = /is gone; not syncing/;

/** Ten files written on A and seen by B. */
async function seed(c: Cluster): Promise<Tree> {
  const expected: Tree = new Map([["docs", "dir"]]);
  for (let i = 0; i < 10; i++) {
    const content = `document ${i}\n`;
    await writeFile(c.path("A"), `docs/doc-${i}.txt`, content);
    expected.set(`docs/doc-${i}.txt`, sha256(content));
  }
  await c.waitForTree(expected);
  return expected;
}

function countLines(c: Cluster, name: string, re: RegExp): number {
  return c
    .client(name)
    .logs()
    .split("\n")
    .filter((l) => re.test(l)).length;
}

/**
 * After A refused to sync: news from B still reaches the server (a sync point), A refuses at
 * least once more, and the server and B still hold every file.
 */
async function assertNothingDeleted(c: Cluster, expected: Tree, tag: string): Promise<void> {
  const refusals = countLines(c, "A", GONE);
  const news = `written on B after ${tag}\n`;
  await writeFile(c.path("B"), `news-${tag}.txt`, news);
  await c.waitFor(`the server to hold news-${tag}.txt`, async () => (await serverEntries(c.server.port)).has(`news-${tag}.txt`) || "not yet");
  await c.waitFor("A to refuse again", () => countLines(c, "A", GONE) > refusals || `${refusals} refusal(s) so far`);
  const entries = await serverEntries(c.server.port);
  for (const p of expected.keys()) expect(entries.has(p)).toBe(true);
  const b = await c.snapshot("B");
  for (const [p, v] of expected) expect(b.get(p)).toBe(v);
  expect(c.client("A").running).toBe(true);
}

test("the sync folder deleted while the client runs: it stops, says so, and deletes nothing on the server", async () => {
  await withCluster(async (c) => {
    const expected = await seed(c);
    await fs.rm(c.path("A"), { recursive: true, force: true });
    await c.client("A").waitForLine(GONE);
    await assertNothingDeleted(c, expected, "root-deleted");
  });
});

test("the sync folder replaced by an empty folder (an unmounted disk): it stops and deletes nothing", async () => {
  await withCluster(async (c) => {
    const expected = await seed(c);
    await fs.rm(c.path("A"), { recursive: true, force: true });
    await fs.mkdir(c.path("A"));
    await c.client("A").waitForLine(GONE);
    await assertNothingDeleted(c, expected, "root-emptied");
    // It does not quietly start over in the empty folder either.
    expect(await fs.exists(c.path("A", ".dropsim"))).toBe(false);
  });
});

test(".dropsim/ deleted while the client runs: it stops, says so, and local deletions made afterwards do not reach the server", async () => {
  await withCluster(async (c) => {
    const expected = await seed(c);
    await fs.rm(c.path("A", ".dropsim"), { recursive: true, force: true });
    await c.client("A").waitForLine(GONE);
    for (let i = 0; i < 3; i++) await fs.rm(c.path("A", `docs/doc-${i}.txt`));
    await assertNothingDeleted(c, expected, "state-deleted");
  });
});

test("a folder restored from an old backup catches up with the server and reverts nothing there", async () => {
  await withCluster(async (c) => {
    await seed(c);
    const a = c.client("A");
    await a.stop();
    const backup = c.root.join("A-backup");
    await fs.cp(c.path("A"), backup, { recursive: true, preserveTimestamps: true });
    a.start();
    await a.waitForLine(/Idle: folder and server agree/);
    // Life goes on after the backup: edits, a new file, a deletion.
    await writeFile(c.path("B"), "docs/doc-1.txt", "edited after the backup\n");
    await writeFile(c.path("B"), "docs/new.txt", "new after the backup\n");
    await fs.rm(c.path("B", "docs/doc-2.txt"));
    const now: Tree = await c.snapshot("B");
    await c.waitForTree(now, ["A", "B"]);
    // Disaster, then the old backup is put back in place.
    await a.stop();
    await fs.rm(c.path("A"), { recursive: true, force: true });
    await fs.rename(backup, c.path("A"));
    a.start();
    await c.waitForTree(now, ["A", "B"]);
    const entries = await serverEntries(c.server.port);
    expect(entries.has("docs/doc-2.txt")).toBe(false);
    expect(entries.get("docs/doc-1.txt")?.hash).toBeDefined();
    expect((await c.snapshot("B")).get("docs/doc-1.txt")).toBe(sha256("edited after the backup\n"));
  });
});

// `rm -rf` of a large sync folder takes a while, and visits .dropsim/ whenever readdir order
// says. Until .dropsim/ goes, each pass sees ordinary deletions; they are held until no new one
// has appeared for a moment, by which time the folder is found gone and nothing is sent.
test("a slow rm -rf of the sync folder (its files first, .dropsim/ last) deletes nothing on the server", async () => {
  await withCluster(async (c) => {
    const expected = await seed(c);
    for (let i = 0; i < 10; i++) {
      await fs.rm(c.path("A", `docs/doc-${i}.txt`));
      await Bun.sleep(150); // a slow disk, a big tree
    }
    await fs.rm(c.path("A"), { recursive: true, force: true });
    await c.client("A").waitForLine(GONE);
    await assertNothingDeleted(c, expected, "slow-rm");
  });
});
