import * as fs from "node:fs";
import * as path from "node:path";
import { bHolds, requireFree, stageFolder, withCluster } from "../lib/cluster.ts";
import { hashFile, writeRandomFile } from "../lib/data.ts";
import { cpuMeter, dropsimCommand } from "../lib/proc.ts";
import { waitFor } from "../lib/wait.ts";
import { type BenchContext, figure, type Figure, GiB, MiB, mib, runDir, Samples, type Workload } from "../lib/workload.ts";

/**
 * W8: one 4 GiB file A → server → B, where B is a slow receiver: its download limit
 * (`dropsim limit B --down`, the running-client form of `sync --limit-down`, applied before the
 * file appears) is well under what B takes unpaced here (W2: ~90 MiB/s end to end), so the
 * limit and not the machine sets B's pace, and the sender and server must not buffer what B
 * has not taken yet. Measured: peak RSS (VmHWM) of server, A and B; CPU seconds of each; and
 * what a user watching `dropsim status B --json` every ~0.5 s sees: the longest stretch in
 * which B's downloaded bytes (`transfer.done` of its download) did not rise, counted from the
 * first sample showing the download to the first showing it complete.
 */
const POLL_MS = 500;

/** One `dropsim status --json` of B: when its answer came, and B's download as it told it. */
interface Sample {
  at: number;
  /** Bytes of the download done; undefined when no download was under way. */
  done?: number;
  bytes?: number;
}

export const w8: Workload = {
  id: "W8",
  title: "a 4 GiB file to a slow receiver",
  async run(ctx: BenchContext): Promise<Figure[]> {
    const size = ctx.quick ? 64 * MiB : 4 * GiB;
    const limit = ctx.quick ? 16 * MiB : 32 * MiB;
    // Staging (becomes A's copy), the server's blocks, B's copy, and room to spare.
    requireFree(ctx, "W8", 3 * size + GiB);
    const s = new Samples();
    for (let run = 1; run <= ctx.runs; run++) {
      const dir = runDir(ctx, run);
      const stage = stageFolder(dir);
      const staged = path.join(stage, "huge.bin");
      const hash = writeRandomFile(staged, size, `w8-${run}`);
      await withCluster(ctx, dir, {}, async ({ server, clientA, clientB, folderA, folderB, procs, exited }) => {
        await dropsim(["limit", folderB, "--down", `${limit / MiB}MiB`]);
        const target = path.join(folderB, "huge.bin");
        const cpu = cpuMeter(procs);
        const poller = pollStatus(folderB);
        const t0 = performance.now();
        fs.renameSync(staged, path.join(folderA, "huge.bin"));
        let done: number;
        try {
          done = await waitFor("B to hold the file", bHolds(target, size), { timeout: 1_800_000, interval: 50, abortIf: exited });
        } finally {
          await poller.stop();
        }
        const [cpuServer, cpuA, cpuB] = cpu();
        const peaks = mib({ server: server.proc.statusKiB("VmHWM"), a: clientA.statusKiB("VmHWM"), b: clientB.statusKiB("VmHWM") });
        if (hashFile(target) !== hash) throw new Error("B's copy of huge.bin differs from A's");
        const seen = downloadSeen(poller.samples);
        if (!seen) throw new Error(`dropsim status never showed B downloading (${poller.samples.length} samples)`);
        const secs = (done - t0) / 1000;
        // What B took between the first sample and the complete one: the pace the limit set.
        const rate = (size - seen.firstDone) / MiB / ((seen.end - seen.start) / 1000);
        s.add({ ...peaks, secs, gap: seen.longestGap / 1000, rate, polls: poller.samples.length, cpuServer, cpuA, cpuB });
        ctx.progress(
          `run ${run}: peak RSS server ${peaks.server?.toFixed(0)} MiB, A ${peaks.a?.toFixed(0)} MiB, B ${peaks.b?.toFixed(0)} MiB; ` +
            `synced in ${secs.toFixed(1)} s, B downloading ${((seen.end - seen.start) / 1000).toFixed(1)} s (${rate.toFixed(1)} MiB/s, limit ${limit / MiB} MiB/s); ` +
            `longest stall in status ${(seen.longestGap / 1000).toFixed(2)} s over ${poller.samples.length} samples; ` +
            `CPU s server ${cpuServer!.toFixed(1)}, A ${cpuA!.toFixed(1)}, B ${cpuB!.toFixed(1)}`,
        );
      });
    }
    const rss = { op: "<=", value: 120, text: "≤ 120 MiB" } as const;
    return [
      figure("W8", "peak RSS server", "MiB", s.get("server"), rss, ctx.quick),
      figure("W8", "peak RSS client A (sender)", "MiB", s.get("a"), rss, ctx.quick),
      figure("W8", "peak RSS client B (receiver)", "MiB", s.get("b")),
      figure("W8", "longest gap without B's bytes rising in status", "s", s.get("gap"), { op: "<=", value: 2, text: "≤ 2 s" }, ctx.quick),
      figure("W8", `B's download rate (limit ${limit / MiB} MiB/s)`, "MiB/s", s.get("rate")),
      figure("W8", `sync time, ${size / MiB} MiB`, "s", s.get("secs")),
      figure("W8", "status samples", "", s.get("polls")),
      figure("W8", "CPU time server", "s", s.get("cpuServer")),
      figure("W8", "CPU time client A (sender)", "s", s.get("cpuA")),
      figure("W8", "CPU time client B (receiver)", "s", s.get("cpuB")),
    ];
  },
};

