import * as fs from "node:fs";
import * as path from "node:path";
import { hashBlock, hashBlockList } from "../../src/core/block-hash.ts";
import { type BlockRef, FILE_MODE, normalMode } from "../../src/core/entry.ts";
import { loadRuntime } from "../../src/runtime/index.ts";
import { DEFAULT_SHARE } from "../../src/store/data-dir.ts";
import type { EntryDraft } from "../../src/store/meta-store.ts";
import { openStores } from "../../src/store/open.ts";
import { requireFree, rmrf, syncDisks } from "../lib/cluster.ts";
import { RandomBytes } from "../lib/data.ts";
import { Proc } from "../lib/proc.ts";
import { withTimeout } from "../lib/wait.ts";
import { type BenchContext, figure, type Figure, GiB, KiB, MiB, runDir, Samples, type Workload } from "../lib/workload.ts";

/**
 * W11: `dropsim gc --data DIR` (a real process, no server running) on a share whose packs hold
 * 1 GiB of blocks, half of them referenced only by deleted files, with `--keep-days 0`. Timed:
 * the process from start to exit, and its peak RSS. The deleted files alternate with live ones,
 * so every pack is half dead and must be rewritten, not just removed. Afterwards the data dir
 * must have shrunk by the dead bytes and `fsck` must find it sound.
 */
const FILE_SIZE = 2 * MiB;
/** The chunker's block size for files up to 256 MiB (core/chunker.ts). */
const BLOCK_SIZE = 16 * KiB;
/** Blocks made durable this often while the share is built. */
const SYNC_EVERY = 64 * MiB;

export const w11: Workload = {
  id: "W11",
  title: "gc of 1 GiB of packs, half dead",
  async run(ctx: BenchContext): Promise<Figure[]> {
    const size = ctx.quick ? 32 * MiB : GiB;
    requireFree(ctx, "W11", 2 * size + 256 * MiB);
    const s = new Samples();
    for (let run = 1; run <= ctx.runs; run++) {
      const dir = runDir(ctx, run);
      const data = path.join(dir, "data");
      try {
        let t = performance.now();
        const dead = await buildHalfDeadShare(data, size, `w11-${run}`);
        await dropsim(dir, ["share", "set", DEFAULT_SHARE, "--keep-days", "0", "--data", data]);
        syncDisks();
        const before = diskBytes(data);
        ctx.progress(`setup: ${(size / MiB).toFixed(0)} MiB of blocks, ${(dead / MiB).toFixed(0)} MiB dead, data dir ${(before / MiB).toFixed(0)} MiB, built in ${((performance.now() - t) / 1000).toFixed(1)} s`);

        t = performance.now();
        const gc = await dropsim(dir, ["gc", "--data", data]);
        const secs = (gc.at - t) / 1000;
        const reclaimed = before - diskBytes(data);
        await dropsim(dir, ["fsck", "--data", data]);
        s.add({ secs, peak: gc.peakKiB === undefined ? undefined : gc.peakKiB / 1024, reclaimedMiB: reclaimed / MiB, share: (100 * reclaimed) / dead });
        ctx.progress(
          `run ${run}: gc took ${secs.toFixed(2)} s, peak RSS ${((gc.peakKiB ?? Number.NaN) / 1024).toFixed(0)} MiB, ` +
            `data dir shrank by ${(reclaimed / MiB).toFixed(0)} MiB of ${(dead / MiB).toFixed(0)} MiB dead; it said: ${gc.output}`,
        );
      } finally {
        rmrf(dir);
      }
    }
    const mb = `${(size / MiB).toFixed(0)} MiB`;
    return [
      figure("W11", `gc --data DIR, ${mb} of packs half dead`, "s", s.get("secs"), { op: "<=", value: 60, text: "≤ 60 s" }, ctx.quick),
      figure("W11", "peak RSS of gc", "MiB", s.get("peak"), { op: "<=", value: 150, text: "≤ 150 MiB" }, ctx.quick),
      figure("W11", "data dir shrank by", "MiB", s.get("reclaimedMiB")),
      figure("W11", "  share of the dead bytes reclaimed", "%", s.get("share"), { op: ">=", value: 90, text: "≥ 90 %" }, ctx.quick),
    ];
  },
};

/**
 * Builds the data dir in-process through the real stores (much faster than syncing it): files of
 * `FILE_SIZE` random bytes in `BLOCK_SIZE` blocks, `size` bytes in all, committed, then every
 * other file deleted. Returns the bytes of blocks only the deleted files refer to.
 */
async function buildHalfDeadShare(data: string, size: number, seed: string): Promise<number> {
  const stores = await openStores(data, await loadRuntime());
  try {
    const { meta, blocks } = stores.share(DEFAULT_SHARE)!;
    const rng = new RandomBytes(seed);
    const files: EntryDraft[] = [];
    for (let i = 0; i < size / FILE_SIZE; i++) {
      const refs: BlockRef[] = [];
      for (let off = 0; off < FILE_SIZE; off += BLOCK_SIZE) {
        const bytes = rng.next(BLOCK_SIZE);
        const hash = hashBlock(bytes);
        await blocks.put(hash, bytes);
        refs.push([hash, bytes.length]);
      }
      const mtime = Date.now();
      files.push({ path: `data/f${String(i).padStart(5, "0")}.bin`, kind: "file", size: FILE_SIZE, mode: FILE_MODE, hash: hashBlockList(refs.map(([h]) => h)), blocks: refs, deleted: false, mtime });
      if (((i + 1) * FILE_SIZE) % SYNC_EVERY === 0) await blocks.sync();
    }
    await blocks.sync();
    const folder: EntryDraft = { path: "data", kind: "dir", size: 0, mode: normalMode("dir", 0), hash: "", blocks: [], deleted: false, mtime: Date.now() };
    await meta.transaction({ clientId: "bench-w11", at: Date.now() }, async (tx) => {
      for (const draft of [folder, ...files]) await tx.append(draft);
    });
    const doomed = files.filter((_, i) => i % 2 === 1);
    await meta.transaction({ clientId: "bench-w11", at: Date.now() }, async (tx) => {
      for (const f of doomed) await tx.append({ ...f, size: 0, hash: "", blocks: [], deleted: true, mtime: Date.now() });
    });
    return doomed.length * FILE_SIZE;
  } finally {
    await stores.close();
  }
}

/** Runs one dropsim command in `cwd` to its end; fails the run if it fails or outlasts 10 minutes. */
async function dropsim(cwd: string, args: string[]): Promise<{ at: number; peakKiB: number | undefined; output: string }> {
  const proc = new Proc(args[0]!, args, cwd);
  const r = await withTimeout(proc.finished(), 600_000, `dropsim ${args.join(" ")}`).catch((e: Error) => {
    proc.killNow();
    throw new Error(`${e.message}; its output:\n${proc.logs()}`);
  });
  if (r.code !== 0) throw new Error(`dropsim ${args.join(" ")} exited with code ${r.code}:\n${proc.logs()}`);
  return { at: r.at, peakKiB: r.peakKiB, output: proc.logs(5) };
}

/** Bytes the files under `root` take on disk (allocated, as `du` counts: a punched hole counts as freed). */
function diskBytes(root: string): number {
  let n = 0;
  for (const rel of fs.readdirSync(root, { recursive: true, encoding: "utf8" })) {
    const st = fs.statSync(path.join(root, rel), { throwIfNoEntry: false });
    if (st?.isFile()) n += st.blocks * 512;
  }
  return n;
}
