import { expect, setDefaultTimeout, test } from "bun:test";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import type { Cluster } from "../helpers/cluster.ts";
import { useTestCluster } from "../helpers/cluster-hooks.ts";
import { sha256, type Tree } from "../helpers/tree.ts";
import { acknowledgedPuts, BigFilePatrol, crashSeed, expectFsckClean, lostAcknowledged, packBytes, placeFile, prng, readStoredEntries } from "./_lib.ts";

// SIGKILL the server at random moments (seeded; the seed is printed) and restart it on the same
// data dir and port. After each kill, before anything can re-upload: every commit a client was
// told succeeded is in the journal, and `dropsim fsck` passes. In the end the clients converge.

setDefaultTimeout(240_000);

const withCluster = useTestCluster({ clients: ["A", "B"] });

/** Kill, check the dead server's data dir, restart. */
async function killAndCheck(c: Cluster, moment: string): Promise<void> {
  await c.server.kill();
  const acked = new Map<string, number>();
  for (const client of c.clients) for (const [p, v] of acknowledgedPuts(client.logs())) if ((acked.get(p) ?? 0) < v) acked.set(p, v);
  const stored = readStoredEntries(c.server.dataDir);
  const lost = lostAcknowledged(acked, stored);
  if (lost.length > 0) throw new Error(`After a kill ${moment}, acknowledged commits are missing:\n${lost.slice(0, 20).join("\n")}`);
  await expectFsckClean(c.server.dataDir);
  await c.server.launch();
}

test("SIGKILL during a 128 MiB upload, three times: nothing acknowledged is lost, no partial file is served, clients converge", async () => {
  const rnd = prng(crashSeed("server-kill upload"));
  await withCluster(async (c) => {
    const size = 128 * 1024 * 1024;
    const bytes = new Uint8Array(randomBytes(size));
    const hash = sha256(bytes);
    await placeFile(c, "A", "big.bin", bytes);
    const patrol = new BigFilePatrol(c.path("B", "big.bin"), size, hash);
    try {
      for (let k = 0; k < 3; k++) {
        const base = await packBytes(c.server.dataDir);
        // Received blocks survive a kill (made durable every 32 MiB), so an upload resumes rather
        // than restarts: three kills 3–29 MiB apart always land before its 128 MiB are in.
        const target = base + Math.floor((0.1 + 0.8 * rnd()) * (size / 4));
        await c.waitFor(`the server to store ${((target - base) / 2 ** 20).toFixed(0)} MiB more of big.bin (kill ${k + 1})`, async () => {
          const now = await packBytes(c.server.dataDir);
          return now >= target || `${((now - base) / 2 ** 20).toFixed(1)} MiB so far`;
        }, 120_000);
        await killAndCheck(c, `after ${(((await packBytes(c.server.dataDir)) - base) / 2 ** 20).toFixed(0)} MiB of upload ${k + 1}`);
      }
      await c.waitFor("B to hold big.bin complete", async () => (await c.snapshot("B")).get("big.bin") === hash || "not yet", 180_000);
    } finally {
      const violations = await patrol.stop();
      expect(violations).toEqual([]);
      expect(patrol.looks).toBeGreaterThan(10);
    }
    await c.client("A").waitForLine(/Uploaded put "big\.bin"/);
    await c.server.stop();
    expect(lostAcknowledged(acknowledgedPuts(c.client("A").logs()), readStoredEntries(c.server.dataDir))).toEqual([]);
    await expectFsckClean(c.server.dataDir);
  });
});

test("SIGKILL during a burst of small commits and appends, three times: nothing acknowledged is lost, clients converge", async () => {
  const rnd = prng(crashSeed("server-kill burst"));
  await withCluster(async (c) => {
    const expected: Tree = new Map();
    const contents = new Map<string, Uint8Array>();
    const steps = 240;
    const killAt = new Set([0, 1, 2].map((i) => Math.floor(((i + rnd()) / 3) * (steps - 20)) + 10));
    for (let i = 0; i < steps; i++) {
      // Mostly new files, some appends to earlier ones, spread over a few folders.
      const existing = [...contents.keys()];
      let rel: string;
      let data: Uint8Array;
      if (existing.length > 5 && rnd() < 0.3) {
        rel = existing[Math.floor(rnd() * existing.length)]!;
        const more = new Uint8Array(randomBytes(1 + Math.floor(rnd() * 2000)));
        data = new Uint8Array([...contents.get(rel)!, ...more]);
        await fs.appendFile(c.path("A", rel), more);
      } else {
        rel = `burst-${i % 4}/file-${String(i).padStart(3, "0")}.bin`;
        data = new Uint8Array(randomBytes(Math.floor(rnd() * 4000)));
        await fs.mkdir(path.dirname(c.path("A", rel)), { recursive: true });
        await fs.writeFile(c.path("A", rel), data);
      }
      contents.set(rel, data);
      expected.set(rel, sha256(data));
      expected.set(path.posix.dirname(rel), "dir");
      if (killAt.has(i)) await killAndCheck(c, `at step ${i} of the burst`);
      // Random spacing, not synchronisation: the commits of the burst land at varied moments.
      else await Bun.sleep(Math.floor(rnd() * 8));
    }
    await c.waitForTree(expected, ["A", "B"], { timeout: 120_000 });
    await c.server.stop();
    const acked = acknowledgedPuts(c.client("A").logs());
    expect(acked.size).toBeGreaterThan(0);
    expect(lostAcknowledged(acked, readStoredEntries(c.server.dataDir))).toEqual([]);
    const stored = readStoredEntries(c.server.dataDir);
    for (const [p, v] of expected) if (v !== "dir") expect(stored.get(p)?.deleted).toBe(false);
    await expectFsckClean(c.server.dataDir);
  });
});
