import * as fs from "node:fs";
import * as path from "node:path";
import { requireFree, rmrf, stageFolder, syncDisks, waitIdle, withCluster } from "../lib/cluster.ts";
import { copyWithInsert, hashFile, RandomBytes, writeRandomFile } from "../lib/data.ts";
import { CPU_PER_GIB_TARGET, type PeerRow, peerFigures, perGiB, ratio } from "../lib/peers.ts";
import { cpuMeter } from "../lib/proc.ts";
import { RSYNC, RSYNC_ABSENT, runRsync, withRsyncDaemon } from "../lib/rsync.ts";
import { SYNCTHING, SYNCTHING_ABSENT, withSyncthing } from "../lib/syncthing.ts";
import { waitFor } from "../lib/wait.ts";
import { type BenchContext, figure, type Figure, GiB, KiB, MiB, runDir, Samples, type Workload } from "../lib/workload.ts";

/**
 * W4a/W4b: B holds a synced big file; A overwrites (a) or inserts (b) 16 bytes in the middle.
 * Figures: bytes on the wire counted by the server (both directions, every session, from
 * "both idle" before the edit to "both idle" after), and time until B holds A's new bytes.
 * The overwrite is done in place; the insert is written beside A's folder and renamed over
 * the file (as editors save), so preparing it is not timed. Peers, same run, same edit: Syncthing
 * (its own pair, timed and checked the same way, bytes from its connection counters) and an
 * rsync daemon over TCP holding the original, to which `rsync -a -I FILE` (-I: never trust the
 * size and time, always compare blocks) sends A's edited file, start to exit, bytes from --stats.
 * CPU per GiB counts the whole file (256 MiB) as synced: each tool must at least read it again.
 */
function editWorkload(id: "W4a" | "W4b", insert: boolean): Workload {
  return {
    id,
    title: `256 MiB file synced; A ${insert ? "inserts" : "overwrites"} 16 bytes in the middle`,
    async run(ctx: BenchContext): Promise<Figure[]> {
      const size = ctx.quick ? 8 * MiB : 256 * MiB;
      const need = 6 * size + GiB;
      requireFree(ctx, id, need);
      const s = new Samples();
      for (let run = 1; run <= ctx.runs; run++) {
        const dir = runDir(ctx, run);
        const stage = stageFolder(dir);
        const edit = new RandomBytes(`${id}-edit-${run}`).next(16);
        const seed = `${id}-${run}`;
        const st = SYNCTHING ? await timeSyncthing(path.join(dir, "syncthing"), stage, { size, seed, edit, insert }) : undefined;
        await withCluster(ctx, dir, { verbose: true }, async ({ server, clientA, clientB, folderA, folderB, procs, exited: abortIf }) => {
          const fileA = path.join(folderA, "big.bin");
          const fileB = path.join(folderB, "big.bin");

          // Setup: the file synced to B (and to the rsync daemon), everyone idle, counters settled.
          await syncOriginal(stage, fileA, fileB, size, seed, abortIf);
          await waitIdle([clientA, clientB], { quietMs: 300 });
          const before = await server.settledTraffic();
          const cpu = cpuMeter(procs);
          const { ms } = await editAndWait(stage, fileA, fileB, { size, edit, insert }, abortIf);
          const cpuPerGiB = perGiB(cpu(), size);
          await waitIdle([clientA, clientB], { quietMs: 300 });
          const after = await server.settledTraffic();
          const up = after.bytesIn - before.bytesIn;
          const down = after.bytesOut - before.bytesOut;
          const wireKiB = (up + down) / KiB;
          const rsyncd = RSYNC ? await rsyncDaemonEdit(dir, fileA, stage, seed, size) : undefined;
          s.add({
            wireKiB,
            upKiB: up / KiB,
            downKiB: down / KiB,
            ms,
            cpuPerGiB,
            rsyncdMs: rsyncd?.ms,
            rsyncdWireKiB: rsyncd && rsyncd.wireBytes / KiB,
            rsyncdRatio: ratio(ms, rsyncd?.ms),
            rsyncdWireRatio: ratio(wireKiB, rsyncd && rsyncd.wireBytes / KiB),
            stMs: st?.ms,
            stWireKiB: st?.wireKiB,
            stRatio: ratio(ms, st?.ms),
            stWireRatio: ratio(wireKiB, st?.wireKiB),
            stCpuPerGiB: st?.cpuPerGiB,
          });
          ctx.progress(
            `run ${run}: ${wireKiB.toFixed(1)} KiB on the wire (${(up / KiB).toFixed(1)} up, ${(down / KiB).toFixed(1)} down), B matched after ${ms.toFixed(0)} ms` +
              (rsyncd ? `; rsync daemon ${rsyncd.ms.toFixed(0)} ms, ${(rsyncd.wireBytes / KiB).toFixed(1)} KiB` : `; ${RSYNC_ABSENT}`) +
              (st ? `; Syncthing ${st.ms.toFixed(0)} ms, ${st.wireKiB.toFixed(1)} KiB` : `; ${SYNCTHING_ABSENT}`),
          );
        });
      }
      const rsyncAbsent = RSYNC ? undefined : RSYNC_ABSENT;
      const stAbsent = SYNCTHING ? undefined : SYNCTHING_ABSENT;
      const peers: PeerRow[] = [
        { name: "rsync daemon (TCP): time", short: "rsync daemon, time", key: "rsyncdMs", ratioKey: "rsyncdRatio", unit: "ms", absent: rsyncAbsent },
        { name: "rsync daemon (TCP): bytes on the wire", short: "rsync daemon, bytes", key: "rsyncdWireKiB", ratioKey: "rsyncdWireRatio", unit: "KiB", absent: rsyncAbsent },
        { name: "Syncthing 1.19: time until B matches", short: "Syncthing, time", key: "stMs", ratioKey: "stRatio", unit: "ms", absent: stAbsent },
        { name: "Syncthing 1.19: bytes on the wire", short: "Syncthing, bytes", key: "stWireKiB", ratioKey: "stWireRatio", unit: "KiB", absent: stAbsent },
      ];
      return [
        figure(id, "bytes on the wire, total", "KiB", s.get("wireKiB"), { op: "<=", value: 192, text: "≤ 192 KiB" }, ctx.quick),
        figure(id, "  client → server", "KiB", s.get("upKiB")),
        figure(id, "  server → clients", "KiB", s.get("downKiB")),
        figure(id, "time until B matches", "ms", s.get("ms"), { op: "<=", value: 1000, text: "≤ 1 s" }, ctx.quick),
        ...peers.flatMap((p) => peerFigures(id, s, p, ctx.quick)),
        figure(id, `CPU s per GiB synced (server+A+B; ${size / MiB} MiB counted)`, "s", s.get("cpuPerGiB"), CPU_PER_GIB_TARGET, ctx.quick),
        ...(SYNCTHING ? [figure(id, "Syncthing CPU s per GiB synced (A+B)", "s", s.get("stCpuPerGiB"))] : []),
      ];
    },
  };
}

