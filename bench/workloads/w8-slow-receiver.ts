import * as fs from "node:fs";
import * as path from "node:path";
import { bHolds, requireFree, stageFolder, withCluster } from "../lib/cluster.ts";
import { hashFile, writeRandomFile } from "../lib/data.ts";
import { cpuMeter, dropsimCommand, type Proc } from "../lib/proc.ts";
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
  /** How long the status command took, start to exit (ms). */
  took: number;
  /** Bytes of the download done; undefined when no download was under way. */
  done?: number;
  bytes?: number;
  /** The status command gave no answer. */
  failed?: true;
  /** The server's peak RSS so far (KiB), read as the answer came. */
  serverPeak?: number;
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
        await limitDown(folderB, limit);
        const target = path.join(folderB, "huge.bin");
        const cpu = cpuMeter(procs);
        const poller = pollStatus(folderB, server.proc);
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
        if (!seen) throw new Error(`dropsim status never showed B downloading (${poller.samples.length} samples; failures: ${poller.failures.slice(0, 3).join("; ")})`);
        const secs = (done - t0) / 1000;
        // What B took between the first sample and the complete one: the pace the limit set.
        const rate = (seen.bytes - seen.firstDone) / MiB / ((seen.end - seen.start) / 1000);
        // All bytes told, file not in place yet: the final fsync and rename, which status shows as 100 %
        // (0 when no answer caught the download at 100 %, so that phase was shorter than a poll).
        const tail = seen.allAt === undefined ? 0 : Math.max(0, done - seen.allAt) / 1000;
        const failed = poller.failures.length;
        // The server's peak before B fetched anything: what receiving and storing A's upload cost it.
        const serverUpload = mib({ v: poller.samples.find((x) => x.done !== undefined)?.serverPeak }).v;
        s.add({ ...peaks, serverUpload, secs, gap: seen.longestGap / 1000, still: seen.still, slowest: seen.slowest / 1000, rate, tail, polls: poller.samples.length, failed, cpuServer, cpuA, cpuB });
        ctx.progress(
          `run ${run}: peak RSS server ${peaks.server?.toFixed(0)} MiB (${serverUpload?.toFixed(0)} MiB before B downloaded), A ${peaks.a?.toFixed(0)} MiB, B ${peaks.b?.toFixed(0)} MiB; ` +
            `synced in ${secs.toFixed(1)} s, B downloading ${((seen.end - seen.start) / 1000).toFixed(1)} s (${rate.toFixed(1)} MiB/s, limit ${limit / MiB} MiB/s), ` +
            `then ${tail.toFixed(2)} s at 100 % before the file was in place; ` +
            `longest stall in status ${(seen.longestGap / 1000).toFixed(2)} s over ${poller.samples.length} samples (${seen.still} showed no new bytes, the slowest took ${(seen.slowest / 1000).toFixed(2)} s, ${failed} gave no answer${failed ? `, e.g. ${poller.failures[0]}` : ""}); ` +
            `the stall: ${describeStall(seen.stall)}; ` +
            `CPU s server ${cpuServer!.toFixed(1)}, A ${cpuA!.toFixed(1)}, B ${cpuB!.toFixed(1)}`,
        );
      });
    }
    const rss = { op: "<=", value: 120, text: "≤ 120 MiB" } as const;
    return [
      figure("W8", "peak RSS server", "MiB", s.get("server"), rss, ctx.quick),
      figure("W8", "peak RSS server before B downloads (A's upload)", "MiB", s.get("serverUpload")),
      figure("W8", "peak RSS client A (sender)", "MiB", s.get("a"), rss, ctx.quick),
      figure("W8", "peak RSS client B (receiver)", "MiB", s.get("b")),
      figure("W8", "longest gap without B's bytes rising in status", "s", s.get("gap"), { op: "<=", value: 2, text: "≤ 2 s" }, ctx.quick),
      figure("W8", "status answers showing no new bytes (B did not move)", "", s.get("still")),
      figure("W8", "slowest status answer during the download", "s", s.get("slowest")),
      figure("W8", `B's download rate (limit ${limit / MiB} MiB/s)`, "MiB/s", s.get("rate")),
      figure("W8", `sync time, ${size / MiB} MiB`, "s", s.get("secs")),
      figure("W8", "last byte told → file in place", "s", s.get("tail")),
      figure("W8", "status samples", "", s.get("polls")),
      figure("W8", "status samples without an answer", "", s.get("failed")),
      figure("W8", "CPU time server", "s", s.get("cpuServer")),
      figure("W8", "CPU time client A (sender)", "s", s.get("cpuA")),
      figure("W8", "CPU time client B (receiver)", "s", s.get("cpuB")),
    ];
  },
};

/** Runs a dropsim command to its end: its exit code and output. */
async function dropsim(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const proc = Bun.spawn(dropsimCommand(args), { stdout: "pipe", stderr: "pipe", stdin: "ignore", env: { ...process.env, NO_COLOR: "1" } });
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code, out, err };
}

