import { describe, expect, setDefaultTimeout, test } from "bun:test";
import * as fs from "node:fs/promises";
import { useFileCluster } from "../helpers/cluster-hooks.ts";
import { dumpLogsOnFailure } from "../helpers/spawn-dropsim.ts";
import { sha256, writeFile } from "../helpers/tree.ts";

// What stat alone hides: a hard link's other name, and an edit whose mtime was put back
// (issue 9, items 3 and 4).

setDefaultTimeout(60_000);

const cluster = useFileCluster({ clients: ["A", "B"] });

async function bHolds(rel: string, content: string | Buffer): Promise<void> {
  const c = cluster();
  await c.waitFor(`B to hold ${rel} as written on A`, async () => (await c.snapshot("B")).get(rel) === sha256(content) || "not yet");
}

describe("changes stat does not show by mtime and path", () => {
  test(
    "appending through one name of a hard-linked pair updates the other name on the other replica",
    dumpLogsOnFailure(async () => {
      const c = cluster();
      await writeFile(c.path("A"), "links/one.txt", "shared inode\n");
      await fs.mkdir(c.path("A", "elsewhere"));
      // In another folder: the watcher reports a write only under the name it went through.
      await fs.link(c.path("A", "links/one.txt"), c.path("A", "elsewhere/two.txt"));
      await bHolds("links/one.txt", "shared inode\n");
      await bHolds("elsewhere/two.txt", "shared inode\n");
      await fs.appendFile(c.path("A", "links/one.txt"), "appended through one\n");
      await bHolds("links/one.txt", "shared inode\nappended through one\n");
      await bHolds("elsewhere/two.txt", "shared inode\nappended through one\n");
      // Again, now that the new folders' rescan is behind us: only the watcher's event is left.
      await fs.appendFile(c.path("A", "links/one.txt"), "and again\n");
      await bHolds("links/one.txt", "shared inode\nappended through one\nand again\n");
      await bHolds("elsewhere/two.txt", "shared inode\nappended through one\nand again\n");
    }),
  );

  test(
    "a same-size edit in place whose mtime is put back is synced",
    dumpLogsOnFailure(async () => {
      const c = cluster();
      const before = Buffer.alloc(64 * 1024, 1);
      await fs.writeFile(c.path("A", "disk.img"), before);
      await bHolds("disk.img", before);
      // touch -r copies the time to the nanosecond, as the programs that do this put it back.
      const ref = c.root.join("disk.img.time");
      expect(Bun.spawnSync(["touch", "-r", c.path("A", "disk.img"), ref]).exitCode).toBe(0);
      const { mtimeMs } = await fs.stat(c.path("A", "disk.img"));
      const after = Buffer.from(before);
      after.write("changed in place", 1000);
      const handle = await fs.open(c.path("A", "disk.img"), "r+");
      await handle.write(after.subarray(1000, 1016), 0, 16, 1000);
      await handle.close();
      expect(Bun.spawnSync(["touch", "-r", ref, c.path("A", "disk.img")]).exitCode).toBe(0);
      expect((await fs.stat(c.path("A", "disk.img"))).mtimeMs).toBe(mtimeMs);
      await bHolds("disk.img", after);
    }),
  );
});
