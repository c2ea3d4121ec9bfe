import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import * as fs from "node:fs/promises";
import { serverEntries } from "../helpers/raw-client.ts";
import { type ClientProcess, dumpLogs, type ServerProcess, startClient, startServer } from "../helpers/spawn-dropsim.ts";
import { type TempDir, tempDir } from "../helpers/temp-dir.ts";
import { sha256, snapshotTree, writeFile } from "../helpers/tree.ts";
import { waitFor } from "../helpers/wait-for.ts";
import { NOBODY, UnprivilegedClient, unprivilegedPrefix } from "./_lib.ts";

// A file that cannot be read right now (permission denied) is reported and retried, never
// taken for a deleted one; a sync folder that cannot be read stops syncing without deleting.
// chmod only blocks a process that is not root, so client N runs as nobody (see _lib.ts); B is
// an ordinary client that shows what the server holds. Skipped where no unprivileged user can
// be had (root without util-linux setpriv).

setDefaultTimeout(90_000);

const prefix = unprivilegedPrefix();
const suite = prefix ? describe : describe.skip;

let root: TempDir;
let server: ServerProcess;
let b: ClientProcess;
let n: UnprivilegedClient;
let folder: string;

function until(what: string, check: () => true | string | Promise<true | string>, timeout = 30_000): Promise<void> {
  return waitFor(what, check, { timeout, abortIf: () => n?.unexpectedExit ?? server?.unexpectedExit ?? b?.unexpectedExit });
}

async function dumpOnFailure(fn: () => Promise<void>): Promise<void> {
  try {
    await fn();
  } catch (e) {
    dumpLogs([server, b], 40);
    console.error(`\n===== N (unprivileged) =====\n${n.logs().split("\n").slice(-40).join("\n")}`);
    throw e;
  }
}

/** News from B reaches N: N is alive and syncing. */
async function stillSyncing(tag: string): Promise<void> {
  const content = `news ${tag}\n`;
  await writeFile(b.folder, `news-${tag}.txt`, content);
  await until(`news-${tag}.txt to reach N`, async () => (await snapshotTree(folder)).get(`news-${tag}.txt`) === sha256(content) || "not yet");
}

async function onServer(rel: string): Promise<string | undefined> {
  return (await serverEntries(server.port)).get(rel)?.hash;
}

suite("files and folders the client cannot read", () => {
  beforeAll(async () => {
    root = await tempDir("dropsim-unreadable-");
    await fs.chmod(root.path, 0o755);
    folder = root.join("N");
    const home = root.join("N-home");
    for (const d of [folder, home]) {
      await fs.mkdir(d);
      await fs.chown(d, NOBODY.uid, NOBODY.gid);
    }
    server = await startServer({ dataDir: root.join("server-data") });
    b = startClient({ folder: root.join("B"), server: server.address, name: "B" });
    n = new UnprivilegedClient(prefix!, ["sync", folder, "--server", server.address, "--share", "default", "--token", server.token, "--rescan-interval", "1h", "--verbose"], home);
    n.start();
    await n.waitForLine(/Idle: folder and server agree/);
    await b.waitForLine(/Idle: folder and server agree/);
  }, 60_000);

  afterAll(async () => {
    await n?.[Symbol.asyncDispose]();
    await b?.[Symbol.asyncDispose]();
    await server?.[Symbol.asyncDispose]();
    await fs.chmod(folder, 0o755).catch(() => {});
    await root?.remove();
  }, 30_000);

  test("an edited file that cannot be read is reported and retried, not deleted; once readable its edit is uploaded", async () => {
    await dumpOnFailure(async () => {
      const file = `${folder}/secret.txt`;
      await fs.writeFile(file, "v1\n");
      await until("B to get secret.txt", async () => (await snapshotTree(b.folder)).get("secret.txt") === sha256("v1\n") || "not yet");
      await fs.writeFile(file, "v2, edited while locked\n");
      await fs.chmod(file, 0o000);
      await n.waitForLine(/Not syncing "secret\.txt": cannot read it now \(EACCES\)/);
      await stillSyncing("locked-edit");
      expect(await onServer("secret.txt")).toBeDefined();
      expect((await snapshotTree(b.folder)).get("secret.txt")).toBe(sha256("v1\n"));
      // Reported once, however often it is retried.
      expect(n.count(/Not syncing "secret\.txt"/)).toBe(1);
      await fs.chmod(file, 0o644);
      await until("B to get the edit made while locked", async () => (await snapshotTree(b.folder)).get("secret.txt") === sha256("v2, edited while locked\n") || "not yet");
    });
  });

  test("a new file that cannot be read is reported and uploaded once it can be", async () => {
    await dumpOnFailure(async () => {
      const file = `${folder}/locked-new.txt`;
      await fs.writeFile(file, "born locked\n", { mode: 0o000 });
      await fs.chmod(file, 0o000);
      await n.waitForLine(/Not syncing "locked-new\.txt": cannot read it now \(EACCES\)/);
      await stillSyncing("locked-new");
      expect(await onServer("locked-new.txt")).toBeUndefined();
      await fs.chmod(file, 0o644);
      await until("B to get locked-new.txt", async () => (await snapshotTree(b.folder)).get("locked-new.txt") === sha256("born locked\n") || "not yet");
    });
  });

  test("an unreadable subfolder is reported once; everything else syncs both ways and nothing in it is deleted", async () => {
    await dumpOnFailure(async () => {
      await writeFile(folder, "locked-dir/inside.txt", "inside\n");
      await until("B to get locked-dir/inside.txt", async () => (await snapshotTree(b.folder)).get("locked-dir/inside.txt") === sha256("inside\n") || "not yet");
      await fs.chmod(`${folder}/locked-dir`, 0o000);
      try {
        await writeFile(folder, "beside-locked-dir.txt", "from N\n");
        await until("N's new file to reach B", async () => (await snapshotTree(b.folder)).get("beside-locked-dir.txt") === sha256("from N\n") || "not yet");
        await stillSyncing("locked-dir");
        await n.waitForLine(/Not syncing "locked-dir": permission denied/);
        await stillSyncing("locked-dir-again");
        expect(n.count(/Not syncing "locked-dir"/)).toBe(1);
        expect(n.count(/Sync pass failed/)).toBe(0);
        expect(await onServer("locked-dir/inside.txt")).toBeDefined();
        expect((await snapshotTree(b.folder)).get("locked-dir/inside.txt")).toBe(sha256("inside\n"));
      } finally {
        await fs.chmod(`${folder}/locked-dir`, 0o755);
      }
      await n.waitForLine(/"locked-dir" syncs again/, 60_000);
    });
  });

  test("a sync folder that cannot be read stops syncing and deletes nothing; readable again, it resumes", async () => {
    await dumpOnFailure(async () => {
      const before = await serverEntries(server.port);
      expect(before.size).toBeGreaterThan(2);
      await fs.chmod(folder, 0o000);
      try {
        // B's news makes N try (and fail) to sync.
        await writeFile(b.folder, "while-unreadable.txt", "written while N's folder was unreadable\n");
        await until("N to report that it cannot sync", () => n.count(/not syncing|Sync pass failed/) > 0 || "nothing reported yet");
        const after = await serverEntries(server.port);
        for (const p of before.keys()) expect(after.has(p)).toBe(true);
      } finally {
        await fs.chmod(folder, 0o755);
      }
      await until("N to catch up once its folder is readable", async () => (await snapshotTree(folder)).has("while-unreadable.txt") || "not yet", 60_000);
      const final = await serverEntries(server.port);
      for (const p of before.keys()) expect(final.has(p)).toBe(true);
    });
  });
});
