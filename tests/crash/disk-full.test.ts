import { afterAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs/promises";
import { serverEntries } from "../helpers/raw-client.ts";
import { type ClientProcess, dumpLogs, type ServerProcess, startClient, startServer } from "../helpers/spawn-dropsim.ts";
import { type TempDir, tempDir } from "../helpers/temp-dir.ts";
import { sha256, snapshotTree, writeFile } from "../helpers/tree.ts";
import { waitFor } from "../helpers/wait-for.ts";
import { expectFsckClean } from "./_lib.ts";

// The server's data dir on a small tmpfs: an upload that does not fit fails with a clear
// error, the server keeps running and keeps serving what fits, nothing stored is corrupted
// (fsck), and once there is room again the client's retry goes through. Needs permission to
// mount a tmpfs (root in CI); skipped otherwise.

setDefaultTimeout(120_000);

function canMount(dir: string): boolean {
  if (process.getuid?.() !== 0) return false;
  const r = spawnSync("mount", ["-t", "tmpfs", "-o", "size=24m", "tmpfs", dir]);
  return r.status === 0;
}

// Mounted when the file loads, so that the tests can be skipped where it is not possible.
const root: TempDir = await tempDir("dropsim-diskfull-");
const mountPoint = root.join("small-disk");
await fs.mkdir(mountPoint);
const mounted = canMount(mountPoint);
const whenMounted = mounted ? test : test.skip;
let clientLogs = "";

afterAll(async () => {
  if (mounted) spawnSync("umount", ["-l", mountPoint]);
  await root?.remove();
});

describe("a server whose disk fills up", () => {
  whenMounted("refuses the upload clearly, keeps serving, stays consistent, and takes the retry once there is room", async () => {
    const dataDir = `${mountPoint}/data`;
    let server: ServerProcess | undefined;
    let a: ClientProcess | undefined;
    let b: ClientProcess | undefined;
    const abortIf = () => server?.unexpectedExit ?? a?.unexpectedExit ?? b?.unexpectedExit;
    try {
      server = await startServer({ dataDir });
      a = startClient({ folder: root.join("A"), server: server.address, name: "A" });
      b = startClient({ folder: root.join("B"), server: server.address, name: "B" });
      await writeFile(a.folder, "small-before.txt", "fits\n");
      await waitFor("small-before.txt to reach B", async () => (await snapshotTree(b!.folder)).has("small-before.txt") || "not yet", { abortIf });

      // 40 MiB into a 24 MiB disk.
      const big = new Uint8Array(randomBytes(40 * 1024 * 1024));
      await fs.writeFile(root.join("staging.bin"), big);
      await fs.rename(root.join("staging.bin"), `${a.folder}/big.bin`);
      await a.waitForLine(/disk is full|Server refused put of "big\.bin"|Sync pass failed/, 60_000);
      expect(server.running).toBe(true);
      expect(server.logs()).toMatch(/disk is full|SQLITE_FULL|ENOSPC|database or disk is full/i);

      // Nothing half-committed: no entry for big.bin, nothing of it on B, the store is consistent.
      expect((await serverEntries(server.port)).has("big.bin")).toBe(false);
      expect(await fs.exists(`${b.folder}/big.bin`)).toBe(false);
      await expectFsckClean(dataDir);

      // Room again: the client's retry gets the file through, intact.
      expect(spawnSync("mount", ["-o", "remount,size=256m", mountPoint]).status).toBe(0);
      await waitFor("big.bin to reach B intact", async () => (await snapshotTree(b!.folder)).get("big.bin") === sha256(big) || "not yet", { abortIf, timeout: 90_000 });
      await expectFsckClean(dataDir);
      // What the clients were told, for the next test.
      clientLogs = `${a.logs()}\n${b.logs()}`;
    } catch (e) {
      dumpLogs([server, a, b].filter((p) => p !== undefined), 40);
      throw e;
    } finally {
      for (const p of [a, b, server]) await p?.[Symbol.asyncDispose]();
    }
  });

  // Regression: with the disk full, committing the block index fails with SQLITE_FULL and
  // SQLite rolls the transaction back itself; a second ROLLBACK used to throw "cannot rollback"
  // and hide the real error, so the client was told `internal` instead of `disk_full`.
  whenMounted("the client is told in plain words that the server's disk is full, not an internal SQLite error", () => {
    expect(clientLogs).not.toMatch(/cannot rollback/);
    expect(clientLogs).toMatch(/Server refused put of "big\.bin": .*disk is full|disk is full.*will retry/);
  });
});
