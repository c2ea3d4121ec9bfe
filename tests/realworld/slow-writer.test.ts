import { describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs/promises";
import { useTestCluster } from "../helpers/cluster-hooks.ts";
import { allConflictCopies, sha256 } from "../helpers/tree.ts";

const inCluster = useTestCluster({ clients: ["A", "B"] });

/** Uploads of `path` that A's server accepted, from its verbose log. */
function commitsOf(log: string, path: string): number {
  return log.split("\n").filter((l) => l.includes(`Uploaded put "${path}"`)).length;
}

/**
 * A program that writes a file in pieces for 6 s, the way downloads, exports and recorders do.
 * The pauses between pieces are the writer's pace (the workload), not synchronisation.
 */
async function writeSlowly(abs: string, piece: number, everyMs: number, forMs: number): Promise<Buffer> {
  const handle = await fs.open(abs, "w");
  const parts: Buffer[] = [];
  try {
    for (const end = performance.now() + forMs; performance.now() < end; ) {
      const bytes = randomBytes(piece);
      await handle.write(bytes);
      parts.push(bytes);
      await Bun.sleep(everyMs);
    }
  } finally {
    await handle.close();
  }
  return Buffer.concat(parts);
}

describe("a file written by a program for 6 s", () => {
  test.each([
    ["1 MiB per 100 ms", 1 << 20, 100],
    ["256 KiB per 100 ms", 256 << 10, 100],
    ["64 KiB per 50 ms", 64 << 10, 50],
  ])(
    "at %s arrives whole on both replicas, with at most 2 commits, no conflict copy and at most 2 sizes seen on B before the last",
    (_name, piece, everyMs) =>
      inCluster(async (cluster) => {
        const seenOnB = new Set<number>();
        let watching = true;
        // Samples what B shows at the final name while A writes (observation, not synchronisation).
        const sampler = (async () => {
          while (watching) {
            const st = await fs.stat(cluster.path("B", "slow.bin")).catch(() => undefined);
            if (st) seenOnB.add(st.size);
            await Bun.sleep(10);
          }
        })();
        const written = await writeSlowly(cluster.path("A", "slow.bin"), piece, everyMs, 6000);
        const expected = new Map([["slow.bin", sha256(written)]]);
        await cluster.waitForTree(expected, ["A", "B"]);
        watching = false;
        await sampler;
        const a = await fs.readFile(cluster.path("A", "slow.bin"));
        expect(a.length).toBe(written.length);
        expect(allConflictCopies(await cluster.snapshot("A"))).toEqual([]);
        expect(allConflictCopies(await cluster.snapshot("B"))).toEqual([]);
        seenOnB.delete(written.length);
        expect([...seenOnB].length).toBeLessThanOrEqual(2);
        expect(commitsOf(cluster.client("A").logs(), "slow.bin")).toBeLessThanOrEqual(2);
        expect(cluster.client("A").logs()).not.toContain("Conflict");
      }),
    60_000,
  );
});
