import { afterEach, beforeEach, expect, test } from "bun:test";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import type { BlockFetcher } from "../../src/client/block-fetcher.ts";
import type { SyncContext } from "../../src/client/context.ts";
import { Prefetcher } from "../../src/client/prefetch.ts";
import { Throttle } from "../../src/client/rate-limit.ts";
import type { Incoming, ServerPeer } from "../../src/client/server-link.ts";
import { hashBlock, hashBlockList } from "../../src/core/block-hash.ts";
import type { BlockRef } from "../../src/core/entry.ts";
import { TempDirs } from "../../src/fsutil/temp-dirs.ts";
import { type TempDir, tempDir } from "../helpers/temp-dir.ts";
import { waitFor } from "../helpers/wait-for.ts";

// The prefetcher against a fake block source: what it writes, what a download claims, what it drops.

const KiB = 1024;
let dir: TempDir;
let ctx: SyncContext;
/** Blocks the fake server serves, by hash; a test may hold one back. */
let served: Map<string, Uint8Array>;
let held: Set<string>;
/** Blocks the prefetcher asked the fake for: asking for one means it wrote the one before. */
let asked: number;
/** Fetches that ended (the prefetcher wrote all it asked for, or stopped). */
let ended: number;
const peer = {} as ServerPeer;

const blocks = Array.from({ length: 6 }, (_, i) => new Uint8Array(64 * KiB).fill(i + 1));
const refs = blocks.map((b): BlockRef => [hashBlock(b), b.length]);
const SIZE = 6 * 64 * KiB;
const told = (from: number, to: number, path = "big.bin"): Incoming => ({ type: "incoming", path, size: SIZE, from, blocks: refs.slice(from, to) });
const target = (blocksOf: BlockRef[], path = "big.bin") => ({ path, hash: hashBlockList(blocksOf.map(([h]) => h)), blocks: blocksOf });

beforeEach(async () => {
  dir = await tempDir("dropsim-prefetch-");
  served = new Map(refs.map(([h], i) => [h, blocks[i]!]));
  held = new Set();
  asked = 0;
  ended = 0;
  const fetcher = {
    async *fetch(_peer: ServerPeer, wanted: readonly BlockRef[]) {
      try {
        for (const [hash] of wanted) {
          asked++;
          await waitFor("a held block", () => !held.has(hash) || "held");
          // A fresh buffer each, as frames are: the prefetcher frees them once written.
          yield new Uint8Array(served.get(hash)!);
        }
      } finally {
        ended++;
      }
    },
  } as unknown as BlockFetcher;
  ctx = {
    root: dir.path,
    tmpDirs: await TempDirs.prepare(dir.join(".dropsim/tmp")),
    fetcher,
    throttle: new Throttle({ up: null, down: null }),
    minDiskFree: { bytes: 0 },
  } as unknown as SyncContext;
});
afterEach(() => dir.remove());

/** Every file under the temp folders, kept partial files included. */
async function tempFiles(): Promise<string[]> {
  const root = dir.join(".dropsim/tmp");
  const out: string[] = [];
  for (const d of await fs.readdir(root)) for (const f of await fs.readdir(path.join(root, d))) out.push(path.join(d, f));
  return out;
}

test("a download claims the blocks streamed that begin its file: its partial file holds them, checked, and nothing else is left", async () => {
  const p = new Prefetcher(ctx, () => true);
  p.incoming(peer, told(0, 2));
  await waitFor("two blocks streamed", () => ended === 1 || `${asked} asked`);
  p.incoming(peer, told(2, 4));
  await waitFor("four blocks streamed", () => ended === 2 || `${asked} asked`);
  // The commit changed the last blocks: only the first four are of use.
  const committed = [...refs.slice(0, 4), [hashBlock(new Uint8Array(7)), 7] as BlockRef];
  const resume = await p.claim(target(committed));
  expect(resume).toMatchObject({ blocks: 4, bytes: 4 * 64 * KiB });
  const bytes = new Uint8Array(await fs.readFile(resume!.path));
  expect(bytes).toEqual(new Uint8Array(Buffer.concat(blocks.slice(0, 4))));
  expect(await tempFiles()).toEqual([path.join("kept", path.basename(resume!.path))]);
  // Claimed once: the stream is the download's now.
  expect(await p.claim(target(committed))).toBeUndefined();
});

