import { expect, setDefaultTimeout, test } from "bun:test";
import * as fs from "node:fs/promises";
import { useFileCluster } from "../helpers/cluster-hooks.ts";
import { serverEntries } from "../helpers/raw-client.ts";
import { dropsimOk } from "../helpers/run-dropsim.ts";
import { dumpLogsOnFailure, startClient } from "../helpers/spawn-dropsim.ts";
import { writeFile } from "../helpers/tree.ts";

// Choosing what syncs (issue 13): the share's .dropsimignore, a folder's own .dropsim/ignore,
// and selective sync with dropsim exclude / include, each on two running clients.
setDefaultTimeout(90_000);

const cluster = useFileCluster({ clients: ["A", "B"] });

const exists = (p: string) => fs.exists(p);
const live = async () => new Set([...(await serverEntries(cluster().server.port))].filter(([, e]) => !e.deleted).map(([p]) => p));

/** Waits until `rel` is (or is not) in client `name`'s folder. */
async function waitPresent(name: string, rel: string, present = true): Promise<void> {
  await cluster().waitFor(`${rel} to be ${present ? "in" : "gone from"} ${name}`, async () => (await exists(cluster().path(name, rel))) === present || "not yet");
}

/** A file written on `from` that reaches `to`: anything `from` had to send before it has been sent. */
async function marker(from: string, to: string, name: string): Promise<void> {
  await writeFile(cluster().path(from), name, `${name}\n`);
  await waitPresent(to, name);
}

test(
  "the share's .dropsimignore syncs from A to B and applies there; B's .dropsim/ignore applies to B alone",
  dumpLogsOnFailure(async () => {
    await writeFile(cluster().path("A"), ".dropsimignore", "# logs stay where they are made\n*.log\n");
    await waitPresent("B", ".dropsimignore");
    // B read the rules it downloaded: a log made there is not sent.
    await cluster().client("B").waitForLine(/Ignore rules changed: 1 rule from \.dropsimignore/);
    await writeFile(cluster().path("B"), "b.log", "from B\n");
    // Nothing watches .dropsim/: the rules are read again before the pass the next change starts.
    await writeFile(cluster().path("B"), ".dropsim/ignore", "secret/\n");
    await writeFile(cluster().path("B"), "secret/notes.txt", "only on B\n");
    await marker("B", "A", "after-ignore.txt");

    const entries = await live();
    expect(entries.has(".dropsimignore")).toBe(true);
    expect(entries.has("b.log")).toBe(false);
    expect([...entries].filter((p) => p.startsWith("secret"))).toEqual([]);
    expect(await exists(cluster().path("A", "secret"))).toBe(false);
    expect(await exists(cluster().path("B", "secret/notes.txt"))).toBe(true);
    expect(await exists(cluster().path("A", "b.log"))).toBe(false);
    expect(await exists(cluster().path("B", "b.log"))).toBe(true);
    // The local rules are never synced themselves.
    expect([...entries].some((p) => p.startsWith(".dropsim/"))).toBe(false);
  }),
);

test(
  "exclude a folder on B: removed there, untouched on the server and A, new files under it skip B; include brings it all back",
  dumpLogsOnFailure(async () => {
    const a = cluster().path("A");
    await writeFile(a, "docs/one.txt", "one\n");
    await writeFile(a, "docs/deep/two.txt", "two\n");
    await waitPresent("B", "docs/deep/two.txt");
    await waitPresent("B", "docs/one.txt");

    // Run inside B's folder, the path relative to it.
    const out = await dropsimOk(["exclude", "docs"], { cwd: cluster().path("B") });
    expect(out.output).toMatch(/Excluded docs: its local copy is removed/);
    expect(await exists(cluster().path("B", "docs"))).toBe(false);

    await writeFile(a, "docs/three.txt", "three\n");
    await marker("A", "B", "after-exclude.txt");
    expect(await exists(cluster().path("B", "docs"))).toBe(false);
    const entries = await live();
    for (const p of ["docs", "docs/one.txt", "docs/deep/two.txt", "docs/three.txt"]) expect(entries.has(p)).toBe(true);
    for (const p of ["docs/one.txt", "docs/deep/two.txt", "docs/three.txt"]) expect(await exists(cluster().path("A", p))).toBe(true);

    await dropsimOk(["include", "docs"], { cwd: cluster().path("B") });
    for (const p of ["docs/one.txt", "docs/deep/two.txt", "docs/three.txt"]) await waitPresent("B", p);
    expect(await fs.readFile(cluster().path("B", "docs/three.txt"), "utf8")).toBe("three\n");
  }),
);

