import * as fs from "node:fs";
import * as path from "node:path";
import { activeBuild } from "../lib/build.ts";
import { waitIdle, withCluster } from "../lib/cluster.ts";
import { RandomBytes } from "../lib/data.ts";
import { AHEAD_OF_SYNCTHING, type PeerRow, peerFigures, ratio } from "../lib/peers.ts";
import { RSYNC, RSYNC_ABSENT, timeRsync, withRsyncDaemon } from "../lib/rsync.ts";
import { percentile } from "../lib/stats.ts";
import { SYNCTHING, SYNCTHING_ABSENT, withSyncthing } from "../lib/syncthing.ts";
import { type CheckResult, waitFor } from "../lib/wait.ts";
import { type BenchContext, figure, type Figure, KiB, runDir, Samples, type Workload } from "../lib/workload.ts";

/**
 * W3: with both clients idle, write a 1 KiB file on A; the clock stops when B holds the same
 * bytes (B is polled every 2 ms). Each run is a fresh cluster and `trials` files in a row,
 * waiting for both clients to be idle again between trials. A build with TLS runs each run
 * again over TLS, on a fresh cluster, with the same bytes. Peers, same run: Syncthing timed the
 * same way (fewer trials: its watcher waits 1 s before it looks), and `rsync -a FILE` to an
 * rsync daemon over TCP, start to exit (what a script pushing each file would see).
 */
export const w3: Workload = {
  id: "W3",
  title: "latency of a 1 KiB write, A → B, idle system",
  async run(ctx: BenchContext): Promise<Figure[]> {
    const trials = ctx.quick ? 5 : 50;
    const peerTrials = ctx.quick ? 3 : 10;
    const s = new Samples();
    const all: number[] = [];
    // As users run it: over TLS with a token where the build has them; plain TCP beside it, for what TLS costs.
    const modes = activeBuild().tls ? (["main", "plain"] as const) : (["main"] as const);
    for (let run = 1; run <= ctx.runs; run++) {
      const rsyncdP50 = RSYNC ? await rsyncDaemonP50(path.join(runDir(ctx, run), "rsyncd"), new RandomBytes(`w3-${run}`), peerTrials) : undefined;
      const stP50 = SYNCTHING ? await syncthingP50(path.join(runDir(ctx, run), "syncthing"), new RandomBytes(`w3-${run}`), peerTrials) : undefined;
      for (const mode of modes) {
        const dir = runDir(ctx, run);
        const rng = new RandomBytes(`w3-${run}`);
        await withCluster(ctx, dir, { verbose: true, ...(mode === "plain" ? { tls: false } : {}) }, async ({ clientA, clientB, folderA: a, folderB: b, exited: abortIf }) => {
          await waitIdle([clientA, clientB], { quietMs: 300 });
          const latencies: number[] = [];
          for (let i = 0; i < trials; i++) {
            const name = trialName(i);
            const bytes = rng.next(KiB);
            const t0 = performance.now();
            fs.writeFileSync(path.join(a, name), bytes);
            const done = await waitFor(`B to hold ${name}`, holds(path.join(b, name), bytes), { timeout: 10_000, interval: 2, abortIf });
            latencies.push(done - t0);
            await waitIdle([clientA, clientB], { quietMs: 150 });
          }
          const p50 = percentile(latencies, 50);
          const p95 = percentile(latencies, 95);
          if (mode === "plain") s.add({ plainP50: p50, plainP95: p95, tlsCost: s.get("p50").at(-1)! - p50 });
          else {
            all.push(...latencies);
            s.add({ p50, p95, max: Math.max(...latencies), rsyncdP50, stP50, rsyncdRatio: ratio(p50, rsyncdP50), stRatio: ratio(p50, stP50) });
          }
          ctx.progress(
            `run ${run}${mode === "plain" ? " over plain TCP" : ""}: p50 ${p50.toFixed(1)} ms, p95 ${p95.toFixed(1)} ms, max ${Math.max(...latencies).toFixed(1)} ms over ${trials} trials` +
              (mode === "plain" ? "" : `; p50 of ${peerTrials}: rsync daemon ${ms(rsyncdP50)}, Syncthing ${ms(stP50)}`),
          );
        });
      }
    }
    const peers: PeerRow[] = [
      { name: `rsync daemon (TCP), p50 of ${peerTrials}`, short: "rsync daemon", key: "rsyncdP50", ratioKey: "rsyncdRatio", unit: "ms", absent: RSYNC ? undefined : RSYNC_ABSENT },
      { name: `Syncthing 1.19 (watcher delay 1 s), p50 of ${peerTrials}`, short: "Syncthing", key: "stP50", ratioKey: "stRatio", unit: "ms", absent: SYNCTHING ? undefined : SYNCTHING_ABSENT, target: AHEAD_OF_SYNCTHING },
    ];
    return [
      figure("W3", `p50 of ${trials} trials`, "ms", s.get("p50"), { op: "<=", value: 70, text: "≤ 70 ms" }, ctx.quick),
      figure("W3", `p95 of ${trials} trials`, "ms", s.get("p95"), { op: "<=", value: 120, text: "≤ 120 ms" }, ctx.quick),
      figure("W3", `max of ${trials} trials`, "ms", s.get("max")),
      figure("W3", "all trials pooled", "ms", all),
      ...peers.flatMap((p) => peerFigures("W3", s, p, ctx.quick)),
      ...(activeBuild().tls
        ? [
            figure("W3", `p50 of ${trials} trials over plain TCP (--insecure)`, "ms", s.get("plainP50")),
            figure("W3", `p95 of ${trials} trials over plain TCP (--insecure)`, "ms", s.get("plainP95")),
            figure("W3", "TLS cost on p50", "ms", s.get("tlsCost"), { op: "<=", value: 5, text: "≤ 5 ms" }, ctx.quick),
          ]
        : []),
    ];
  },
};

