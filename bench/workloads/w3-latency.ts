import * as fs from "node:fs";
import * as path from "node:path";
import { activeBuild } from "../lib/build.ts";
import { waitIdle, withCluster } from "../lib/cluster.ts";
import { RandomBytes } from "../lib/data.ts";
import { percentile } from "../lib/stats.ts";
import { waitFor } from "../lib/wait.ts";
import { type BenchContext, figure, type Figure, KiB, runDir, Samples, type Workload } from "../lib/workload.ts";

/**
 * W3: with both clients idle, write a 1 KiB file on A; the clock stops when B holds the same
 * bytes (B is polled every 2 ms). Each run is a fresh cluster and `trials` files in a row,
 * waiting for both clients to be idle again between trials. A build with TLS runs each run
 * again over TLS, on a fresh cluster, with the same bytes.
 */
export const w3: Workload = {
  id: "W3",
  title: "latency of a 1 KiB write, A → B, idle system",
  async run(ctx: BenchContext): Promise<Figure[]> {
    const trials = ctx.quick ? 5 : 50;
    const s = new Samples();
    const all: number[] = [];
    const modes = activeBuild().tls ? [false, true] : [false];
    for (let run = 1; run <= ctx.runs; run++) {
      for (const tls of modes) {
        const dir = runDir(ctx, run);
        const rng = new RandomBytes(`w3-${run}`);
        await withCluster(ctx, dir, { verbose: true, tls }, async ({ clientA, clientB, folderA: a, folderB: b, exited: abortIf }) => {
          await waitIdle([clientA, clientB], { quietMs: 300 });
          const latencies: number[] = [];
          for (let i = 0; i < trials; i++) {
            const name = `latency-${String(i).padStart(3, "0")}.bin`;
            const bytes = rng.next(KiB);
            const target = path.join(b, name);
            const t0 = performance.now();
            fs.writeFileSync(path.join(a, name), bytes);
            const done = await waitFor(
              `B to hold ${name}`,
              () => {
                const st = fs.statSync(target, { throwIfNoEntry: false });
                if (st?.size !== bytes.length) return st ? `${st.size} bytes` : "absent";
                return bytes.equals(fs.readFileSync(target)) ? true : "different bytes";
              },
              { timeout: 10_000, interval: 2, abortIf },
            );
            latencies.push(done - t0);
            await waitIdle([clientA, clientB], { quietMs: 150 });
          }
          const p50 = percentile(latencies, 50);
          const p95 = percentile(latencies, 95);
          if (tls) s.add({ tlsP50: p50, tlsP95: p95, tlsCost: p50 - s.get("p50").at(-1)! });
          else {
            all.push(...latencies);
            s.add({ p50, p95, max: Math.max(...latencies) });
          }
          ctx.progress(`run ${run}${tls ? " over TLS" : ""}: p50 ${p50.toFixed(1)} ms, p95 ${p95.toFixed(1)} ms, max ${Math.max(...latencies).toFixed(1)} ms over ${trials} trials`);
        });
      }
    }
    return [
      figure("W3", `p50 of ${trials} trials`, "ms", s.get("p50"), { op: "<=", value: 70, text: "≤ 70 ms" }, ctx.quick),
      figure("W3", `p95 of ${trials} trials`, "ms", s.get("p95"), { op: "<=", value: 120, text: "≤ 120 ms" }, ctx.quick),
      figure("W3", `max of ${trials} trials`, "ms", s.get("max")),
      figure("W3", "all trials pooled", "ms", all),
      ...(activeBuild().tls
        ? [
            figure("W3", `p50 of ${trials} trials over TLS`, "ms", s.get("tlsP50"), { op: "<=", value: 70, text: "≤ 70 ms" }, ctx.quick),
            figure("W3", `p95 of ${trials} trials over TLS`, "ms", s.get("tlsP95")),
            figure("W3", "TLS cost on p50", "ms", s.get("tlsCost"), { op: "<=", value: 5, text: "≤ 5 ms" }, ctx.quick),
          ]
        : []),
    ];
  },
};
