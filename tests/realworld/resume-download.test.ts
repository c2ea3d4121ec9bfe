import { expect, setDefaultTimeout, test } from "bun:test";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { partialDownloadBytes, placeFile } from "../crash/_lib.ts";
import type { Cluster } from "../helpers/cluster.ts";
import { useTestCluster } from "../helpers/cluster-hooks.ts";
import { FaultProxy } from "../helpers/fault-proxy.ts";
import { ClientProcess } from "../helpers/spawn-dropsim.ts";
import { partialDownloads, sha256 } from "../helpers/tree.ts";

// A big download cut short by a client restart (SIGKILL: no chance to tidy up) resumes from the
// partial file it left, re-hashing what is there, instead of fetching every block again.
//
// What the server sent B is counted by a proxy in front of B only (A talks to the server
// directly): the bytes forwarded both ways on B's connections, protocol included. The proxy's
// latency also slows B's download (a window of blocks per round trip) enough to kill it mid-way.

setDefaultTimeout(180_000);

const MiB = 1024 * 1024;
const SIZE = 64 * MiB;
/** B is killed once its partial download holds this much. */
const KILL_AT = 32 * MiB;
/** What a resumed download may fetch beyond the part it lacked: a block torn by the kill (4 MiB at most here), unflushed writes, protocol. */
const SLACK = 8 * MiB;

const withCluster = useTestCluster({ clients: ["A"] });

interface Interrupted {
  b: ClientProcess;
  proxy: FaultProxy;
  hash: string;
  /** B's partial download bytes just after the kill. */
  partial: number;
}

/** A holds a new big.bin (its SHA-256 returned), uploaded. */
async function placeBigFile(c: Cluster): Promise<string> {
  const bytes = new Uint8Array(randomBytes(SIZE));
  await placeFile(c, "A", "big.bin", bytes);
  await c.client("A").waitForLine(/Uploaded put "big\.bin"/, 120_000);
  return sha256(bytes);
}

/** Starts client B, talking to the server through `proxy`. */
function startB(c: Cluster, proxy: FaultProxy): ClientProcess {
  const b = new ClientProcess({ folder: c.root.join("B"), server: proxy.address, name: "B", token: c.server.token });
  // One of the cluster's clients from now on: disposed of with it, and its exit noticed by waits.
  c.clients.push(b);
  b.start();
  return b;
}

/** A holds big.bin; B, through a slow proxy, downloads at least KILL_AT of it and is SIGKILLed. */
async function interruptedDownload(c: Cluster): Promise<Interrupted> {
  const hash = await placeBigFile(c);
  const proxy = await FaultProxy.start({ target: c.server.address, seed: 1, latencyMs: 40 });
  const b = startB(c, proxy);
  await c.waitFor(`B to download ${KILL_AT / MiB} MiB of big.bin`, async () => {
    const now = await partialDownloadBytes(b.folder);
    return now >= KILL_AT || `${(now / MiB).toFixed(1)} MiB in B's .dropsim/tmp`;
  }, 120_000);
  await b.kill();
  expect(await fs.exists(c.path("B", "big.bin"))).toBe(false);
  return { b, proxy, hash, partial: await partialDownloadBytes(b.folder) };
}

/** Restarts B and waits for it to hold big.bin complete; what the proxy carried meanwhile. */
async function restartUntilComplete(c: Cluster, { b, proxy, hash }: Interrupted): Promise<number> {
  const before = proxy.counters.bytes;
  b.start();
  await c.waitFor("B to hold big.bin complete", async () => (await c.snapshot("B")).get("big.bin") === hash || "not yet", 120_000);
  const carried = proxy.counters.bytes - before;
  // Done, so nothing of it is kept any longer.
  await c.waitFor("no partial download left in B's .dropsim/tmp", async () => {
    const left = [...(await partialDownloads(b.folder)).keys()];
    return left.length === 0 || `left: ${left.join(", ")}`;
  });
  return carried;
}

test("a big download killed half-way resumes after the restart: only the part it lacked travels", () =>
  withCluster(async (c) => {
    const cut = await interruptedDownload(c);
    await using _proxy = cut.proxy;
    const carried = await restartUntilComplete(c, cut);
    console.error(`[resume] partial kept ${(cut.partial / MiB).toFixed(1)} MiB; after the restart B's connection carried ${(carried / MiB).toFixed(1)} MiB of ${SIZE / MiB} MiB`);
    expect(carried).toBeLessThan(SIZE - cut.partial + SLACK);
    await cut.b.waitForLine(/Resuming "big\.bin"/);
  }));

test("a partial download whose bytes were damaged on disk between runs is not trusted: the file arrives intact", () =>
  withCluster(async (c) => {
    const cut = await interruptedDownload(c);
    await using _proxy = cut.proxy;
    const partials = [...(await partialDownloads(cut.b.folder)).keys()];
    expect(partials.length).toBe(1);
    // A page of garbage near the start and one in the middle of what was written.
    const file = await fs.open(path.join(cut.b.folder, ".dropsim", "tmp", partials[0]!), "r+");
    try {
      for (const at of [MiB + 123, Math.floor(cut.partial / 2)]) await file.write(randomBytes(4096), 0, 4096, at);
    } finally {
      await file.close();
    }
    const carried = await restartUntilComplete(c, cut);
    // More than the part it lacked: the damaged blocks (256 KiB at least each) came again.
    expect(carried).toBeGreaterThan(SIZE - cut.partial + 512 * 1024);
  }));

test("a big download over a connection cut again and again resumes after each reconnect", () =>
  withCluster(async (c) => {
    const hash = await placeBigFile(c);
    // Connections cut after 16 MiB on average (seeded: the same points each run), both ways
    // counted: started from zero each time, the download would need one lasting 64 MiB.
    await using proxy = await FaultProxy.start({ target: c.server.address, seed: 7, cutEveryBytes: 16 * MiB });
    const b = startB(c, proxy);
    await c.waitFor("B to hold big.bin complete", async () => (await c.snapshot("B")).get("big.bin") === hash || "not yet", 120_000);
    const { bytes, cuts } = proxy.counters;
    console.error(`[resume] ${cuts} cut(s); B's connections carried ${(bytes / MiB).toFixed(1)} MiB for ${SIZE / MiB} MiB`);
    expect(cuts).toBeGreaterThanOrEqual(2);
    // Each cut costs at most the blocks in flight (a 2 MiB window) and the one torn.
    expect(bytes).toBeLessThan(SIZE + cuts * 6 * MiB + SLACK);
    await b.waitForLine(/Resuming "big\.bin"/);
  }));