async function limitDown(folder: string, bytesPerSecond: number): Promise<void> {
  const r = await dropsim(["limit", folder, "--down", `${bytesPerSecond / MiB}MiB`]);
  if (r.code !== 0) throw new Error(`dropsim limit failed (${r.code}): ${r.err || r.out}`);
}

/**
 * `dropsim status DIR --json` one after another, each started ~POLL_MS after the one before
 * started (at once if that one took longer), as `watch -n 0.5` would, until `stop`. A status
 * that gives no JSON (it exits 1 while the folder syncs, so only the output tells) is kept as a
 * sample that saw nothing, as its user did, and its error is counted.
 */
function pollStatus(folder: string, server: Proc): { samples: Sample[]; failures: string[]; stop(): Promise<void> } {
  const samples: Sample[] = [];
  const failures: string[] = [];
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      const started = performance.now();
      const r = await dropsim(["status", folder, "--json"]);
      let t: { direction: string; done: number; bytes: number } | undefined;
      try {
        t = (JSON.parse(r.out) as { transfer?: typeof t }).transfer;
      } catch {
        failures.push(`exit ${r.code} after ${((performance.now() - started) / 1000).toFixed(1)} s: ${(r.err || r.out).trim()}`);
        samples.push({ at: performance.now(), took: performance.now() - started, failed: true, serverPeak: server.statusKiB("VmHWM") });
        continue;
      }
      samples.push({ at: performance.now(), took: performance.now() - started, serverPeak: server.statusKiB("VmHWM"), ...(t?.direction === "download" ? { done: t.done, bytes: t.bytes } : {}) });
      await Bun.sleep(Math.max(0, started + POLL_MS - performance.now()));
    }
  })();
  return {
    samples,
    failures,
    async stop() {
      stopped = true;
      await loop;
    },
  };
}

/**
 * From the samples: when status first showed B downloading (and how many bytes it had then),
 * when it first showed the download complete (all its bytes, or no download any more), when
 * it first told all the bytes (undefined if no sample caught that), and the longest time
 * between a sample that showed more bytes than the one before and the next sample that did
 * (the first sample counts as one, the complete one too): what a user saw not move. Samples
 * without an answer count as showing nothing new. Also how many answers showed no new bytes,
 * and the slowest answer, which tell a receiver that stalls from a status command that is slow.
 * Undefined if no sample showed a download.
 */
function downloadSeen(samples: readonly Sample[]): DownloadSeen | undefined {
  const first = samples.findIndex((x) => x.done !== undefined);
  if (first < 0) return undefined;
  const start = samples[first]!.at;
  const firstDone = samples[first]!.done!;
  const bytes = samples[first]!.bytes!;
  let lastRise = first;
  let lastDone = firstDone;
  let stall: readonly Sample[] = [];
  let allAt: number | undefined;
  let still = 0;
  let slowest = 0;
  const seen = (end: number): DownloadSeen => ({ start, end, firstDone, bytes, allAt, stall, still, slowest, longestGap: stall.length > 0 ? stall.at(-1)!.at - stall[0]!.at : 0 });
  for (let i = first + 1; i < samples.length; i++) {
    const x = samples[i]!;
    slowest = Math.max(slowest, x.took);
    if (x.failed) continue;
    if (x.done === bytes) allAt ??= x.at;
    const complete = x.done === undefined || x.done === bytes;
    if (!complete && x.done! <= lastDone) {
      still++;
      continue;
    }
    if (x.at - samples[lastRise]!.at > (stall.at(-1)?.at ?? 0) - (stall[0]?.at ?? 0)) stall = samples.slice(lastRise, i + 1);
    lastRise = i;
    lastDone = x.done ?? lastDone;
    if (complete) return seen(x.at);
  }
  return seen(samples[lastRise]!.at);
}

interface DownloadSeen {
  start: number;
  end: number;
  firstDone: number;
  bytes: number;
  allAt?: number;
  longestGap: number;
  /** The samples of the longest gap, from the rise that began it to the one that ended it. */
  stall: readonly Sample[];
  /** Answers during the download that showed no more bytes than the one before: B itself did not move. */
  still: number;
  /** The longest a status command took during the download (ms): the part of a gap that is the command's own. */
  slowest: number;
}

/** The samples of a stall as a line: when each answered (s after the first), how long it took, what it showed. */
function describeStall(stall: readonly Sample[]): string {
  const t0 = stall[0]?.at ?? 0;
  return stall
    .map((x) => `+${((x.at - t0) / 1000).toFixed(2)} s (took ${(x.took / 1000).toFixed(2)} s): ${x.failed ? "no answer" : x.done === undefined ? "no download" : `${(x.done / MiB).toFixed(1)} MiB`}`)
    .join(", ");
}
