import { describe, expect, setDefaultTimeout, test } from "bun:test";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { useFileCluster } from "../helpers/cluster-hooks.ts";
import { dumpLogsOnFailure } from "../helpers/spawn-dropsim.ts";
import { sha256, writeFile } from "../helpers/tree.ts";

// One entry that cannot be synced is reported once and never stops any other path, in
// either direction (issue 9, items 5, 7, 8, 9).

setDefaultTimeout(60_000);

const cluster = useFileCluster({ clients: ["A", "B"] });

/** Lines of `name`'s log matching `re`. */
function count(name: string, re: RegExp): number {
  return cluster().client(name).logs().split("\n").filter((l) => re.test(l)).length;
}

/** A file written on each side reaches the other: both directions still sync. */
async function bothWaysStillSync(tag: string): Promise<void> {
  const c = cluster();
  await writeFile(c.path("A"), `after-${tag}-A.txt`, `from A ${tag}\n`);
  await writeFile(c.path("B"), `after-${tag}-B.txt`, `from B ${tag}\n`);
  // Read file by file: a snapshot of the whole folder would trip over the entries under test.
  const holds = (name: string, rel: string, content: string) =>
    fs.readFile(c.path(name, rel), "utf8").then((s) => s === content, () => false);
  await c.waitFor(`both files written after ${tag} to reach the other side`, async () => {
    if (!(await holds("B", `after-${tag}-A.txt`, `from A ${tag}\n`))) return "A's file not on B yet";
    return (await holds("A", `after-${tag}-B.txt`, `from B ${tag}\n`)) || "B's file not on A yet";
  });
}

describe("entries that cannot be synced", () => {
  test(
    "a name with a backslash is reported once, and every other upload of that client goes on",
    dumpLogsOnFailure(async () => {
      const c = cluster();
      await fs.writeFile(path.join(c.path("A"), "back\\slash.txt"), "bad name\n");
      await writeFile(c.path("A"), "beside-backslash.txt", "good name\n");
      await c.waitFor("the good file to reach B", async () => (await c.snapshot("B")).get("beside-backslash.txt") === sha256("good name\n") || "not yet");
      await bothWaysStillSync("backslash");
      await c.client("A").waitForLine(/"back\\slash\.txt".*backslash/);
      expect(count("A", /back\\slash\.txt/)).toBe(1);
      expect((await c.snapshot("B")).has("back\\slash.txt")).toBe(false);
    }),
  );

  test(
    "a name that is not valid UTF-8 is reported once, and everything else syncs",
    dumpLogsOnFailure(async () => {
      const c = cluster();
      const bad = Buffer.concat([Buffer.from(path.join(c.path("A"), "latin1-")), Buffer.from([0xe9, 0xff]), Buffer.from(".txt")]);
      await fs.writeFile(bad, "bytes\n");
      await bothWaysStillSync("non-utf8");
      await c.client("A").waitForLine(/not valid UTF-8/);
      await bothWaysStillSync("non-utf8-again");
      expect(count("A", /not valid UTF-8/)).toBe(1);
    }),
  );

  test(
    "a path longer than the OS allows is reported once, and everything else syncs",
    dumpLogsOnFailure(async () => {
      const c = cluster();
      // 16 folders of 250 bytes and a 64-byte name: a valid wire path (4,080 bytes), but over
      // PATH_MAX (4,096) once the folder's own absolute path is in front. Made step by step,
      // each relative to the last.
      const seg = "d".repeat(250);
      expect(c.path("A").length).toBeGreaterThan(16);
      const script = `cd "$1" && for i in $(seq 16); do mkdir ${seg} && cd ${seg}; done && echo deep > ${"f".repeat(64)}`;
      const made = Bun.spawnSync(["bash", "-c", script, "bash", c.path("A")]);
      expect(made.exitCode).toBe(0);
      await bothWaysStillSync("too-long");
      await c.client("A").waitForLine(/longer than this system allows \(ENAMETOOLONG\)/);
      await bothWaysStillSync("too-long-again");
      expect(count("A", /ENAMETOOLONG/)).toBe(1);
    }),
  );

  test(
    "a file replaced by a folder of the same name, and a folder by a file, converge on the other side",
    dumpLogsOnFailure(async () => {
      const c = cluster();
      await writeFile(c.path("A"), "swap/thing", "a file first\n");
      await writeFile(c.path("A"), "swap/box/inside.txt", "a folder first\n");
      await c.waitFor("B to get both", async () => {
        const b = await c.snapshot("B");
        return (b.get("swap/thing") === sha256("a file first\n") && b.get("swap/box/inside.txt") === sha256("a folder first\n")) || "not yet";
      });
      await fs.rm(c.path("A", "swap/thing"));
      await writeFile(c.path("A"), "swap/thing/now-a-folder.txt", "folder now\n");
      await fs.rm(c.path("A", "swap/box"), { recursive: true });
      await writeFile(c.path("A"), "swap/box", "file now\n");
      await c.waitForAgreement(
        "the file became a folder and the folder a file",
        (t) => (t.get("thing") === "dir" && t.get("thing/now-a-folder.txt") === sha256("folder now\n") && t.get("box") === sha256("file now\n")) || "not yet",
        ["A", "B"],
        { under: "swap" },
      );
      expect(count("B", /Cannot apply/)).toBe(0);
    }),
  );

  test(
    "a file replaced by a folder while the other side was offline converges after it comes back",
    dumpLogsOnFailure(async () => {
      const c = cluster();
      await writeFile(c.path("A"), "offswap/x", "file\n");
      await c.waitFor("B to get offswap/x", async () => (await c.snapshot("B")).get("offswap/x") === sha256("file\n") || "not yet");
      const b = c.client("B");
      await b.stop();
      await fs.rm(c.path("A", "offswap/x"));
      await writeFile(c.path("A"), "offswap/x/y.txt", "inside\n");
      await c.waitFor("A to upload the new folder's file", () => count("A", /Uploaded put "offswap\/x\/y\.txt"/) > 0 || "not yet");
      b.start();
      await c.waitForAgreement("offswap/x is a folder holding y.txt", (t) => (t.get("x") === "dir" && t.get("x/y.txt") === sha256("inside\n")) || "not yet", ["A", "B"], { under: "offswap" });
    }),
  );

  test(
    "a synced file replaced by a symlink becomes that symlink on the other side, with nothing behind it copied or deleted",
    dumpLogsOnFailure(async () => {
      const c = cluster();
      await writeFile(c.path("A"), "linked/real.txt", "real bytes\n");
      await c.waitFor("B to get linked/real.txt", async () => (await c.snapshot("B", { under: "linked" })).get("real.txt") === sha256("real bytes\n") || "not yet");
      await fs.rm(c.path("A", "linked/real.txt"));
      await fs.symlink("/etc/hostname", c.path("A", "linked/real.txt"));
      await c.waitForAgreement("linked/real.txt is the link", (t) => t.get("real.txt") === "symlink -> /etc/hostname" || "not yet", ["A", "B"], { under: "linked" });
      await bothWaysStillSync("symlink");
      expect(count("A", /Uploaded delete "linked\/real\.txt"/)).toBe(0);
      expect(count("A", /Not syncing "linked\/real\.txt"/)).toBe(0);
    }),
  );
});
