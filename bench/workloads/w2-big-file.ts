import * as fs from "node:fs";
import * as path from "node:path";
import { activeBuild } from "../lib/build.ts";
import { bHolds, requireFree, rmrf, stageFolder, syncDisks, withCluster } from "../lib/cluster.ts";
import { hashFile, writeRandomFile } from "../lib/data.ts";
import { cpuMeter } from "../lib/proc.ts";
import { RSYNC, RSYNC_HAS_FSYNC, timeRsync } from "../lib/rsync.ts";
import { waitFor } from "../lib/wait.ts";
import { absentFigure, type BenchContext, figure, type Figure, GiB, MiB, mib, runDir, Samples, type Workload } from "../lib/workload.ts";

/**
 * W2: one big file appears in A (renamed in from a staging folder on the same disk); the clock
 * stops when B holds it byte-identical. Baseline: `rsync -a` of the same file, same run. A
 * build with TLS then sends the same file again over TLS, to a fresh cluster: its cost is the
 * TLS time over the plain TCP time of the same run.
 */
export const w2: Workload = {
  id: "W2",
  title: "one 512 MiB file, A → server → B",
  async run(ctx: BenchContext): Promise<Figure[]> {
    const size = ctx.quick ? 16 * MiB : 512 * MiB;
    // Staging (becomes A's copy), the server's blocks, B's copy, rsync's copy, and room to spare.
    const need = 4 * size + GiB;
    requireFree(ctx, "W2", need);
    const s = new Samples();
    for (let run = 1; run <= ctx.runs; run++) {
      const dir = runDir(ctx, run);
      const stage = stageFolder(dir);
      const staged = path.join(stage, "big.bin");
      const hash = writeRandomFile(staged, size, `w2-${run}`);
      syncDisks();
      let rsyncMs: number | undefined;
      let rsyncFsyncMs: number | undefined;
      if (RSYNC) {
        const dst = path.join(dir, "rsync-dst");
        rsyncMs = await timeRsync([staged, `${dst}/`]);
        rmrf(dst);
        syncDisks();
        if (RSYNC_HAS_FSYNC) {
          rsyncFsyncMs = await timeRsync(["--fsync", staged, `${dst}/`]);
          rmrf(dst);
          syncDisks();
        }
      }

      const tlsToo = activeBuild().tls;
      for (const tls of tlsToo ? [false, true] : [false]) {
        if (tls) {
          // The plain run's cluster took its folder (run dir included) away with it.
          fs.mkdirSync(dir, { recursive: true });
          stageFolder(dir);
          writeRandomFile(staged, size, `w2-${run}`);
          syncDisks();
        }
        await withCluster(ctx, dir, { tls }, async ({ server, clientA, clientB, folderA: a, folderB: b, procs, exited }) => {
          const target = path.join(b, "big.bin");
          const cpu = cpuMeter(procs);
          const t0 = performance.now();
          fs.renameSync(staged, path.join(a, "big.bin"));
          const done = await waitFor("B to hold the file", bHolds(target, size), {
            timeout: ctx.quick ? 60_000 : 300_000,
            interval: 5,
            abortIf: exited,
          });
          const ms = done - t0;
          if (hashFile(target) !== hash) throw new Error("B's copy of big.bin differs from A's");
          const mbps = size / MiB / (ms / 1000);
          if (tls) {
            const plainMs = s.get("ms").at(-1)!;
            s.add({ tlsMs: ms, tlsMbps: mbps, tlsCost: (ms / plainMs - 1) * 100 });
            ctx.progress(`run ${run}: over TLS ${(ms / 1000).toFixed(2)} s (${mbps.toFixed(0)} MiB/s), ${((ms / plainMs - 1) * 100).toFixed(1)} % over plain TCP`);
            return;
          }
          const [cpuServer, cpuA, cpuB] = cpu();
          const peaks = { serverRss: server.proc.statusKiB("VmHWM"), aRss: clientA.statusKiB("VmHWM"), bRss: clientB.statusKiB("VmHWM") };
          s.add({ ms, rsyncMs, rsyncFsyncMs, cpuServer, cpuA, cpuB, ratio: rsyncMs ? ms / rsyncMs : undefined, mbps, ...mib(peaks) });
          ctx.progress(
            `run ${run}: dropsim ${(ms / 1000).toFixed(2)} s (${mbps.toFixed(0)} MiB/s)` +
              (rsyncMs ? `, rsync ${(rsyncMs / 1000).toFixed(2)} s, ratio ${(ms / rsyncMs).toFixed(2)}` : ", rsync not installed"),
          );
        });
      }
    }
    const ratioTarget = { op: "<=", value: 2, text: "≤ 2× rsync" } as const;
    return [
      figure("W2", `dropsim, ${size / MiB} MiB`, "ms", s.get("ms")),
      figure("W2", "dropsim throughput", "MiB/s", s.get("mbps")),
      ...(activeBuild().tls
        ? [
            figure("W2", `dropsim over TLS, ${size / MiB} MiB`, "ms", s.get("tlsMs")),
            figure("W2", "dropsim throughput over TLS", "MiB/s", s.get("tlsMbps")),
            figure("W2", "TLS cost over plain TCP", "%", s.get("tlsCost"), { op: "<=", value: 15, text: "≤ 15 %" }, ctx.quick),
          ]
        : []),
      ...(RSYNC
        ? [
            figure("W2", "rsync -a, same file", "ms", s.get("rsyncMs")),
            figure("W2", "ratio to rsync", "×", s.get("ratio"), ratioTarget, ctx.quick),
            ...(RSYNC_HAS_FSYNC ? [figure("W2", "rsync -a --fsync (durable, like dropsim)", "ms", s.get("rsyncFsyncMs"))] : []),
          ]
        : [absentFigure("W2", "ratio to rsync", "rsync not installed", ratioTarget)]),
      figure("W2", "CPU time server", "s", s.get("cpuServer")),
      figure("W2", "CPU time client A (sender)", "s", s.get("cpuA")),
      figure("W2", "CPU time client B (receiver)", "s", s.get("cpuB")),
      figure("W2", "peak RSS server", "MiB", s.get("serverRss")),
      figure("W2", "peak RSS client A", "MiB", s.get("aRss")),
      figure("W2", "peak RSS client B", "MiB", s.get("bRss")),
    ];
  },
};

