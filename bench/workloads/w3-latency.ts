import * as fs from "node:fs";
import * as path from "node:path";
import { Server, rmrf, startClient, stopAll, waitIdle } from "../lib/cluster.ts";
import { RandomBytes } from "../lib/data.ts";
import type { Proc } from "../lib/proc.ts";
import { percentile } from "../lib/stats.ts";
import { waitFor } from "../lib/wait.ts";
import { type BenchContext, figure, type Figure, KiB, runDir, Samples, type Workload } from "../lib/workload.ts";

/**
 * W3: with both clients idle, write a 1 KiB file on A; the clock stops when B holds the same
 * bytes (B is polled every 2 ms). Each run is a fresh cluster and `trials` files in a row,
 * waiting for both clients to be idle again between trials.
 */
export const w3: Workload = {
  id: "W3",
  title: "latency of a 1 KiB write, A → B, idle system",
  async run(ctx: BenchContext): Promise<Figure[]> {
    const trials = ctx.quick ? 5 : 50;
    const s = new Samples();
    const all: number[] = [];
    for (let run = 1; run <= ctx.runs; run++) {
      const dir = runDir(ctx, run);
      const a = path.join(dir, "A");
      const b = path.join(dir, "B");
      const rng = new RandomBytes(`w3-${run}`);
      let server: Server | undefined;
      let clientA: Proc | undefined;
      let clientB: Proc | undefined;
      try {
        server = await Server.start(dir);
        [clientA, clientB] = await Promise.all([startClient("A", a, server, { verbose: true }), startClient("B", b, server, { verbose: true })]);
        const procs = [server.proc, clientA, clientB];
        const abortIf = () => procs.map((p) => p.exitReason()).find(Boolean);
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
        all.push(...latencies);
        const p50 = percentile(latencies, 50);
        const p95 = percentile(latencies, 95);
        s.add({ p50, p95, max: Math.max(...latencies) });
        ctx.progress(`run ${run}: p50 ${p50.toFixed(1)} ms, p95 ${p95.toFixed(1)} ms, max ${Math.max(...latencies).toFixed(1)} ms over ${trials} trials`);
      } catch (e) {
        for (const p of [server?.proc, clientA, clientB]) if (p) ctx.progress(`log of ${p.name}:\n${p.logs()}`);
        throw e;
      } finally {
        await stopAll([clientA, clientB, server?.proc]);
        rmrf(dir);
      }
    }
    return [
      figure("W3", `p50 of ${trials} trials`, "ms", s.get("p50"), { op: "<=", value: 70, text: "≤ 70 ms" }, ctx.quick),
      figure("W3", `p95 of ${trials} trials`, "ms", s.get("p95"), { op: "<=", value: 120, text: "≤ 120 ms" }, ctx.quick),
      figure("W3", `max of ${trials} trials`, "ms", s.get("max")),
      figure("W3", "all trials pooled", "ms", all),
    ];
  },
};