test(
  "excluding a folder with a local change keeps it, names the change, and never uploads it",
  dumpLogsOnFailure(async () => {
    await writeFile(cluster().path("A"), "drafts/plan.txt", "v1\n");
    await waitPresent("B", "drafts/plan.txt");
    await writeFile(cluster().path("B"), "drafts/plan.txt", "edited on B\n");
    // The edit may or may not have been sent before the exclude: wait until it was, so the
    // edit that matters is the one after.
    await cluster().waitFor("B's edit to reach A", async () => (await fs.readFile(cluster().path("A", "drafts/plan.txt"), "utf8")) === "edited on B\n" || "not yet");

    await dropsimOk(["pause"], { cwd: cluster().path("B") });
    await writeFile(cluster().path("B"), "drafts/plan.txt", "edited again, while paused\n");
    const out = await dropsimOk(["exclude", "drafts/"], { cwd: cluster().path("B") });
    await dropsimOk(["resume"], { cwd: cluster().path("B") });
    expect(out.output).toMatch(/kept its local copy: 1 path in it changed here \(drafts\/plan\.txt\)/);
    expect(await fs.readFile(cluster().path("B", "drafts/plan.txt"), "utf8")).toBe("edited again, while paused\n");

    await marker("B", "A", "after-kept.txt");
    expect(await fs.readFile(cluster().path("A", "drafts/plan.txt"), "utf8")).toBe("edited on B\n");
    // A deletion on B is not sent either.
    await fs.rm(cluster().path("B", "drafts"), { recursive: true });
    await marker("B", "A", "after-kept-delete.txt");
    expect(await exists(cluster().path("A", "drafts/plan.txt"))).toBe(true);
    expect((await live()).has("drafts/plan.txt")).toBe(true);
  }),
);

test(
  "sync --exclude (repeated) at start: a new folder joins without the excluded folders, and keeps it out after a restart",
  dumpLogsOnFailure(async () => {
    await writeFile(cluster().path("A"), "media/big.txt", "not wanted on C\n");
    await writeFile(cluster().path("A"), "archive/old.txt", "not wanted on C either\n");
    await writeFile(cluster().path("A"), "wanted.txt", "wanted on C\n");
    await cluster().waitFor("A's files on the server", async () => ((await live()).has("archive/old.txt") && (await live()).has("wanted.txt")) || "not yet");
    const folder = cluster().root.join("C");
    const args = ["--rescan-interval", "1h", "--verbose", "--limit-down", "10MiB"];
    await using c = startClient({ folder, server: cluster().server.address, name: "C", extraArgs: [...args, "--exclude", "media/", "--exclude=archive"] });
    await cluster().waitFor("wanted.txt on C", async () => (await exists(`${folder}/wanted.txt`)) || "not yet");
    expect(await exists(`${folder}/media`)).toBe(false);
    expect(await exists(`${folder}/archive`)).toBe(false);

    // Kept in state.db: started again without the flag, C still leaves it out.
    await c.stop();
    await using again = startClient({ folder, server: cluster().server.address, name: "C2", extraArgs: args });
    await writeFile(cluster().path("A"), "media/later.txt", "still not wanted\n");
    await writeFile(cluster().path("A"), "wanted-too.txt", "after it\n");
    await cluster().waitFor("wanted-too.txt on C", async () => (await exists(`${folder}/wanted-too.txt`)) || `not yet:\n${again.logs(20)}`);
    expect(await exists(`${folder}/media`)).toBe(false);
  }),
);