/** Runs a dropsim command to its end; throws with its output when it fails. */
async function dropsim(args: string[]): Promise<string> {
  const proc = Bun.spawn(dropsimCommand(args), { stdout: "pipe", stderr: "pipe", stdin: "ignore", env: { ...process.env, NO_COLOR: "1" } });
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  // `status` exits 1 while the folder syncs: only a missing answer is a failure there.
  if (code !== 0 && !(args[0] === "status" && code === 1)) throw new Error(`dropsim ${args.join(" ")} failed (${code}): ${err || out}`);
  return out;
}

/**
 * `dropsim status DIR --json` one after another, each started ~POLL_MS after the one before
 * started (at once if that one took longer), as `watch -n 0.5` would, until `stop`.
 */
function pollStatus(folder: string): { samples: Sample[]; stop(): Promise<void> } {
  const samples: Sample[] = [];
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      const started = performance.now();
      const status = JSON.parse(await dropsim(["status", folder, "--json"])) as { transfer?: { direction: string; done: number; bytes: number } };
      const t = status.transfer?.direction === "download" ? status.transfer : undefined;
      samples.push({ at: performance.now(), done: t?.done, bytes: t?.bytes });
      await Bun.sleep(Math.max(0, started + POLL_MS - performance.now()));
    }
  })();
  return {
    samples,
    async stop() {
      stopped = true;
      await loop;
    },
  };
}

/**
 * From the samples: when status first showed B downloading (and how many bytes it had then),
 * when it first showed the download complete (all its bytes, or no download any more), and the longest time between a sample
 * that showed more bytes than the one before and the next sample that did (the first sample
 * counts as one, the complete one too): what a user saw not move. Undefined if no sample
 * showed a download.
 */
export function downloadSeen(samples: readonly Sample[]): { start: number; end: number; firstDone: number; longestGap: number } | undefined {
  const first = samples.findIndex((x) => x.done !== undefined);
  if (first < 0) return undefined;
  const start = samples[first]!.at;
  let lastRise = start;
  const firstDone = samples[first]!.done!;
  let lastDone = firstDone;
  let longestGap = 0;
  for (const x of samples.slice(first + 1)) {
    const complete = x.done === undefined || x.done === x.bytes;
    if (!complete && x.done! <= lastDone) continue;
    longestGap = Math.max(longestGap, x.at - lastRise);
    lastRise = x.at;
    lastDone = x.done ?? lastDone;
    if (complete) return { start, end: x.at, firstDone, longestGap };
  }
  return { start, end: lastRise, firstDone, longestGap };
}
