import * as fs from "node:fs";
import * as path from "node:path";
import { stageFolder, syncDisks, withCluster } from "../lib/cluster.ts";
import { countPresent, type SmallTree, treeMismatches, writeSmallTree } from "../lib/data.ts";
import { AHEAD_OF_SYNCTHING, CPU_PER_GIB_TARGET, type PeerRow, peerFigures, perGiB, ratio } from "../lib/peers.ts";
import { cpuMeter } from "../lib/proc.ts";
import { RSYNC, RSYNC_ABSENT, RSYNC_HAS_FSYNC, timeRsync, withRsyncDaemon } from "../lib/rsync.ts";
import { SYNCTHING, SYNCTHING_ABSENT, withSyncthing } from "../lib/syncthing.ts";
import { waitFor } from "../lib/wait.ts";
import { type BenchContext, figure, type Figure, KiB, runDir, Samples, type Workload } from "../lib/workload.ts";

/**
 * W1: many small files appear in A at once (their folders are renamed in from a staging folder
 * on the same disk, so creating them is not timed); the clock stops when B holds every one
 * byte-identical. Peers, same run, same tree: `rsync -a` and `rsync -a --fsync` between two
 * local folders, `rsync -a` to an rsync daemon over TCP, and Syncthing timed exactly as dropsim
 * is (its own copy of the tree renamed into its A, until its B holds every file).
 */
export const w1: Workload = {
  id: "W1",
  title: "5,000 × 4 KiB files in 50 folders, A → B",
  async run(ctx: BenchContext): Promise<Figure[]> {
    const dirCount = ctx.quick ? 5 : 50;
    const perDir = ctx.quick ? 20 : 100;
    const total = dirCount * perDir;
    const fileSize = 4 * KiB;
    const timeout = ctx.quick ? 60_000 : 300_000;
    const s = new Samples();
    for (let run = 1; run <= ctx.runs; run++) {
      const dir = runDir(ctx, run);
      const stage = stageFolder(dir);
      const tree = writeSmallTree(stage, dirCount, perDir, fileSize, `w1-${run}`);
      syncDisks();
      const rsyncMs = RSYNC ? await timeRsync([`${stage}/`, `${path.join(dir, "rsync-dst")}/`]) : undefined;
      syncDisks();
      const rsyncFsyncMs = RSYNC_HAS_FSYNC ? await timeRsync(["--fsync", `${stage}/`, `${path.join(dir, "rsync-fsync-dst")}/`]) : undefined;
      syncDisks();
      const rsyncdMs = RSYNC ? await withRsyncDaemon(path.join(dir, "rsyncd"), async (d) => timeRsync([`${stage}/`, d.url])) : undefined;
      syncDisks();
      const syncthing = SYNCTHING ? await timeSyncthing(dir, stage, tree, total * fileSize, timeout) : undefined;

      await withCluster(ctx, dir, {}, async ({ folderA: a, folderB: b, procs, exited }) => {
        const cpu = cpuMeter(procs);
        const t0 = performance.now();
        for (const d of tree.dirs) fs.renameSync(path.join(stage, d), path.join(a, d));
        const done = await waitFor("B to hold every file", allPresent(b, tree), { timeout, interval: 10, abortIf: exited });
        const ms = done - t0;
        const [cpuServer, cpuA, cpuB] = cpu() as [number, number, number];
        const bad = treeMismatches(b, tree);
        if (bad.length > 0) throw new Error(`B holds every name but these differ from A: ${bad.join(", ")}`);
        const stMs = syncthing?.ms;
        s.add({
          ms,
          rsyncMs,
          rsyncFsyncMs,
          rsyncdMs,
          stMs,
          rsyncRatio: ratio(ms, rsyncMs),
          rsyncFsyncRatio: ratio(ms, rsyncFsyncMs),
          rsyncdRatio: ratio(ms, rsyncdMs),
          stRatio: ratio(ms, stMs),
          perFileMs: ms / total,
          cpuServer,
          cpuA,
          cpuB,
          cpuPerGiB: perGiB([cpuServer, cpuA, cpuB], total * fileSize),
          stCpuPerGiB: syncthing?.cpuPerGiB,
        });
        ctx.progress(
          `run ${run}: dropsim ${secs(ms)}` +
            (RSYNC ? `, rsync -a ${secs(rsyncMs)}, --fsync ${secs(rsyncFsyncMs)}, daemon ${secs(rsyncdMs)}` : `, ${RSYNC_ABSENT}`) +
            (syncthing ? `, Syncthing ${secs(stMs)}` : `, ${SYNCTHING_ABSENT}`),
        );
      });
    }
    const rsyncAbsent = RSYNC ? undefined : RSYNC_ABSENT;
    const peers: PeerRow[] = [
      { name: "rsync -a, same tree", short: "rsync -a", key: "rsyncMs", ratioKey: "rsyncRatio", unit: "ms", absent: rsyncAbsent },
      {
        name: "rsync -a --fsync (durable, like dropsim)",
        short: "rsync -a --fsync",
        key: "rsyncFsyncMs",
        ratioKey: "rsyncFsyncRatio",
        unit: "ms",
        absent: RSYNC_HAS_FSYNC ? undefined : (rsyncAbsent ?? "this rsync has no --fsync"),
        target: { op: "<=", value: 1.5, text: "≤ 1.5× rsync --fsync" },
      },
      { name: "rsync daemon (TCP)", short: "rsync daemon", key: "rsyncdMs", ratioKey: "rsyncdRatio", unit: "ms", absent: rsyncAbsent },
      { name: "Syncthing 1.19 (watcher delay 1 s)", short: "Syncthing", key: "stMs", ratioKey: "stRatio", unit: "ms", absent: SYNCTHING ? undefined : SYNCTHING_ABSENT, target: AHEAD_OF_SYNCTHING },
    ];
    return [
      figure("W1", `dropsim, ${total} files`, "ms", s.get("ms")),
      figure("W1", "dropsim per file", "ms", s.get("perFileMs")),
      ...peers.flatMap((p) => peerFigures("W1", s, p, ctx.quick)),
      figure("W1", "CPU time server", "s", s.get("cpuServer")),
      figure("W1", "CPU time client A (sender)", "s", s.get("cpuA")),
      figure("W1", "CPU time client B (receiver)", "s", s.get("cpuB")),
      figure("W1", "CPU s per GiB synced (server+A+B)", "s", s.get("cpuPerGiB"), CPU_PER_GIB_TARGET, ctx.quick),
      ...(SYNCTHING ? [figure("W1", "Syncthing CPU s per GiB synced (A+B)", "s", s.get("stCpuPerGiB"))] : []),
    ];
  },
};

