import * as fs from "node:fs";
import * as path from "node:path";
import { bHolds, requireFree, stageFolder, withCluster } from "../lib/cluster.ts";
import { hashFile, writeRandomFile } from "../lib/data.ts";
import { waitFor } from "../lib/wait.ts";
import { type BenchContext, figure, type Figure, GiB, MiB, mib, runDir, Samples, type Workload } from "../lib/workload.ts";

/**
 * W5: peak RSS (VmHWM, read just before the processes stop, so it covers their whole life)
 * of the server and of both clients while one 2 GiB file syncs A → B.
 */
export const w5: Workload = {
  id: "W5",
  title: "peak RSS while a 2 GiB file syncs",
  async run(ctx: BenchContext): Promise<Figure[]> {
    const size = ctx.quick ? 64 * MiB : 2 * GiB;
    const need = 3 * size + GiB;
    requireFree(ctx, "W5", need);
    const s = new Samples();
    for (let run = 1; run <= ctx.runs; run++) {
      const dir = runDir(ctx, run);
      const stage = stageFolder(dir);
      const staged = path.join(stage, "huge.bin");
      const hash = writeRandomFile(staged, size, `w5-${run}`);
      await withCluster(ctx, dir, {}, async ({ server, clientA, clientB, folderA, folderB, exited }) => {
        const target = path.join(folderB, "huge.bin");
        const t0 = performance.now();
        fs.renameSync(staged, path.join(folderA, "huge.bin"));
        const done = await waitFor("B to hold the file", bHolds(target, size), {
          timeout: 900_000,
          interval: 20,
          abortIf: exited,
        });
        const peaks = mib({ server: server.proc.statusKiB("VmHWM"), a: clientA.statusKiB("VmHWM"), b: clientB.statusKiB("VmHWM") });
        if (hashFile(target) !== hash) throw new Error("B's copy of huge.bin differs from A's");
        const secs = (done - t0) / 1000;
        s.add({ ...peaks, secs });
        ctx.progress(
          `run ${run}: peak RSS server ${peaks.server?.toFixed(0)} MiB, A ${peaks.a?.toFixed(0)} MiB, B ${peaks.b?.toFixed(0)} MiB; synced in ${secs.toFixed(1)} s (${(size / MiB / secs).toFixed(0)} MiB/s)`,
        );
      });
    }
    const target = { op: "<=", value: 120, text: "≤ 120 MiB" } as const;
    return [
      figure("W5", "peak RSS server", "MiB", s.get("server"), target, ctx.quick),
      figure("W5", "peak RSS client A (sender)", "MiB", s.get("a"), target, ctx.quick),
      figure("W5", "peak RSS client B (receiver)", "MiB", s.get("b"), target, ctx.quick),
      figure("W5", `sync time, ${size / MiB} MiB`, "s", s.get("secs")),
    ];
  },
};
