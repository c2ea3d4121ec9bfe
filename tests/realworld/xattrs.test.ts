import { afterAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import * as fs from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { useFileCluster } from "../helpers/cluster-hooks.ts";
import { FaultProxy } from "../helpers/fault-proxy.ts";
import { dumpLogsOnFailure } from "../helpers/spawn-dropsim.ts";
import { sha256, STATE_DIR, writeFile, writeRandomFile } from "../helpers/tree.ts";

// Extended attributes of the user.* namespace travel with their file (issue 9, item 12): set,
// changed and removed on one side, they follow on the other; an attribute-only change costs no
// block transfer; a set over 64 KiB is warned about once and the file syncs without it.
// Attributes are set and read by python3 (os.setxattr), as any other program would.

setDefaultTimeout(60_000);

/** Runs a python3 snippet with `args` as sys.argv[1:]; its stdout. */
function py(code: string, ...args: string[]): string {
  const r = Bun.spawnSync(["python3", "-c", `import os, sys, json\n${code}`, ...args]);
  if (r.exitCode !== 0) throw new Error(`python3 failed: ${r.stderr.toString()}`);
  return r.stdout.toString();
}

function setAttr(file: string, name: string, value: string): void {
  py("os.setxattr(sys.argv[1], sys.argv[2], sys.argv[3].encode())", file, name, value);
}

function removeAttr(file: string, name: string): void {
  py("os.removexattr(sys.argv[1], sys.argv[2])", file, name);
}

/** The user.* attributes of `file` (values as latin-1 text), or undefined if it is missing. */
function attrs(file: string): Record<string, string> | undefined {
  const out = py(
    `f = sys.argv[1]
try:
    print(json.dumps({n: os.getxattr(f, n).decode("latin-1") for n in sorted(os.listxattr(f)) if n.startswith("user.")}))
except FileNotFoundError:
    print("null")`,
    file,
  );
  return JSON.parse(out) ?? undefined;
}

/** Why `count` user attributes of `bytes` bytes each cannot be set under `dir`, or undefined when they can. */
async function lacksUserXattrs(dir: string, bytes = 3, count = 1): Promise<string | undefined> {
  try {
    const probe = await fs.mkdtemp(path.join(dir, "dropsim-xattr-probe-"));
    try {
      await fs.writeFile(path.join(probe, "f"), "");
      py("for i in range(int(sys.argv[3])): os.setxattr(sys.argv[1], f'user.probe{i}', b'x' * int(sys.argv[2]))", path.join(probe, "f"), String(bytes), String(count));
      return undefined;
    } finally {
      await fs.rm(probe, { recursive: true, force: true });
    }
  } catch (e) {
    return `${dir} takes no ${count} user extended attribute(s) of ${bytes} bytes (${(e as Error).message.trim().split("\n").at(-1)})`;
  }
}

const noXattrs = await lacksUserXattrs(os.tmpdir());
if (noXattrs) console.warn(`[xattrs] skipped: ${noXattrs}`);
/** A set over 64 KiB needs a file system that holds one (tmpfs does, ext4 does not): /dev/shm. */
const BIG_DIR = "/dev/shm";
const noBigXattrs = noXattrs ?? (await lacksUserXattrs(BIG_DIR, 40_000, 2));
if (!noXattrs && noBigXattrs) console.warn(`[xattrs] the over-64-KiB test is skipped: ${noBigXattrs}`);

let proxy: FaultProxy | undefined;
const cluster = useFileCluster({
  clients: ["A", "B"],
  // Every byte between clients and server passes the proxy: an attribute change must cost none of a block's.
  serverAddress: async (server) => (proxy = await FaultProxy.start({ target: server.address, seed: 12 })).address,
});
afterAll(async () => {
  await proxy?.close();
  await fs.rm(bigFolder, { recursive: true, force: true });
});
let bigFolder = "";

/** Lines of `name`'s log matching `re`. */
function count(name: string, re: RegExp): number {
  return cluster().client(name).logs().split("\n").filter((l) => re.test(l)).length;
}

async function waitForAttrs(name: string, rel: string, want: Record<string, string>): Promise<void> {
  const c = cluster();
  await c.waitFor(`${name}'s ${rel} to carry ${JSON.stringify(want)}`, () => {
    const got = attrs(c.path(name, rel));
    return JSON.stringify(got) === JSON.stringify(want) || `it carries ${JSON.stringify(got)}`;
  });
}

describe.skipIf(noXattrs !== undefined)("extended attributes", () => {
  test(
    "user.color set on A arrives on B, a change follows with no block bytes carried, and a removal removes it",
    dumpLogsOnFailure(async () => {
      const c = cluster();
      const SIZE = 1024 * 1024;
      const hash = await writeRandomFile(c.path("A"), "tags/photo.bin", SIZE);
      setAttr(c.path("A", "tags/photo.bin"), "user.color", "red");
      await waitForAttrs("B", "tags/photo.bin", { "user.color": "red" });
      expect(sha256(await fs.readFile(c.path("B", "tags/photo.bin")))).toBe(hash);

      const before = proxy!.counters.bytes;
      setAttr(c.path("A", "tags/photo.bin"), "user.color", "blue");
      await waitForAttrs("B", "tags/photo.bin", { "user.color": "blue" });
      const carried = proxy!.counters.bytes - before;
      console.error(`[xattrs] an attribute change carried ${carried} bytes, both ways, for a ${SIZE}-byte file`);
      // An upload's op, a push, a reply: about 1.4 KB. Any block of this file is at least 4 KiB
      // (16 KiB on average), so even one fetched block would pass the mark.
      expect(carried).toBeLessThan(4 * 1024);
      expect(sha256(await fs.readFile(c.path("B", "tags/photo.bin")))).toBe(hash);

      removeAttr(c.path("A", "tags/photo.bin"), "user.color");
      await waitForAttrs("B", "tags/photo.bin", {});
      expect(sha256(await fs.readFile(c.path("B", "tags/photo.bin")))).toBe(hash);
      expect(count("A", /extended attribute/)).toBe(0);
      expect(count("B", /extended attribute/)).toBe(0);
    }),
  );

  test(
    "attributes edited on B sync back to A, values with any bytes and several names",
    dumpLogsOnFailure(async () => {
      const c = cluster();
      await writeFile(c.path("A"), "back/notes.txt", "notes\n");
      await c.waitFor("B to have back/notes.txt", () => attrs(c.path("B", "back/notes.txt")) !== undefined || "not yet");
      setAttr(c.path("B", "back/notes.txt"), "user.tag", "urgent");
      setAttr(c.path("B", "back/notes.txt"), "user.xdg.comment", "caf\u00e9 \u2603");
      await waitForAttrs("A", "back/notes.txt", { "user.tag": "urgent", "user.xdg.comment": Buffer.from("caf\u00e9 \u2603").toString("latin1") });
      expect(await fs.readFile(c.path("A", "back/notes.txt"), "utf8")).toBe("notes\n");
    }),
  );

  test(
    "a file tagged while synced by a dropsim from before attributes has its tag sent after the upgrade, though its stat is unchanged",
    dumpLogsOnFailure(async () => {
      const c = cluster();
      const a = c.client("A");
      const hash = await writeFile(c.path("A"), "upgrade/old.txt", "synced before attributes were\n");
      await c.waitFor("B to have upgrade/old.txt", async () => (await fs.readFile(c.path("B", "upgrade/old.txt"), "utf8").catch(() => "")) !== "" || "not yet");
      await a.stop();
      setAttr(c.path("A", "upgrade/old.txt"), "user.color", "green");
      // What state.db migration 3 leaves for a row from before (tests/client/local-index.test.ts),
      // with a fingerprint that takes any ctime: the tag did not change the stat it knows.
      py(
        `import sqlite3
db = sqlite3.connect(sys.argv[1])
db.execute("UPDATE files SET xattrs = 'unread', st_ctime = -1 WHERE path = 'upgrade/old.txt'")
db.commit()`,
        path.join(c.path("A"), STATE_DIR, "state.db"),
      );
      a.start();
      await waitForAttrs("B", "upgrade/old.txt", { "user.color": "green" });
      expect(sha256(await fs.readFile(c.path("B", "upgrade/old.txt")))).toBe(hash);
    }),
  );

  test.skipIf(noBigXattrs !== undefined)(
    "a file whose attributes total over 64 KiB is warned about once and syncs without them",
    dumpLogsOnFailure(async () => {
      const c = cluster();
      bigFolder = await fs.mkdtemp(path.join(BIG_DIR, "dropsim-xattrs-"));
      const s = c.addClient("S", path.join(bigFolder, "S"));
      await c.waitFor("S to create its .dropsim/", async () => (await fs.exists(path.join(s.folder, STATE_DIR))) || "not yet");
      const file = path.join(s.folder, "big/labels.txt");
      await fs.mkdir(path.dirname(file), { recursive: true });
      await fs.writeFile(file.replace("labels", "tmp-labels"), "first\n");
      const tmp = file.replace("labels", "tmp-labels");
      // Set before the file appears under its name (as an editor's save renames a finished file).
      setAttr(tmp, "user.one", "x".repeat(40_000));
      setAttr(tmp, "user.two", "y".repeat(40_000));
      await fs.rename(tmp, file);
      await c.waitFor("A to have big/labels.txt", async () => (await fs.readFile(c.path("A", "big/labels.txt"), "utf8").catch(() => "")) === "first\n" || "not yet");
      expect(attrs(c.path("A", "big/labels.txt"))).toEqual({});
      await s.waitForLine(/"big\/labels\.txt": its extended attributes total more than 64 KiB/);
      // Edited again: read again, still too many attributes, and not warned about again.
      await fs.writeFile(file, "second\n");
      await c.waitFor("A to have the edit", async () => (await fs.readFile(c.path("A", "big/labels.txt"), "utf8").catch(() => "")) === "second\n" || "not yet");
      expect(count("S", /extended attributes total more than 64 KiB/)).toBe(1);
      expect(attrs(file)).toMatchObject({ "user.one": "x".repeat(40_000) });
    }),
  );
});
