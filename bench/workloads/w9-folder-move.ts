import * as fs from "node:fs";
import * as path from "node:path";
import { stageFolder, waitIdle, withCluster } from "../lib/cluster.ts";
import { countPresent, writeSmallTree } from "../lib/data.ts";
import { waitFor } from "../lib/wait.ts";
import { type BenchContext, figure, type Figure, KiB, runDir, Samples, type Workload } from "../lib/workload.ts";

/**
 * W9: a synced folder of 10,000 small files is renamed on A; the clock stops when B holds
 * every file under the new name and none under the old one. Nothing is downloaded: a folder
 * move is one rename on B (issue 9, item 16).
 */
export const w9: Workload = {
  id: "W9",
  title: "rename of a synced 10,000-file folder, A → B",
  async run(ctx: BenchContext): Promise<Figure[]> {
    const dirCount = ctx.quick ? 5 : 100;
    const perDir = ctx.quick ? 20 : 100;
    const total = dirCount * perDir;
    const s = new Samples();
    for (let run = 1; run <= ctx.runs; run++) {
      const dir = runDir(ctx, run);
      const stage = stageFolder(dir);
      const tree = writeSmallTree(path.join(stage, "big"), dirCount, perDir, KiB, `w9-${run}`);
      await withCluster(ctx, dir, { verbose: true }, async ({ clientA, clientB, folderA: a, folderB: b, exited }) => {
        fs.renameSync(path.join(stage, "big"), path.join(a, "big"));
        await waitFor("B to hold the folder", () => countPresent(path.join(b, "big"), tree) === total || "not yet", { timeout: 600_000, interval: 50, abortIf: exited });
        await waitIdle([clientA, clientB], { quietMs: 500 });
        const t0 = performance.now();
        fs.renameSync(path.join(a, "big"), path.join(a, "moved"));
        const done = await waitFor(
          "B to hold the folder under its new name only",
          () => {
            const n = countPresent(path.join(b, "moved"), tree);
            return (n === total && !fs.existsSync(path.join(b, "big"))) || `${n}/${total} files under the new name on B`;
          },
          { timeout: 120_000, interval: 10, abortIf: exited },
        );
        s.add({ ms: done - t0 });
        ctx.progress(`run ${run}: ${total} files renamed on B after ${((done - t0) / 1000).toFixed(2)} s`);
      });
    }
    return [figure("W9", `folder of ${total} files renamed, until B matches`, "ms", s.get("ms"), { op: "<=", value: 3000, text: "≤ 3 s" }, ctx.quick)];
  },
};
