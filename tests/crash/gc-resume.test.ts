import { afterAll, expect, setDefaultTimeout, test } from "bun:test";
import { Database } from "bun:sqlite";
import { randomBytes } from "node:crypto";
import { crashSeed, packBytes, placeFile } from "../crash/_lib.ts";
import type { Cluster } from "../helpers/cluster.ts";
import { useTestCluster } from "../helpers/cluster-hooks.ts";
import { FaultProxy } from "../helpers/fault-proxy.ts";
import { scrapeMetric } from "../helpers/metrics.ts";
import { sha256 } from "../helpers/tree.ts";

// Issue 12: blocks a server received are made durable (every 32 MiB and when the session ends),
// so an upload interrupted by a server restart resumes where it was instead of starting again
// from zero. The client reaches the server through a fault proxy that stalls now and then, so
// the 64 MiB upload lasts long enough to be caught in the middle.

setDefaultTimeout(120_000);

const MiB = 1024 * 1024;
const SIZE = 64 * MiB;
const STORED = "dropsim_block_bytes_stored_total";

let proxy: FaultProxy | undefined;
const withCluster = useTestCluster({
  clients: ["A"],
  serverAddress: async (server) => {
    await proxy?.close();
    proxy = await FaultProxy.start({ target: server.address, seed: crashSeed("gc-resume proxy"), stallChance: 0.02, stallMaxMs: 200 });
    return proxy.address;
  },
});

afterAll(() => proxy?.close());

function storedSinceStart(c: Cluster): Promise<number> {
  return scrapeMetric(c.server.metricsUrl, STORED, { share: "default" });
}

/** Starts big.bin's upload on A and waits until the server has stored at least `bytes` of it. */
async function uploadUntil(c: Cluster, bytes: number): Promise<string> {
  const data = new Uint8Array(randomBytes(SIZE));
  await placeFile(c, "A", "big.bin", data);
  await c.waitFor(`the server to store ${bytes / MiB} MiB of big.bin`, async () => {
    const n = await storedSinceStart(c);
    return n >= bytes || `${(n / MiB).toFixed(1)} MiB stored`;
  }, 60_000);
  return sha256(data);
}

/** Bytes of the blocks a stopped server's index knows: what a restarted server will not ask for again. */
function indexedBytes(dataDir: string): number {
  const db = new Database(`${dataDir}/shares/default/blocks/index.db`, { readonly: true });
  try {
    return (db.query("SELECT coalesce(sum(size), 0) AS bytes FROM blocks").get() as { bytes: number }).bytes;
  } finally {
    db.close();
  }
}

function committed(c: Cluster): boolean {
  return /Uploaded put "big\.bin"/.test(c.client("A").logs());
}

/** After the restart: A commits big.bin, and a fresh client downloads it whole. Returns the block bytes the restarted server received. */
async function finishAndCheck(c: Cluster, hash: string): Promise<number> {
  await c.client("A").waitForLine(/Uploaded put "big\.bin"/, 60_000);
  const again = await storedSinceStart(c);
  c.addClient("B");
  await c.waitFor("B to download big.bin whole", async () => (await c.snapshot("B")).get("big.bin") === hash || "not yet", 60_000);
  return again;
}

test("a graceful server restart in the middle of a 64 MiB upload: the blocks already received are not uploaded again", async () => {
  await withCluster(async (c) => {
    const base = await packBytes(c.server.dataDir);
    const hash = await uploadUntil(c, 32 * MiB);
    // Nothing more reaches the server: what it holds when it stops is what it received.
    proxy!.blackhole();
    await c.server.stop();
    if (committed(c)) throw new Error("big.bin was committed before the restart: the upload was not caught in the middle");
    // What the server wrote to its packs before it stopped: all of it was received.
    const packed = await packBytes(c.server.dataDir);
    const received = packed - base;
    expect(received).toBeGreaterThanOrEqual(32 * MiB);
    const unindexed = packed - indexedBytes(c.server.dataDir);
    proxy!.restore();
    await c.server.launch();
    const again = await finishAndCheck(c, hash);
    const said = `${(received / MiB).toFixed(1)} MiB received before the restart (${(unindexed / MiB).toFixed(2)} MiB of it in packs but not in the index after the graceful stop), ${(again / MiB).toFixed(1)} MiB after`;
    console.error(`[gc-resume] ${said}`);
    // A session that ends makes what it received durable, a graceful stop included: nothing in a pack may lack its index row.
    if (unindexed !== 0) throw new Error(`The graceful stop left received blocks out of the index: ${said}`);
    // A little slack for pack framing; far below what a restart from zero sends.
    if (again > SIZE - received + 2 * MiB) throw new Error(`Blocks the server had received were uploaded again: ${said}`);
  });
});

test("a server SIGKILL after 44 MiB of a 64 MiB upload: the blocks made durable (every 32 MiB) are not uploaded again", async () => {
  await withCluster(async (c) => {
    const hash = await uploadUntil(c, 44 * MiB);
    await c.server.kill();
    if (committed(c)) throw new Error("big.bin was committed before the kill: the upload was not caught in the middle");
    await c.server.launch();
    const again = await finishAndCheck(c, hash);
    console.error(`[gc-resume] ${(again / MiB).toFixed(1)} MiB received after the kill`);
    expect(again).toBeLessThanOrEqual(SIZE - 32 * MiB + 2 * MiB);
  });
});
