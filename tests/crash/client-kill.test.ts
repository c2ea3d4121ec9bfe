import { expect, setDefaultTimeout, test } from "bun:test";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs/promises";
import { useTestCluster } from "../helpers/cluster-hooks.ts";
import { serverEntries } from "../helpers/raw-client.ts";
import { allConflictCopies, partialDownloads, sha256 } from "../helpers/tree.ts";
import { BigFilePatrol, crashSeed, expectFsckClean, packBytes, partialDownloadBytes, placeFile, prng } from "./_lib.ts";

// SIGKILL a client in the middle of a large transfer (seeded random moments; the seed is
// printed), then start it again on the same folder: no partial file ever appears in a synced
// folder or on the server, and after the restart the transfer completes.

setDefaultTimeout(240_000);

const SIZE = 96 * 1024 * 1024;
const withCluster = useTestCluster({ clients: ["A", "B"] });

test("SIGKILL a client three times while it downloads a large file: no partial file appears; after restart it completes", async () => {
  const rnd = prng(crashSeed("client-kill download"));
  await withCluster(async (c) => {
    const bytes = new Uint8Array(randomBytes(SIZE));
    const hash = sha256(bytes);
    const b = c.client("B");
    const patrol = new BigFilePatrol(c.path("B", "big.bin"), SIZE, hash);
    try {
      await placeFile(c, "A", "big.bin", bytes);
      await c.client("A").waitForLine(/Uploaded put "big\.bin"/, 120_000);
      for (let k = 0; k < 3; k++) {
        const target = Math.floor((0.1 + 0.8 * rnd()) * SIZE);
        await c.waitFor(`B to download ${(target / 2 ** 20).toFixed(0)} MiB of big.bin (kill ${k + 1})`, async () => {
          const now = await partialDownloadBytes(b.folder);
          return now >= target || `${(now / 2 ** 20).toFixed(1)} MiB in B's .dropsim/tmp`;
        }, 120_000);
        await b.kill();
        expect((await fs.stat(c.path("B", "big.bin")).catch(() => undefined))?.size ?? SIZE).toBe(SIZE);
        b.start();
      }
      await c.waitFor("B to hold big.bin complete", async () => (await c.snapshot("B")).get("big.bin") === hash || "not yet", 120_000);
    } finally {
      expect(await patrol.stop()).toEqual([]);
    }
    expect(patrol.looks).toBeGreaterThan(10);
    await b.waitForLine(/Downloaded "big\.bin"/);
    // The restarted client cleaned its partial downloads, and left none of its own.
    await c.waitFor("no partial download left in B's .dropsim/tmp", async () => {
      const left = [...(await partialDownloads(b.folder)).keys()];
      return left.length === 0 || `left: ${left.join(", ")}`;
    });
    expect([...(await c.snapshot("B")).keys()]).toEqual(["big.bin"]);
  });
});

test("SIGKILL a client three times while it uploads a large file: the server never holds a partial entry; after restart it completes", async () => {
  const rnd = prng(crashSeed("client-kill upload"));
  await withCluster(async (c) => {
    const bytes = new Uint8Array(randomBytes(SIZE));
    const hash = sha256(bytes);
    const a = c.client("A");
    const patrol = new BigFilePatrol(c.path("B", "big.bin"), SIZE, hash);
    try {
      await placeFile(c, "A", "big.bin", bytes);
      // Blocks a killed client sent stay with the (living) server, so the upload resumes
      // where it stopped: kill at three growing points of the total, unless it finished first.
      const start = await packBytes(c.server.dataDir);
      const points = [rnd(), rnd(), rnd()].map((f) => Math.floor((0.05 + 0.85 * f) * SIZE)).sort((x, y) => x - y);
      let kills = 0;
      for (const point of points) {
        let finished = false;
        await c.waitFor(`the server to hold ${(point / 2 ** 20).toFixed(0)} MiB of big.bin, or all of it (kill ${kills + 1})`, async () => {
          const now = (await packBytes(c.server.dataDir)) - start;
          if (now >= point) return true;
          finished = (await serverEntries(c.server.port)).has("big.bin");
          return finished || `${(now / 2 ** 20).toFixed(1)} MiB so far`;
        }, 120_000);
        if (finished) break;
        await a.kill();
        kills++;
        const entry = (await serverEntries(c.server.port)).get("big.bin");
        if (entry) expect(entry.size).toBe(SIZE);
        a.start();
      }
      console.error(`[client-kill upload] killed the uploading client ${kills} time(s)`);
      expect(kills).toBeGreaterThan(0);
      await c.waitFor("B to hold big.bin complete", async () => (await c.snapshot("B")).get("big.bin") === hash || "not yet", 180_000);
    } finally {
      expect(await patrol.stop()).toEqual([]);
    }
    const entry = (await serverEntries(c.server.port)).get("big.bin");
    expect(entry?.size).toBe(SIZE);
    expect((await c.snapshot("A")).get("big.bin")).toBe(hash);
    await expectFsckClean(c.server.dataDir);
  });
});

test("SIGKILL a client while it downloads many small files: after restart it holds each once, with no conflict copy and nothing uploaded", async () => {
  // Files are put in place before the index records them (download-batch.ts, RECORD_EVERY): a
  // kill in between leaves files the index does not know, which the restarted client must take
  // for what they are, the server's own content.
  const COUNT = 400;
  const rnd = prng(crashSeed("client-kill small files"));
  await withCluster(async (c) => {
    const b = c.client("B");
    await b.stop();
    const expected = new Map<string, string>();
    const staging = c.root.join(`staging-${crypto.randomUUID()}`);
    await fs.mkdir(staging);
    for (let i = 0; i < COUNT; i++) {
      const bytes = new Uint8Array(randomBytes(1000 + i));
      await fs.writeFile(`${staging}/f${i}.bin`, bytes);
      expected.set(`f${i}.bin`, sha256(bytes));
    }
    await fs.rename(staging, c.path("A", "many"));
    const committed = async () => {
      const entries = await serverEntries(c.server.port);
      return { held: [...expected.keys()].filter((p) => entries.get(`many/${p}`)?.deleted === false).length, head: Math.max(...[...entries.values()].map((e) => e.version)) };
    };
    await c.waitFor("the server to hold every file", async () => ((await committed()).held === COUNT ? true : `${(await committed()).held} of ${COUNT}`), 120_000);
    const { head } = await committed();

    b.start();
    const target = Math.floor((0.2 + 0.6 * rnd()) * COUNT);
    await c.waitFor(`B to hold ${target} of the files`, async () => {
      const n = (await fs.readdir(c.path("B", "many")).catch(() => [] as string[])).filter((f) => f.endsWith(".bin")).length;
      return n >= target || `${n} so far`;
    }, 120_000);
    await b.kill();
    b.start();
    await c.waitForTree(expected, ["B"], { under: "many", timeout: 120_000 });
    expect(allConflictCopies(await c.snapshot("B"))).toEqual([]);
    // B uploaded nothing: what it found in place unrecorded was taken for the server's own.
    expect((await committed()).head).toBe(head);
  });
});
