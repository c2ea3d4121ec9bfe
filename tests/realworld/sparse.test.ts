import { expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs/promises";
import type { Cluster } from "../helpers/cluster.ts";
import { useTestCluster } from "../helpers/cluster-hooks.ts";

const inCluster = useTestCluster({ clients: ["A", "B"] });

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;
const DATA_AT = 300 * MiB + 12_345;

/** Bytes the file system allocated for `abs` (what `du` reports). */
async function allocated(abs: string): Promise<number> {
  return (await fs.stat(abs)).blocks * 512;
}

/**
 * Waits for B to hold A's current version of disk.img, then checks its bytes and room. Which
 * version B holds shows in its modification time (downloads keep the sender's): hashing 1 GiB
 * at every look would keep a core busy.
 */
async function expectSparseCopyOnB(cluster: Cluster): Promise<void> {
  const a = await fs.stat(cluster.path("A", "disk.img"));
  await cluster.waitFor(
    "B to hold A's version of disk.img",
    async () => {
      const b = await fs.stat(cluster.path("B", "disk.img")).catch(() => undefined);
      return (b && Math.abs(b.mtimeMs - a.mtimeMs) < 1) || `B's: ${b ? new Date(b.mtimeMs).toISOString() : "none"}, A's: ${a.mtime.toISOString()}`;
    },
    90_000,
  );
  const [onA, onB] = await Promise.all([cluster.snapshot("A"), cluster.snapshot("B")]);
  expect(onB.get("disk.img")).toBe(onA.get("disk.img")!);
  expect((await fs.stat(cluster.path("B", "disk.img"))).size).toBe(GiB);
  expect(await allocated(cluster.path("B", "disk.img"))).toBeLessThanOrEqual(4 * MiB);
}

test(
  "a 1 GiB sparse file holding 1 MiB of data arrives with its holes, and keeps them through an edit",
  () =>
    inCluster(async (cluster) => {
      // Made outside the folder and renamed in, so A sees it only whole. The data starts off
      // any block or page boundary, as a disk image's writes need not be aligned.
      const staged = cluster.root.join("disk.img");
      const handle = await fs.open(staged, "w");
      try {
        await handle.truncate(GiB);
        await handle.write(randomBytes(MiB), 0, MiB, DATA_AT);
      } finally {
        await handle.close();
      }
      expect(await allocated(staged)).toBeLessThanOrEqual(2 * MiB); // the test's own file system keeps holes
      await fs.rename(staged, cluster.path("A", "disk.img"));
      await expectSparseCopyOnB(cluster);

      // An edit in place: B builds the new version from its old one, which must not fill the holes.
      const edit = await fs.open(cluster.path("A", "disk.img"), "r+");
      try {
        await edit.write(randomBytes(16), 0, 16, DATA_AT + 1000);
      } finally {
        await edit.close();
      }
      await expectSparseCopyOnB(cluster);
    }),
  150_000,
);
