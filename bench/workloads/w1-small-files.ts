import * as fs from "node:fs";
import * as path from "node:path";
import { stageFolder, syncDisks, withCluster } from "../lib/cluster.ts";
import { countPresent, treeMismatches, writeSmallTree } from "../lib/data.ts";
import { cpuMeter } from "../lib/proc.ts";
import { RSYNC, RSYNC_HAS_FSYNC, timeRsync } from "../lib/rsync.ts";
import { waitFor } from "../lib/wait.ts";
import { absentFigure, type BenchContext, figure, type Figure, KiB, runDir, Samples, type Workload } from "../lib/workload.ts";

/**
 * W1: many small files appear in A at once (their folders are renamed in from a staging folder
 * on the same disk, so creating them is not timed); the clock stops when B holds every one
 * byte-identical. Baseline: `rsync -a` of the same tree between two local folders, same run.
 */
export const w1: Workload = {
  id: "W1",
  title: "5,000 × 4 KiB files in 50 folders, A → B",
  async run(ctx: BenchContext): Promise<Figure[]> {
    const dirCount = ctx.quick ? 5 : 50;
    const perDir = ctx.quick ? 20 : 100;
    const total = dirCount * perDir;
    const s = new Samples();
    for (let run = 1; run <= ctx.runs; run++) {
      const dir = runDir(ctx, run);
      const stage = stageFolder(dir);
      const tree = writeSmallTree(stage, dirCount, perDir, 4 * KiB, `w1-${run}`);
      syncDisks();
      const rsyncMs = RSYNC ? await timeRsync([`${stage}/`, `${path.join(dir, "rsync-dst")}/`]) : undefined;
      syncDisks();
      const rsyncFsyncMs = RSYNC_HAS_FSYNC ? await timeRsync(["--fsync", `${stage}/`, `${path.join(dir, "rsync-fsync-dst")}/`]) : undefined;

      await withCluster(ctx, dir, {}, async ({ folderA: a, folderB: b, procs, exited }) => {
        const cpu = cpuMeter(procs);
        const t0 = performance.now();
        for (const d of tree.dirs) fs.renameSync(path.join(stage, d), path.join(a, d));
        const done = await waitFor(
          "B to hold every file",
          () => {
            const n = countPresent(b, tree);
            return n === total ? true : `${n}/${total} files on B`;
          },
          { timeout: ctx.quick ? 60_000 : 300_000, interval: 10, abortIf: exited },
        );
        const ms = done - t0;
        const [cpuServer, cpuA, cpuB] = cpu();
        const bad = treeMismatches(b, tree);
        if (bad.length > 0) throw new Error(`B holds every name but these differ from A: ${bad.join(", ")}`);
        s.add({ ms, rsyncMs, rsyncFsyncMs, ratio: rsyncMs ? ms / rsyncMs : undefined, perFileMs: ms / total, cpuServer, cpuA, cpuB });
        ctx.progress(
          `run ${run}: dropsim ${(ms / 1000).toFixed(2)} s` +
            (rsyncMs ? `, rsync ${(rsyncMs / 1000).toFixed(2)} s, ratio ${(ms / rsyncMs).toFixed(2)}` : ", rsync not installed"),
        );
      });
    }
    const files = `${total} files`;
    return [
      figure("W1", `dropsim, ${files}`, "ms", s.get("ms")),
      figure("W1", "dropsim per file", "ms", s.get("perFileMs")),
      ...(RSYNC
        ? [
            figure("W1", "rsync -a, same tree", "ms", s.get("rsyncMs")),
            figure("W1", "ratio to rsync", "×", s.get("ratio"), { op: "<=", value: 1.25, text: "≤ 1.25× rsync" }, ctx.quick),
            ...(RSYNC_HAS_FSYNC ? [figure("W1", "rsync -a --fsync (durable, like dropsim)", "ms", s.get("rsyncFsyncMs"))] : []),
          ]
        : [absentFigure("W1", "ratio to rsync", "rsync not installed", { op: "<=", value: 1.25, text: "≤ 1.25× rsync" })]),
      figure("W1", "CPU time server", "s", s.get("cpuServer")),
      figure("W1", "CPU time client A (sender)", "s", s.get("cpuA")),
      figure("W1", "CPU time client B (receiver)", "s", s.get("cpuB")),
    ];
  },
};
