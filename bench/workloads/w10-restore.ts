import * as fs from "node:fs";
import * as path from "node:path";
import { stageFolder, syncDisks, waitIdle, withCluster } from "../lib/cluster.ts";
import { countPresent, strangers, treeMismatches, writeSmallTree } from "../lib/data.ts";
import { Proc } from "../lib/proc.ts";
import { waitFor } from "../lib/wait.ts";
import { type BenchContext, figure, type Figure, KiB, runDir, Samples, type Workload } from "../lib/workload.ts";

/**
 * W10: a synced folder of 10,000 small files is deleted on A (a mass deletion, confirmed);
 * `dropsim restore big --at T0`, run in A's folder, brings it back as it was at T0, a moment
 * between its first sync and the deletion. The clock runs from starting the command until A
 * and B both hold every file again; the folder's first sync, A → B, is the baseline (issue 12:
 * at most 2×).
 */
/** How long after the restore command exits the clients may take to hold the folder. */
const CONVERGE_AFTER_EXIT_MS = 300_000;

export const w10: Workload = {
  id: "W10",
  title: "restore a deleted 10,000-file folder to an earlier moment, until A and B hold it",
  async run(ctx: BenchContext): Promise<Figure[]> {
    const dirCount = ctx.quick ? 3 : 100;
    const perDir = 100;
    const total = dirCount * perDir;
    const s = new Samples();
    for (let run = 1; run <= ctx.runs; run++) {
      const dir = runDir(ctx, run);
      const stage = stageFolder(dir);
      const tree = writeSmallTree(path.join(stage, "big"), dirCount, perDir, KiB, `w10-${run}`);
      syncDisks();
      await withCluster(ctx, dir, { verbose: true, allowMassDelete: true }, async ({ clientA, clientB, folderA: a, folderB: b, exited }) => {
        const [bigA, bigB] = [path.join(a, "big"), path.join(b, "big")];
        const syncStart = performance.now();
        fs.renameSync(path.join(stage, "big"), bigA);
        const synced = await waitFor("B to hold the folder", () => countPresent(bigB, tree) === total || "not yet", { timeout: 600_000, interval: 10, abortIf: exited });
        const firstSyncMs = synced - syncStart;
        await waitIdle([clientA, clientB], { quietMs: 500, timeout: 120_000 });

        // `--at` may be read to the second: T0 is a whole second that every commit of the first
        // sync precedes and the deletion follows.
        const t0 = Math.ceil((Date.now() + 1) / 1000) * 1000;
        await waitFor("the clock to pass T0", () => Date.now() > t0 || "not yet", { timeout: 5_000, interval: 20 });
        fs.rmSync(bigA, { recursive: true, force: true });
        await waitFor("B to lose the folder", () => !fs.existsSync(bigB) || `${countPresent(bigB, tree)} files still on B`, { timeout: 300_000, interval: 20, abortIf: exited });
        await waitIdle([clientA, clientB], { quietMs: 500, timeout: 120_000 });

        const at = new Date(t0).toISOString().replace(".000Z", "Z");
        const restore = new Proc("restore", ["restore", "big", "--at", at], a);
        let exit: { at: number; code: number | null } | undefined;
        const finished = restore.finished().then((r) => (exit = r));
        // A command that failed, or that succeeded without the clients ever getting the folder
        // (one that did nothing, or printed its usage), ends the wait instead of its timeout.
        const failed = () =>
          exit && (exit.code !== 0 || performance.now() - exit.at > CONVERGE_AFTER_EXIT_MS)
            ? `restore exited with code ${exit.code}${exit.code === 0 ? ` ${CONVERGE_AFTER_EXIT_MS / 1000} s ago` : ""}:\n${restore.logs()}`
            : undefined;
        const done = await waitFor(
          "A and B to hold the folder as it was at T0",
          () => {
            const [na, nb] = [countPresent(bigA, tree), countPresent(bigB, tree)];
            return (na === total && nb === total) || `A has ${na}/${total}, B ${nb}/${total}`;
          },
          { timeout: 600_000, interval: 10, abortIf: () => exited() ?? failed() },
        );
        const command = await finished;
        if (command.code !== 0) throw new Error(`restore exited with code ${command.code}:\n${restore.logs()}`);
        for (const [name, root] of [["A", bigA], ["B", bigB]] as const) {
          const bad = [...treeMismatches(root, tree), ...strangers(root, tree)];
          if (bad.length > 0) throw new Error(`${name} holds every name but not the folder as it was: ${bad.join(", ")}`);
        }
        const restoreMs = done - restore.startedAt;
        s.add({ firstSyncMs, restoreMs, commandMs: command.at - restore.startedAt, ratio: restoreMs / firstSyncMs });
        ctx.progress(
          `run ${run}: first sync ${(firstSyncMs / 1000).toFixed(2)} s; restore --at ${at}: command done after ${((command.at - restore.startedAt) / 1000).toFixed(2)} s, ` +
            `A and B hold ${total} files after ${(restoreMs / 1000).toFixed(2)} s (${(restoreMs / firstSyncMs).toFixed(2)}×); it said: ${restore.lastLine}`,
        );
      });
    }
    return [
      figure("W10", `restore of ${total} deleted files, until A and B hold them`, "ms", s.get("restoreMs")),
      figure("W10", "  of which: the restore command, start to exit", "ms", s.get("commandMs")),
      figure("W10", "first sync of the folder, A → B (baseline)", "ms", s.get("firstSyncMs")),
      figure("W10", "ratio to first sync", "×", s.get("ratio"), { op: "<=", value: 2, text: "≤ 2× first sync" }, ctx.quick),
    ];
  },
};
