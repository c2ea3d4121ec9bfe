import { describe, expect, setDefaultTimeout, test } from "bun:test";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { useFileCluster } from "../helpers/cluster-hooks.ts";
import { dumpLogsOnFailure } from "../helpers/spawn-dropsim.ts";
import { DIR, sha256, snapshotTree, writeFile } from "../helpers/tree.ts";

// Symlinks sync as links, as Syncthing syncs them on Unix: the target string travels verbatim,
// and dropsim never follows, resolves or copies what a link points to (issue 9, item 10).

setDefaultTimeout(60_000);

const cluster = useFileCluster({ clients: ["A", "B"] });

const link = (target: string) => `symlink -> ${target}`;

/** A folder outside every sync folder, with a file: what links point to and must never change. */
async function outsideFolder(name: string): Promise<string> {
  const dir = cluster().root.join(name);
  await writeFile(dir, "secret.txt", "outside: never synced, never touched\n");
  return dir;
}

async function outsideUntouched(dir: string): Promise<void> {
  expect([...(await snapshotTree(dir)).entries()]).toEqual([["secret.txt", sha256("outside: never synced, never touched\n")]]);
}

/** Lines of `name`'s log matching `re`. */
function count(name: string, re: RegExp): number {
  return cluster().client(name).logs().split("\n").filter((l) => re.test(l)).length;
}

