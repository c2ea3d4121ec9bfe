import { describe, expect, setDefaultTimeout, test } from "bun:test";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { serverEntries } from "../helpers/raw-client.ts";
import { dropsimCommand, dumpLogsOnFailure, firstUnexpectedExit, startClient, startServer } from "../helpers/spawn-dropsim.ts";
import { tempDir } from "../helpers/temp-dir.ts";
import { diffTrees, snapshotTree, STATE_DIR, type Tree, writeFile } from "../helpers/tree.ts";
import { waitFor } from "../helpers/wait-for.ts";
import { extractFixture, FIXTURE_COMMITS } from "./fixtures.ts";

// The binary is replaced under a data dir and a synced folder an older dropsim left: both keep
// working as they were, nothing travels again and nothing conflicts.
setDefaultTimeout(90_000);

interface Identity {
  ino: number;
  mtimeMs: number;
}

/** Inode and mtime of everything in `folder` but its state: a download or re-creation changes the inode. */
async function identities(folder: string): Promise<Map<string, Identity>> {
  const out = new Map<string, Identity>();
  for (const rel of await fs.readdir(folder, { recursive: true })) {
    if (rel === STATE_DIR || rel.startsWith(`${STATE_DIR}/`)) continue;
    const st = await fs.lstat(path.join(folder, rel));
    out.set(rel, { ino: st.ino, mtimeMs: st.mtimeMs });
  }
  return out;
}

async function fsck(data: string): Promise<{ code: number; output: string }> {
  const proc = Bun.spawn(dropsimCommand(["fsck", "--data", data]), { stdout: "pipe", stderr: "pipe", env: { ...process.env, NO_COLOR: "1" } });
  const [code, out, err] = await Promise.all([proc.exited, new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
  return { code, output: out + err };
}

describe.each(FIXTURE_COMMITS)("a data dir and synced folder written by %s", (commit) => {
  test(
    "keep working under the current binary: nothing downloaded or uploaded again, no conflict copy, a new file syncs, fsck is clean",
    dumpLogsOnFailure(async () => {
      await using root = await tempDir("dropsim-upgrade-");
      const { data, folder } = await extractFixture(commit, root.path);
      const before = await identities(folder);
      const tree = await snapshotTree(folder, { modes: true });

      await using server = await startServer({ dataDir: data });
      const served = await serverEntries(server.port);
      expect([...served.keys()].sort()).toEqual([...tree.keys()].sort());

      await using a = startClient({ folder, server: server.address, name: "A" });
      await a.waitForLine(/Idle: folder and server agree/);
      const added = await writeFile(folder, "after-upgrade.txt", `written on ${commit}'s folder after the upgrade\n`);
      const expected: Tree = new Map([...tree, ["after-upgrade.txt", added]]);
      await using b = startClient({ folder: root.join("B"), server: server.address, name: "B" });

      // Exact equality leaves no room for a conflict copy on either side.
      await waitFor(
        "A and a fresh B to hold the fixture's tree and the new file",
        async () => diffTrees([expected, await snapshotTree(folder, { modes: true }), await snapshotTree(b.folder, { modes: true })], ["expected", "A", "B"]) ?? true,
        { abortIf: () => firstUnexpectedExit([server, a, b]) },
      );
      const now = await identities(folder);
      const changed = [...before].filter(([rel, was]) => now.get(rel)?.ino !== was.ino || now.get(rel)?.mtimeMs !== was.mtimeMs);
      expect(changed.map(([rel]) => rel)).toEqual([]);
      const after = await serverEntries(server.port);
      const recommitted = [...served].filter(([rel, e]) => after.get(rel)?.version !== e.version).map(([rel]) => rel);
      expect(recommitted).toEqual([]);

      await a.stop();
      await b.stop();
      await server.stop();
      const checked = await fsck(data);
      expect(checked.output).toContain("is consistent");
      expect(checked.code).toBe(0);
    }),
  );
});
