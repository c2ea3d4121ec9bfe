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

/** Waits for B's `n`-th download of disk.img, then checks B's copy against A's. */
async function expectSparseCopyOnB(cluster: Cluster, n: number): Promise<void> {
  await cluster.waitFor(`B to download disk.img ${n} times`, () => {
    const downloads = cluster.client("B").logs().split("\n").filter((l) => l.includes('Downloaded "disk.img"')).length;
    return downloads >= n || `${downloads} downloads so far`;
  }, 90_000);
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
      await expectSparseCopyOnB(cluster, 1);

      // An edit in place: B builds the new version from its old one, which must not fill the holes.
      const edit = await fs.open(cluster.path("A", "disk.img"), "r+");
      try {
        await edit.write(randomBytes(16), 0, 16, DATA_AT + 1000);
      } finally {
        await edit.close();
      }
      await expectSparseCopyOnB(cluster, 2);
    }),
  150_000,
);
