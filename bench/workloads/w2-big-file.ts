import * as fs from "node:fs";
import * as path from "node:path";
import { activeBuild } from "../lib/build.ts";
import { bHolds, requireFree, rmrf, stageFolder, syncDisks, withCluster } from "../lib/cluster.ts";
import { hashFile, writeRandomFile } from "../lib/data.ts";
import { AHEAD_OF_SYNCTHING, CPU_PER_GIB_TARGET, copyLikeUser, type PeerRow, peerFigures, perGiB, ratio } from "../lib/peers.ts";
import { measureFloor, measureSteps } from "../lib/floor.ts";
import { w2Floor } from "../lib/steps.ts";
import { cpuMeter } from "../lib/proc.ts";
import { RSYNC, RSYNC_ABSENT, RSYNC_HAS_FSYNC, timeRsync, withRsyncDaemon } from "../lib/rsync.ts";
import { SYNCTHING, SYNCTHING_ABSENT, withSyncthing } from "../lib/syncthing.ts";
import { waitFor } from "../lib/wait.ts";
import { absentFigure, type BenchContext, figure, type Figure, GiB, MiB, mib, runDir, Samples, type Workload } from "../lib/workload.ts";

/**
 * W2: one big file appears in A (renamed in from a staging folder on the same disk); the clock
 * stops when B holds it byte-identical. Two variants, each tool in turn on a fresh copy made by
 * `cp` once the tool is connected and idle: "just copied" (the copy's pages still dirty, as
 * after a real `cp`: the main row) and "flushed" (synced to disk before the clock starts). The
 * peers, same run, same check: an rsync daemon over TCP (`rsync -a FILE rsync://…`, until it
 * exits) and Syncthing (renamed into its A, until its B holds it); `rsync -a` and `--fsync`
 * between local folders for reference. dropsim runs over TLS with a token, as users run it; a
 * build with TLS then also sends the flushed file over plain TCP (`--insecure`) to a fresh
 * cluster, for what TLS costs: the flushed row's time over this one's, same run. Last,
 * the flushed file over a paced link (A's upload and B's download limited to LINK_MIB_S), in
 * crossings of that link: two machines, where streaming B's download behind A's upload pays.
 */
const FILE = "big.bin";
/** The paced row's link, each way: about a gigabit LAN. */
const LINK_MIB_S = 64;

interface Variant {
  /** Sample keys are prefixed with it ("" for the main row). */
  key: "" | "flushed";
  label: string;
  flush: boolean;
}

const VARIANTS: readonly Variant[] = [
  { key: "", label: "just copied (dirty pages)", flush: false },
  { key: "flushed", label: "flushed before the clock", flush: true },
];