function trialName(i: number): string {
  return `latency-${String(i).padStart(3, "0")}.bin`;
}

function ms(v: number | undefined): string {
  return v === undefined ? "—" : `${v.toFixed(1)} ms`;
}

/** The check every tool is timed by: `target` holds exactly `bytes`. */
function holds(target: string, bytes: Buffer): () => CheckResult {
  return () => {
    const st = fs.statSync(target, { throwIfNoEntry: false });
    if (st?.size !== bytes.length) return st ? `${st.size} bytes` : "absent";
    return bytes.equals(fs.readFileSync(target)) ? true : "different bytes";
  };
}

/** Syncthing, timed as dropsim is, both instances idle again between trials. */
async function syncthingP50(dir: string, rng: RandomBytes, trials: number): Promise<number> {
  return withSyncthing(dir, async (st) => {
    const latencies: number[] = [];
    for (let i = 0; i < trials; i++) {
      const bytes = rng.next(KiB);
      const t0 = performance.now();
      fs.writeFileSync(path.join(st.folderA, trialName(i)), bytes);
      const done = await waitFor(`Syncthing's B to hold ${trialName(i)}`, holds(path.join(st.folderB, trialName(i)), bytes), {
        timeout: 30_000,
        interval: 2,
        abortIf: st.exited,
      });
      latencies.push(done - t0);
      await st.waitIdle();
    }
    return percentile(latencies, 50);
  });
}

/** `rsync -a FILE rsync://…` of a fresh 1 KiB file, start to exit. */
async function rsyncDaemonP50(dir: string, rng: RandomBytes, trials: number): Promise<number> {
  const src = path.join(dir, "src");
  fs.mkdirSync(src, { recursive: true });
  return withRsyncDaemon(dir, async (d) => {
    const latencies: number[] = [];
    for (let i = 0; i < trials; i++) {
      const file = path.join(src, trialName(i));
      fs.writeFileSync(file, rng.next(KiB));
      latencies.push(await timeRsync([file, d.url]));
    }
    return percentile(latencies, 50);
  });
}