export const w4a = editWorkload("W4a", false);
export const w4b = editWorkload("W4b", true);

interface Edit {
  size: number;
  edit: Buffer;
  insert: boolean;
}

/** Writes the original file in `stage`, renames it into A and waits until B holds the same bytes. */
async function syncOriginal(stage: string, fileA: string, fileB: string, size: number, seed: string, abortIf: () => string | undefined): Promise<void> {
  const staged = path.join(stage, "big.bin");
  const original = writeRandomFile(staged, size, seed);
  fs.renameSync(staged, fileA);
  await waitFor("B to hold the original file", () => (hashFile(fileB) === original ? true : "not yet"), { timeout: 300_000, interval: 100, abortIf });
}

/**
 * Makes the edit on A (in place, or a copy with the insert renamed over it) and waits until B
 * holds A's new bytes; the clock runs from the edit (or the rename) to that moment.
 */
async function editAndWait(stage: string, fileA: string, fileB: string, e: Edit, abortIf: () => string | undefined): Promise<{ ms: number }> {
  const baseline = fs.statSync(fileB);
  const mid = Math.floor(e.size / 2);
  let expectedSize = e.size;
  let expected: string | undefined;
  let t0: number;
  if (e.insert) {
    const edited = path.join(stage, "big-edited.bin");
    expected = copyWithInsert(fileA, edited, mid, e.edit);
    expectedSize = e.size + e.edit.length;
    syncDisks();
    t0 = performance.now();
    fs.renameSync(edited, fileA);
  } else {
    t0 = performance.now();
    const fd = fs.openSync(fileA, "r+");
    fs.writeSync(fd, e.edit, 0, e.edit.length, mid);
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
  return { ms: done - t0 };
}

/** Syncthing on the same file and edit: its own pair under `dir`, removed afterwards. */
async function timeSyncthing(dir: string, stage: string, e: Edit & { seed: string }): Promise<{ ms: number; wireKiB: number; cpuPerGiB: number }> {
  try {
    return await withSyncthing(dir, async (st) => {
      const fileA = path.join(st.folderA, "big.bin");
      const fileB = path.join(st.folderB, "big.bin");
      await syncOriginal(stage, fileA, fileB, e.size, e.seed, st.exited);
      await st.waitIdle();
      const before = await st.wireBytes();
      const cpuBefore = st.cpuSeconds();
      const { ms } = await editAndWait(stage, fileA, fileB, e, st.exited);
      const cpu = st.cpuSeconds().map((c, i) => c - cpuBefore[i]!);
      await st.waitIdle();
      return { ms, wireKiB: ((await st.wireBytes()) - before) / KiB, cpuPerGiB: perGiB(cpu, e.size) };
    });
  } finally {
    rmrf(dir);
  }
}

/**
 * An rsync daemon given the original (untimed), then A's edited file with `rsync -a -I`: the
 * delta transfer rsync does for a changed file, timed from start to exit.
 */
async function rsyncDaemonEdit(dir: string, fileA: string, stage: string, seed: string, size: number): Promise<{ ms: number; wireBytes: number }> {
  const original = path.join(stage, "big.bin");
  writeRandomFile(original, size, seed);
  try {
    return await withRsyncDaemon(path.join(dir, "rsyncd"), async (d) => {
      await runRsync([original, d.url]);
      syncDisks();
      return runRsync(["-I", fileA, d.url]);
    });
  } finally {
    rmrf(original);
    rmrf(path.join(dir, "rsyncd"));
  }
}