export const w2: Workload = {
  id: "W2",
  title: "one 512 MiB file, A → server → B",
  async run(ctx: BenchContext): Promise<Figure[]> {
    const size = ctx.quick ? 16 * MiB : 512 * MiB;
    const timeout = ctx.quick ? 60_000 : 300_000;
    // The master, its copy for the tool being timed (which becomes A's), the server's blocks, B's copy, rsync's copy, and room to spare.
    requireFree(ctx, "W2", 5 * size + GiB);
    const s = new Samples();
    for (let run = 1; run <= ctx.runs; run++) {
      const dir = runDir(ctx, run);
      const stage = stageFolder(dir);
      const master = path.join(stage, "master.bin");
      const hash = writeRandomFile(master, size, `w2-${run}`);
      const staged = path.join(stage, FILE);
      /** A fresh copy to time, made by `cp` as a user would, flushed or not. */
      const copy = (flush: boolean) => {
        copyLikeUser(master, staged);
        if (flush) syncDisks();
      };
      const check = (file: string, who: string) => {
        if (hashFile(file) !== hash) throw new Error(`${who}'s copy of ${FILE} differs from A's`);
      };
      syncDisks();
      const floor = measureFloor(master);
      const steps = measureSteps(Math.min(size, 256 * MiB), dir);
      const stepsFloor = w2Floor(steps, perGiB([floor.cat], size));
      s.add({ shaPerGiB: perGiB([floor.sha256sum], size), catPerGiB: perGiB([floor.cat], size), stepsFloor, shaStep: steps.sha, cdcStep: steps.cdc, tcpStep: steps.tcp, tlsStep: steps.tls, writeStep: steps.write });
      let rsyncMs: number | undefined;
      let rsyncFsyncMs: number | undefined;
      if (RSYNC) {
        const dst = path.join(dir, "rsync-dst");
        rsyncMs = await timeRsync([master, `${dst}/`]);
        rmrf(dst);
        syncDisks();
        if (RSYNC_HAS_FSYNC) {
          rsyncFsyncMs = await timeRsync(["--fsync", master, `${dst}/`]);
          rmrf(dst);
          syncDisks();
        }
      }
      s.add({ rsyncMs, rsyncFsyncMs });

      for (const v of VARIANTS) {
        const k = (name: string) => (v.key ? `${v.key}:${name}` : name);
        let rsyncdMs: number | undefined;
        if (RSYNC) {
          rsyncdMs = await withRsyncDaemon(path.join(dir, "rsyncd"), async (d) => {
            copy(v.flush);
            const ms = await timeRsync([staged, d.url]);
            check(path.join(d.root, FILE), "the rsync daemon");
            return ms;
          });
          settle([path.join(dir, "rsyncd"), staged]);
        }
        let st: { ms: number; cpuPerGiB: number } | undefined;
        if (SYNCTHING) {
          st = await withSyncthing(path.join(dir, "syncthing"), async (pair) => {
            copy(v.flush);
            const cpuBefore = pair.cpuSeconds();
            const t0 = performance.now();
            fs.renameSync(staged, path.join(pair.folderA, FILE));
            const target = path.join(pair.folderB, FILE);
            const done = await waitFor("Syncthing's B to hold the file", bHolds(target, size), { timeout, interval: 5, abortIf: pair.exited });
            const cpu = pair.cpuSeconds().map((c, i) => c - cpuBefore[i]!);
            check(target, "Syncthing's B");
            return { ms: done - t0, cpuPerGiB: perGiB(cpu, size) };
          });
          settle([path.join(dir, "syncthing")]);
        }
        const clusterDir = path.join(dir, "dropsim");
        fs.mkdirSync(clusterDir);
        await withCluster(ctx, clusterDir, {}, async ({ server, clientA, clientB, folderA: a, folderB: b, procs, exited }) => {
          copy(v.flush);
          const target = path.join(b, FILE);
          const cpu = cpuMeter(procs);
          const t0 = performance.now();
          fs.renameSync(staged, path.join(a, FILE));
          const done = await waitFor("B to hold the file", bHolds(target, size), { timeout, interval: 5, abortIf: exited });
          const ms = done - t0;
          const [cpuServer, cpuA, cpuB] = cpu() as [number, number, number];
          check(target, "B");
          const peaks = { serverRss: server.proc.statusKiB("VmHWM"), aRss: clientA.statusKiB("VmHWM"), bRss: clientB.statusKiB("VmHWM") };
          s.add({
            [k("ms")]: ms,
            [k("rsyncdMs")]: rsyncdMs,
            [k("stMs")]: st?.ms,
            [k("rsyncdRatio")]: ratio(ms, rsyncdMs),
            [k("stRatio")]: ratio(ms, st?.ms),
            ...(v.key
              ? {}
              : {
                  mbps: size / MiB / (ms / 1000),
                  cpuServer,
                  cpuA,
                  cpuB,
                  cpuPerGiB: perGiB([cpuServer, cpuA, cpuB], size),
                  cpuOverSha: (cpuServer + cpuA + cpuB) / floor.sha256sum,
                  cpuOverSteps: perGiB([cpuServer, cpuA, cpuB], size) / stepsFloor,
                  stCpuPerGiB: st?.cpuPerGiB,
                  ...mib(peaks),
                }),
          });
          ctx.progress(
            `run ${run}, ${v.label}: dropsim ${secs(ms)} (${(size / MiB / (ms / 1000)).toFixed(0)} MiB/s, CPU ${(cpuServer + cpuA + cpuB).toFixed(1)} s)` +
              (RSYNC ? `, rsync daemon ${secs(rsyncdMs)}` : `, ${RSYNC_ABSENT}`) +
              (st ? `, Syncthing ${secs(st.ms)}` : `, ${SYNCTHING_ABSENT}`),
          );
        });
        settle([]);
      }

      /** A fresh cluster with `opts` syncs a flushed copy: ms until B holds it. */
      const timeFlushed = (name: string, opts: Parameters<typeof withCluster>[2]) => {
        const clusterDir = path.join(dir, name);
        fs.mkdirSync(clusterDir);
        return withCluster(ctx, clusterDir, opts, async ({ folderA: a, folderB: b, exited }) => {
          copy(true);
          const target = path.join(b, FILE);
          const t0 = performance.now();
          fs.renameSync(staged, path.join(a, FILE));
          const ms = (await waitFor("B to hold the file", bHolds(target, size), { timeout, interval: 5, abortIf: exited })) - t0;
          check(target, "B");
          return ms;
        });
      };
      if (activeBuild().tls) {
        const plainMs = await timeFlushed("dropsim-plain", { tls: false });
        const tlsMs = s.get("flushed:ms").at(-1)!;
        s.add({ plainMs, plainMbps: size / MiB / (plainMs / 1000), tlsCost: (tlsMs / plainMs - 1) * 100 });
        ctx.progress(`run ${run}: over plain TCP (flushed) ${secs(plainMs)}; TLS costs ${((tlsMs / plainMs - 1) * 100).toFixed(1)} %`);
      }
      // Two machines on a link: A's upload and B's download each paced to the link's speed.
      // B streams the file while A uploads it (prefetch.ts), so the whole takes about one
      // crossing of the link, not two.
      const pace = `${LINK_MIB_S}MiB`;
      const pacedMs = await timeFlushed("dropsim-paced", { extraArgs: ["--limit-up", pace, "--limit-down", pace] });
      const linkMs = (size / MiB / LINK_MIB_S) * 1000;
      s.add({ pacedMs, pacedCrossings: pacedMs / linkMs });
      ctx.progress(`run ${run}: over a ${LINK_MIB_S} MiB/s link ${secs(pacedMs)}, ${(pacedMs / linkMs).toFixed(2)}× one crossing`);
      rmrf(dir);
    }

    const rsyncAbsent = RSYNC ? undefined : RSYNC_ABSENT;
    const stAbsent = SYNCTHING ? undefined : SYNCTHING_ABSENT;
    const peerRows = (v: Variant): PeerRow[] => {
      const k = (name: string) => (v.key ? `${v.key}:${name}` : name);
      return [
        {
          name: `rsync daemon (TCP), ${v.label}`,
          short: `rsync daemon${v.key ? ", flushed" : ""}`,
          key: k("rsyncdMs"),
          ratioKey: k("rsyncdRatio"),
          unit: "ms",
          absent: rsyncAbsent,
          ...(v.key ? {} : { target: { op: "<=", value: 2, text: "≤ 2× rsync daemon" } as const }),
        },
        {
          name: `Syncthing 1.19, ${v.label}`,
          short: `Syncthing${v.key ? ", flushed" : ""}`,
          key: k("stMs"),
          ratioKey: k("stRatio"),
          unit: "ms",
          absent: stAbsent,
          ...(v.key ? {} : { target: AHEAD_OF_SYNCTHING }),
        },
      ];
    };
    const mb = `${size / MiB} MiB`;
    return [
      figure("W2", `dropsim, ${mb} ${VARIANTS[0]!.label}`, "ms", s.get("ms")),
      figure("W2", "dropsim throughput", "MiB/s", s.get("mbps")),
      ...peerRows(VARIANTS[0]!).flatMap((p) => peerFigures("W2", s, p, ctx.quick)),
      figure("W2", `dropsim, ${mb} ${VARIANTS[1]!.label}`, "ms", s.get("flushed:ms")),
      ...peerRows(VARIANTS[1]!).flatMap((p) => peerFigures("W2", s, p, ctx.quick)),
      ...(activeBuild().tls
        ? [
            figure("W2", `dropsim over plain TCP (--insecure), ${mb} flushed`, "ms", s.get("plainMs")),
            figure("W2", "dropsim throughput over plain TCP", "MiB/s", s.get("plainMbps")),
            figure("W2", "TLS cost over plain TCP", "%", s.get("tlsCost"), { op: "<=", value: 15, text: "≤ 15 %" }, ctx.quick),
          ]
        : []),
      figure("W2", `dropsim over a ${LINK_MIB_S} MiB/s link (A up, B down), flushed`, "ms", s.get("pacedMs")),
      figure("W2", "  the same, in crossings of the link (1 = B streams all of A's upload)", "×", s.get("pacedCrossings")),
      ...(RSYNC
        ? [
            figure("W2", "rsync -a, local (flushed)", "ms", s.get("rsyncMs")),
            ...(RSYNC_HAS_FSYNC ? [figure("W2", "rsync -a --fsync, local (flushed)", "ms", s.get("rsyncFsyncMs"))] : []),
          ]
        : [absentFigure("W2", "rsync -a, local", RSYNC_ABSENT)]),
      figure("W2", "CPU time server", "s", s.get("cpuServer")),
      figure("W2", "CPU time client A (sender)", "s", s.get("cpuA")),
      figure("W2", "CPU time client B (receiver)", "s", s.get("cpuB")),
      figure("W2", "CPU s per GiB synced (server+A+B)", "s", s.get("cpuPerGiB"), CPU_PER_GIB_TARGET, ctx.quick),
      figure("W2", "  floor: sha256sum of the same file, CPU s per GiB", "s", s.get("shaPerGiB")),
      figure("W2", "  floor: cat > /dev/null of the same file, CPU s per GiB", "s", s.get("catPerGiB")),
      figure("W2", "  dropsim's CPU in sha256sum passes (it hashes 3 times)", "×", s.get("cpuOverSha")),
      figure("W2", "  floor: the steps no sync through a server over TLS skips, CPU s per GiB", "s", s.get("stepsFloor")),
      figure("W2", "    SHA-256 of 32 KiB blocks in Bun (3 times: A, server, B)", "s", s.get("shaStep")),
      figure("W2", "    FastCDC, 512 MiB file's blocks (once: A)", "s", s.get("cdcStep")),
      figure("W2", "    one loopback hop over plain TCP, both ends (twice)", "s", s.get("tcpStep")),
      figure("W2", "    TLS on one hop, encrypting and decrypting (twice)", "s", s.get("tlsStep")),
      figure("W2", "    writing into the page cache (twice: the pack, B's file)", "s", s.get("writeStep")),
      figure("W2", "    and reading it (twice: A's file, the pack): the cat figure", "s", s.get("catPerGiB")),
      figure("W2", "  dropsim's CPU over that floor", "×", s.get("cpuOverSteps")),
      ...(SYNCTHING ? [figure("W2", "Syncthing CPU s per GiB synced (A+B)", "s", s.get("stCpuPerGiB"))] : []),
      figure("W2", "peak RSS server", "MiB", s.get("serverRss")),
      figure("W2", "peak RSS client A", "MiB", s.get("aRss")),
      figure("W2", "peak RSS client B", "MiB", s.get("bRss")),
    ];
  },
};

/** Removes what a tool left and flushes, so that the next tool starts from a clean disk. */
function settle(paths: readonly string[]): void {
  for (const p of paths) rmrf(p);
  syncDisks();
}

function secs(ms: number | undefined): string {
  return ms === undefined ? "—" : `${(ms / 1000).toFixed(2)} s`;
}
