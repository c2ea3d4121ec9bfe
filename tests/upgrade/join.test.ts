import { describe, expect, setDefaultTimeout, test } from "bun:test";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { serverEntries } from "../helpers/raw-client.ts";
import { dropsimCommand, dumpLogsOnFailure, startServer } from "../helpers/spawn-dropsim.ts";
import { tempDir } from "../helpers/temp-dir.ts";
import { snapshotTree, STATE_DIR } from "../helpers/tree.ts";
import { SyncProcess } from "../client/_sync-process.ts";
import { extractFixture, FIXTURE_COMMITS } from "./fixtures.ts";

// A folder an older dropsim synced (state.db with a cursor, no token): started as it was, it
// says how to join and exits; joined with a token for its server's share default, it goes on
// from its cursor: nothing downloaded or committed again, no conflict copy.
setDefaultTimeout(90_000);

/** Inode and mtime of everything but the state dir: a download changes the inode. */
async function identities(folder: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const rel of await fs.readdir(folder, { recursive: true })) {
    if (rel === STATE_DIR || rel.startsWith(`${STATE_DIR}/`)) continue;
    const st = await fs.lstat(path.join(folder, rel));
    out.set(rel, `${st.ino} ${st.mtimeMs}`);
  }
  return out;
}

async function createJoinLink(data: string, address: string): Promise<string> {
  const proc = Bun.spawn(dropsimCommand(["token", "create", "--data", data, "--share", "default", "--address", address, "--json"]), { stdout: "pipe", stderr: "pipe" });
  const [code, out, err] = await Promise.all([proc.exited, new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
  if (code !== 0) throw new Error(`dropsim token create exited with ${code}: ${err}`);
  return (JSON.parse(out) as { join: string }).join;
}

describe.each(FIXTURE_COMMITS)("a folder synced by %s", (commit) => {
  test(
    "says how to join when started without a token, then joins its server's share default with no download, commit or conflict copy",
    dumpLogsOnFailure(async () => {
      await using root = await tempDir("dropsim-upgrade-join-");
      const { data, folder } = await extractFixture(commit, root.path);
      const before = await identities(folder);
      const tree = await snapshotTree(folder, { modes: true });
      await using server = await startServer({ dataDir: data });
      const served = await serverEntries(server.port);

      {
        await using bare = new SyncProcess([folder, "--server", server.address]);
        expect(await bare.exitCode()).toBe(2);
        expect(bare.output).toMatch(/This folder was synced by an older dropsim: join it with dropsim sync \S+ --join LINK/);
      }
      expect(await identities(folder)).toEqual(before);

      const link = await createJoinLink(data, server.address);
      {
        await using joined = new SyncProcess([folder, "--join", link]);
        await joined.waitForLine(/Idle: folder and server agree/);
        expect(joined.output).not.toMatch(/Downloaded|Conflict|Not trusting what this folder last synced/);
      }
      expect(await snapshotTree(folder, { modes: true })).toEqual(tree);
      expect(await identities(folder)).toEqual(before);
      const after = await serverEntries(server.port);
      expect([...served].filter(([rel, e]) => after.get(rel)?.version !== e.version).map(([rel]) => rel)).toEqual([]);

      // The restart needs no flags.
      await using again = new SyncProcess([folder]);
      await again.waitForLine(/Idle: folder and server agree/);
    }),
  );
});