function secs(ms: number | undefined): string {
  return ms === undefined ? "—" : `${(ms / 1000).toFixed(2)} s`;
}

/** The check both dropsim and Syncthing are timed by: B holds every file of the tree by name. */
function allPresent(b: string, tree: SmallTree): () => true | string {
  return () => {
    const n = countPresent(b, tree);
    return n === tree.files.size ? true : `${n}/${tree.files.size} files on B`;
  };
}

/**
 * Syncthing on its own copy of the staged tree (copied and flushed before its pair starts, so
 * neither the copy nor its writeback is timed); the pair's folder is removed afterwards.
 */
async function timeSyncthing(dir: string, stage: string, tree: SmallTree, bytes: number, timeout: number): Promise<{ ms: number; cpuPerGiB: number }> {
  const stDir = path.join(dir, "syncthing");
  const stStage = path.join(dir, "syncthing-stage");
  fs.cpSync(stage, stStage, { recursive: true });
  syncDisks();
  try {
    return await withSyncthing(stDir, async (st) => {
      const cpuBefore = st.cpuSeconds();
      const t0 = performance.now();
      for (const d of tree.dirs) fs.renameSync(path.join(stStage, d), path.join(st.folderA, d));
      const done = await waitFor("Syncthing's B to hold every file", allPresent(st.folderB, tree), { timeout, interval: 10, abortIf: st.exited });
      const cpu = st.cpuSeconds().map((v, i) => v - cpuBefore[i]!);
      const bad = treeMismatches(st.folderB, tree);
      if (bad.length > 0) throw new Error(`Syncthing's B holds every name but these differ from A: ${bad.join(", ")}`);
      return { ms: done - t0, cpuPerGiB: perGiB(cpu, bytes) };
    });
  } finally {
    fs.rmSync(stDir, { recursive: true, force: true });
    fs.rmSync(stStage, { recursive: true, force: true });
  }
}