describe("symlinks", () => {
  test(
    "relative, absolute, escaping, dangling and folder symlinks arrive on B as the same links, with nothing behind them copied",
    dumpLogsOnFailure(async () => {
      const c = cluster();
      const outside = await outsideFolder("outside-kinds");
      await writeFile(c.path("A"), "kinds/target.txt", "pointed at\n");
      await fs.mkdir(c.path("A", "kinds/real-dir"));
      await fs.symlink("target.txt", c.path("A", "kinds/relative"));
      await fs.symlink(path.join(outside, "secret.txt"), c.path("A", "kinds/absolute"));
      await fs.symlink("../../../../etc/passwd", c.path("A", "kinds/escaping"));
      await fs.symlink("no/such/file", c.path("A", "kinds/dangling"));
      await fs.symlink(outside, c.path("A", "kinds/outside-dir"));
      await fs.symlink("real-dir", c.path("A", "kinds/inside-dir"));
      await c.waitForAgreement(
        "every link is the same link",
        (t) =>
          (t.get("relative") === link("target.txt") &&
            t.get("absolute") === link(path.join(outside, "secret.txt")) &&
            t.get("escaping") === link("../../../../etc/passwd") &&
            t.get("dangling") === link("no/such/file") &&
            t.get("outside-dir") === link(outside) &&
            t.get("inside-dir") === link("real-dir") &&
            t.get("real-dir") === DIR) ||
          "not yet",
        ["A", "B"],
        { under: "kinds" },
      );
      // The snapshot lists a link as a leaf: B holds no copy of anything behind one.
      expect([...(await c.snapshot("B", { under: "kinds" })).keys()].sort()).toEqual(
        ["absolute", "dangling", "escaping", "inside-dir", "outside-dir", "real-dir", "relative", "target.txt"],
      );
      expect((await fs.lstat(c.path("B", "kinds/outside-dir"))).isSymbolicLink()).toBe(true);
      await outsideUntouched(outside);
      expect(count("A", /Not syncing "kinds\//)).toBe(0);
    }),
  );

  test(
    "a named pipe is not synced and is reported once, while a link beside it syncs",
    dumpLogsOnFailure(async () => {
      const c = cluster();
      await fs.mkdir(c.path("A", "pipes"));
      expect(Bun.spawnSync(["mkfifo", c.path("A", "pipes/fifo")]).exitCode).toBe(0);
      await fs.symlink("fifo", c.path("A", "pipes/to-fifo"));
      await c.waitFor("the link beside the pipe to reach B", async () => (await c.snapshot("B", { under: "pipes" })).get("to-fifo") === link("fifo") || "not yet");
      await c.client("A").waitForLine(/Not syncing "pipes\/fifo": it is a named pipe/);
      expect((await c.snapshot("B", { under: "pipes" })).has("fifo")).toBe(false);
      expect(count("A", /pipes\/fifo/)).toBe(1);
    }),
  );

  test(
    "a link whose target is not valid UTF-8 is reported once and left alone, and a link beside it syncs",
    dumpLogsOnFailure(async () => {
      const c = cluster();
      await fs.mkdir(c.path("A", "latin1"));
      await fs.symlink(Buffer.from([0x63, 0x61, 0x66, 0xe9]), c.path("A", "latin1/bad"));
      await fs.symlink("caf\u00e9", c.path("A", "latin1/good"));
      await c.waitFor("the good link to reach B", async () => (await c.snapshot("B", { under: "latin1" })).get("good") === link("caf\u00e9") || "not yet");
      await c.client("A").waitForLine(/Not syncing "latin1\/bad": it is a symbolic link whose target cannot be synced: it is not valid UTF-8/);
      // Another look at the folder (a new file in it) says nothing more about the bad link.
      await writeFile(c.path("A"), "latin1/later.txt", "later\n");
      await c.waitFor("later.txt to reach B", async () => (await c.snapshot("B", { under: "latin1" })).get("later.txt") === sha256("later\n") || "not yet");
      expect((await c.snapshot("B", { under: "latin1" })).has("bad")).toBe(false);
      expect(count("A", /latin1\/bad/)).toBe(1);
    }),
  );

  test(
    "a link given another target on A gets that target on B",
    dumpLogsOnFailure(async () => {
      const c = cluster();
      await fs.mkdir(c.path("A", "retarget"));
      await fs.symlink("first", c.path("A", "retarget/l"));
      await c.waitFor("B to get the link", async () => (await c.snapshot("B", { under: "retarget" })).get("l") === link("first") || "not yet");
      // As `ln -sfn second l` does it.
      await fs.unlink(c.path("A", "retarget/l"));
      await fs.symlink("second", c.path("A", "retarget/l"));
      await c.waitForAgreement("the link points to the new target", (t) => t.get("l") === link("second") || "not yet", ["A", "B"], { under: "retarget" });
    }),
  );

  test(
    "a link deleted on A is deleted on B, and what it pointed to stays",
    dumpLogsOnFailure(async () => {
      const c = cluster();
      const outside = await outsideFolder("outside-delete");
      await writeFile(c.path("A"), "del/real/inner.txt", "inside the pointed-at folder\n");
      await fs.symlink("real", c.path("A", "del/to-real"));
      await fs.symlink(outside, c.path("A", "del/to-outside"));
      await c.waitForAgreement(
        "both links are there",
        (t) => (t.get("to-real") === link("real") && t.get("to-outside") === link(outside) && t.has("real/inner.txt")) || "not yet",
        ["A", "B"],
        { under: "del" },
      );
      await fs.unlink(c.path("A", "del/to-real"));
      await fs.unlink(c.path("A", "del/to-outside"));
      await c.waitForAgreement(
        "the links are gone and the folder is whole",
        (t) => (!t.has("to-real") && !t.has("to-outside") && t.get("real/inner.txt") === sha256("inside the pointed-at folder\n")) || "not yet",
        ["A", "B"],
        { under: "del" },
      );
      await outsideUntouched(outside);
    }),
  );

  test(
    "a synced file replaced by a symlink becomes that symlink on B, and a symlink replaced by a file becomes that file",
    dumpLogsOnFailure(async () => {
      const c = cluster();
      await writeFile(c.path("A"), "swap/was-file", "a file first\n");
      await writeFile(c.path("A"), "swap/other.txt", "other\n");
      await fs.symlink("other.txt", c.path("A", "swap/was-link"));
      await c.waitForAgreement(
        "the file and the link are there",
        (t) => (t.get("was-file") === sha256("a file first\n") && t.get("was-link") === link("other.txt")) || "not yet",
        ["A", "B"],
        { under: "swap" },
      );
      await fs.rm(c.path("A", "swap/was-file"));
      await fs.symlink("other.txt", c.path("A", "swap/was-file"));
      await fs.unlink(c.path("A", "swap/was-link"));
      await writeFile(c.path("A"), "swap/was-link", "a file now\n");
      await c.waitForAgreement(
        "the file is a link and the link a file",
        (t) => (t.get("was-file") === link("other.txt") && t.get("was-link") === sha256("a file now\n") && t.get("other.txt") === sha256("other\n")) || "not yet",
        ["A", "B"],
        { under: "swap" },
      );
    }),
  );

  test(
    "a synced folder moved out and linked back in becomes that link on B, and nothing behind it is touched",
    dumpLogsOnFailure(async () => {
      const c = cluster();
      const outside = c.root.join("moved-out");
      await writeFile(c.path("A"), "relink/dir/a.txt", "was inside\n");
      await writeFile(c.path("A"), "relink/dir/b.txt", "was inside too\n");
      await c.waitFor("B to get the folder", async () => (await c.snapshot("B", { under: "relink" })).get("dir/b.txt") === sha256("was inside too\n") || "not yet");
      await fs.rename(c.path("A", "relink/dir"), outside);
      await fs.symlink(outside, c.path("A", "relink/dir"));
      await c.waitForAgreement("the folder is the link", (t) => (t.get("dir") === link(outside) && t.size === 1) || "not yet", ["A", "B"], { under: "relink" });
      // A file written where the link points is not the folder's: it never travels.
      await fs.writeFile(path.join(outside, "c.txt"), "written behind the link\n");
      await writeFile(c.path("A"), "relink/after.txt", "after\n");
      await c.waitFor("after.txt to reach B", async () => (await c.snapshot("B", { under: "relink" })).get("after.txt") === sha256("after\n") || "not yet");
      expect([...(await c.snapshot("B", { under: "relink" })).keys()].sort()).toEqual(["after.txt", "dir"]);
      expect([...(await snapshotTree(outside)).keys()].sort()).toEqual(["a.txt", "b.txt", "c.txt"]);
    }),
  );

  test(
    "a remote folder where B has a link to a folder outside is never written through the link",
    dumpLogsOnFailure(async () => {
      const c = cluster();
      const outside = await outsideFolder("outside-through");
      const b = c.client("B");
      await b.stop();
      // B's link is new and unsynced when A's folder of the same name arrives: both are kept.
      await fs.mkdir(c.path("B", "through"));
      await fs.symlink(outside, c.path("B", "through/link"));
      await writeFile(c.path("A"), "through/link/x.txt", "must land inside the sync folder\n");
      await c.client("A").waitForLine(/Uploaded put "through\/link\/x\.txt"/);
      b.start();
      const tree = await c.waitForAgreement(
        "the folder holds x.txt and the link is kept beside it",
        (t) => (t.get("link") === DIR && t.get("link/x.txt") === sha256("must land inside the sync folder\n") && [...t.values()].includes(link(outside))) || "not yet",
        ["A", "B"],
        { under: "through" },
      );
      expect([...tree.keys()].filter((p) => tree.get(p) === link(outside))).toHaveLength(1);
      await outsideUntouched(outside);
    }),
  );
});
