import * as fs from "node:fs";
import * as path from "node:path";
import { requireFree, stageFolder, syncDisks, waitIdle, withCluster } from "../lib/cluster.ts";
import { copyWithInsert, hashFile, RandomBytes, writeRandomFile } from "../lib/data.ts";
import { waitFor } from "../lib/wait.ts";
import { type BenchContext, figure, type Figure, GiB, KiB, MiB, runDir, Samples, type Workload } from "../lib/workload.ts";

/**
 * W4a/W4b: B holds a synced big file; A overwrites (a) or inserts (b) 16 bytes in the middle.
 * Figures: bytes on the wire counted by the server (both directions, every session, from
 * "both idle" before the edit to "both idle" after), and time until B holds A's new bytes.
 * The overwrite is done in place; the insert is written beside A's folder and renamed over
 * the file (as editors save), so preparing it is not timed.
 */
function editWorkload(id: "W4a" | "W4b", insert: boolean): Workload {
  return {
    id,
    title: `256 MiB file synced; A ${insert ? "inserts" : "overwrites"} 16 bytes in the middle`,
    async run(ctx: BenchContext): Promise<Figure[]> {
      const size = ctx.quick ? 8 * MiB : 256 * MiB;
      const need = 5 * size + GiB;
      requireFree(ctx, id, need);
      const s = new Samples();
      for (let run = 1; run <= ctx.runs; run++) {
        const dir = runDir(ctx, run);
        const stage = stageFolder(dir);
        await withCluster(ctx, dir, { verbose: true }, async ({ server, clientA, clientB, folderA, folderB, exited: abortIf }) => {
          const fileA = path.join(folderA, "big.bin");
          const fileB = path.join(folderB, "big.bin");

          // Setup: the file synced to B, everyone idle, counters settled.
          const staged = path.join(stage, "big.bin");
          const original = writeRandomFile(staged, size, `${id}-${run}`);
          fs.renameSync(staged, fileA);
          await waitFor("B to hold the original file", () => (hashFile(fileB) === original ? true : "not yet"), {
            timeout: 300_000,
            interval: 100,
            abortIf,
          });
          await waitIdle([clientA, clientB], { quietMs: 300 });
          const before = await server.settledTraffic();
          const baseline = fs.statSync(fileB);

          const edit = new RandomBytes(`${id}-edit-${run}`).next(16);
          const mid = Math.floor(size / 2);
          let expectedSize = size;
          let expected: string | undefined;
          let t0: number;
          if (insert) {
            const edited = path.join(stage, "big-edited.bin");
            expected = copyWithInsert(fileA, edited, mid, edit);
            expectedSize = size + edit.length;
            syncDisks();
            t0 = performance.now();
            fs.renameSync(edited, fileA);
          } else {
            t0 = performance.now();
            const fd = fs.openSync(fileA, "r+");
            fs.writeSync(fd, edit, 0, edit.length, mid);
            fs.closeSync(fd);
          }

          const changedB = await waitFor(
            "B's copy to change",
            () => {
              const st = fs.statSync(fileB, { throwIfNoEntry: false });
              if (!st) return "absent";
              if (st.ino === baseline.ino && st.mtimeMs === baseline.mtimeMs && st.size === baseline.size) return "unchanged";
              return st.size === expectedSize ? true : `${st.size} bytes`;
            },
            { timeout: 120_000, interval: 2, abortIf },
          );
          expected ??= hashFile(fileA);
          // Writes land by rename, so the first change is normally the final one; if not, wait for it.
          const done = hashFile(fileB) === expected ? changedB : await waitFor("B to match A", () => (hashFile(fileB) === expected ? true : "differs"), { timeout: 60_000, interval: 20, abortIf });
          const ms = done - t0;
          await waitIdle([clientA, clientB], { quietMs: 300 });
          const after = await server.settledTraffic();
          const up = after.bytesIn - before.bytesIn;
          const down = after.bytesOut - before.bytesOut;
          s.add({ wireKiB: (up + down) / KiB, upKiB: up / KiB, downKiB: down / KiB, ms });
          ctx.progress(`run ${run}: ${((up + down) / KiB).toFixed(1)} KiB on the wire (${(up / KiB).toFixed(1)} up, ${(down / KiB).toFixed(1)} down), B matched after ${ms.toFixed(0)} ms`);
        });
      }
      return [
        figure(id, "bytes on the wire, total", "KiB", s.get("wireKiB"), { op: "<=", value: 192, text: "≤ 192 KiB" }, ctx.quick),
        figure(id, "  client → server", "KiB", s.get("upKiB")),
        figure(id, "  server → clients", "KiB", s.get("downKiB")),
        figure(id, "time until B matches", "ms", s.get("ms"), { op: "<=", value: 1000, text: "≤ 1 s" }, ctx.quick),
      ];
    },
  };
}

export const w4a = editWorkload("W4a", false);
export const w4b = editWorkload("W4b", true);