test("a claim while blocks are still on their way stops the stream and takes what was written", async () => {
  const p = new Prefetcher(ctx, () => true);
  held.add(refs[3]![0]);
  p.incoming(peer, told(0, 6));
  await waitFor("three blocks written, the fourth asked for", () => asked === 4 || `${asked} asked`);
  const claimed = p.claim(target(refs));
  held.clear();
  const resume = await claimed;
  expect(resume?.blocks).toBe(3);
  const bytes = new Uint8Array(await fs.readFile(resume!.path));
  expect(bytes.length).toBe(resume!.bytes);
  expect(bytes).toEqual(new Uint8Array(Buffer.concat(blocks.slice(0, resume!.blocks))));
});

test("a file committed with other content claims nothing, and the streamed file goes", async () => {
  const p = new Prefetcher(ctx, () => true);
  p.incoming(peer, told(0, 3));
  await waitFor("three blocks streamed", () => ended === 1 || `${asked} asked`);
  expect(await p.claim(target([refs[5]!, ...refs.slice(0, 3)]))).toBeUndefined();
  expect(await tempFiles()).toEqual([]);
});

test("a gap in what is told drops the stream; a new upload of the path starts over", async () => {
  const p = new Prefetcher(ctx, () => true);
  p.incoming(peer, told(0, 2));
  p.incoming(peer, told(3, 4));
  await waitFor("the stream's file to go", async () => (await tempFiles()).length === 0 || (await tempFiles()).join(", "));
  expect(await p.claim(target(refs))).toBeUndefined();
  asked = ended = 0;
  p.incoming(peer, told(0, 2));
  await waitFor("two blocks streamed", () => ended === 1 || `${asked} asked`);
  expect((await p.claim(target(refs)))?.blocks).toBe(2);
});

test("a stream not told of again is given up, its file removed", async () => {
  const p = new Prefetcher(ctx, () => true, 50);
  // Held on its second block, the stream keeps its file however soon it is given up.
  held.add(refs[1]![0]);
  p.incoming(peer, told(0, 2));
  await waitFor("the first block written, the second asked for", () => asked === 2 || `${asked} asked`);
  expect(await tempFiles()).toHaveLength(1);
  held.clear();
  await waitFor("the stream to be given up", async () => (await tempFiles()).length === 0 || (await tempFiles()).join(", "));
  expect(await p.claim(target(refs))).toBeUndefined();
});

test("paths not wanted (excluded, ignored), streams joined midway, and a paused client stream nothing", async () => {
  const p = new Prefetcher(ctx, (path) => path !== "excluded.bin");
  p.incoming(peer, told(0, 2, "excluded.bin"));
  p.incoming(peer, told(2, 4, "midway.bin"));
  ctx.throttle.setPaused(true);
  p.incoming(peer, told(0, 2, "paused.bin"));
  for (const name of ["excluded.bin", "midway.bin", "paused.bin"]) expect(await p.claim(target(refs, name))).toBeUndefined();
  expect(await tempFiles()).toEqual([]);
});

test("dropAll stops every stream and removes its file", async () => {
  const p = new Prefetcher(ctx, () => true);
  held.add(refs[1]![0]);
  p.incoming(peer, told(0, 2, "one.bin"));
  p.incoming(peer, told(0, 2, "two.bin"));
  await waitFor("both files to exist", async () => (await tempFiles()).length === 2 || `${(await tempFiles()).length}`);
  p.dropAll();
  held.clear();
  await waitFor("both files to go", async () => (await tempFiles()).length === 0 || (await tempFiles()).join(", "));
});
