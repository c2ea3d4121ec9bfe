import * as path from "node:path";
import { clientArgs, IDLE, Server, rmrf, startClient, stopAll, syncDisks, waitIdle } from "../lib/cluster.ts";
import { writeSmallTree } from "../lib/data.ts";
import { Proc } from "../lib/proc.ts";
import { RSYNC, RSYNC_HAS_FSYNC, timeRsync } from "../lib/rsync.ts";
import type { Traffic } from "../lib/traffic.ts";
import { WireSession } from "../lib/wire.ts";
import { absentFigure, type BenchContext, figure, type Figure, KiB, mib, runDir, Samples, type Workload } from "../lib/workload.ts";

/**
 * W7: a client whose folder of many small files is fully synced is stopped and started again;
 * "ready" is its first "Idle" line (its first pass found nothing to do), timed from spawn.
 * Each run is one restart (page cache warm). Nothing may be re-uploaded: the journal head must
 * not move.
 *
 * The setup is timed once as "first sync": a client started on the folder of new files, from
 * spawn until its "Idle" line, when the server has committed every file (what rsync's copy
 * is: the tree durable on the other side). The baselines copy the same tree, page cache just
 * as warm, with `rsync -a --fsync` (durable, the target's yardstick) and `rsync -a`.
 */
const CONNECTED = /Connected to /;

export const w7: Workload = {
  id: "W7",
  title: "restart a client over 100,000 synced, unchanged files",
  async run(ctx: BenchContext): Promise<Figure[]> {
    const dirCount = ctx.quick ? 20 : 1000;
    const perDir = 100;
    const total = dirCount * perDir;
    const dir = runDir(ctx, 0);
    const folder = path.join(dir, "A");
    const s = new Samples();
    let server: Server | undefined;
    let client: Proc | undefined;
    try {
      let t = performance.now();
      writeSmallTree(folder, dirCount, perDir, KiB, "w7");
      ctx.progress(`setup: wrote ${total} files in ${((performance.now() - t) / 1000).toFixed(1)} s`);
      const rsync = await timeBaselines(ctx, folder, dir);
      server = await Server.start(dir);
      client = await startClient("A", folder, server, { verbose: true });
      await waitIdle([client], { quietMs: 1000, timeout: ctx.quick ? 120_000 : 1_200_000 });
      // The clock stops at the first Idle line (nothing is idle before every file is committed),
      // not after the quiet wait.
      const firstSyncMs = client.findLine(IDLE)!.at - client.startedAt;
      const firstSyncCpu = client.cpuSeconds();
      const firstSyncPeak = client.statusKiB("VmHWM");
      await client.stop();
      client = undefined;
      const head = await serverHead(server, "setup");
      if (head < total + dirCount) throw new Error(`After the first sync the server's journal head is ${head}, fewer than the ${total + dirCount} entries of the folder`);
      const ratio = rsync.fsyncMs ? firstSyncMs / rsync.fsyncMs : undefined;
      ctx.progress(
        `first sync of ${total} files: ${(firstSyncMs / 1000).toFixed(1)} s, client CPU ${firstSyncCpu?.toFixed(1)} s, peak RSS ${((firstSyncPeak ?? 0) / 1024).toFixed(0)} MiB; ` +
          `rsync -a --fsync ${((rsync.fsyncMs ?? Number.NaN) / 1000).toFixed(1)} s (ratio ${ratio?.toFixed(2)}), rsync -a ${((rsync.plainMs ?? Number.NaN) / 1000).toFixed(1)} s; journal head ${head}`,
      );
      s.add({ firstSyncMs, firstSyncCpu, ratio, rsyncMs: rsync.plainMs, rsyncFsyncMs: rsync.fsyncMs, ...mib({ firstSyncPeak }) });

      for (let run = 1; run <= ctx.runs; run++) {
        const before = clientBytesIn(await server.settledTraffic());
        const proc = new Proc("A", clientArgs(folder, server, { verbose: true }), dir);
        client = proc;
        const idle = await proc.waitForLine(IDLE, { timeout: 300_000 });
        const readyCpu = proc.cpuSeconds();
        const connected = proc.findLine(CONNECTED);
        const readyMs = idle.at - proc.startedAt;
        const connectedMs = connected ? connected.at - proc.startedAt : undefined;
        await waitIdle([proc], { quietMs: 300, timeout: 120_000 });
        const sent = clientBytesIn(await server.settledTraffic()) - before;
        const peak = proc.statusKiB("VmHWM");
        await proc.stop();
        client = undefined;
        const newHead = await serverHead(server, `run${run}`);
        s.add({ readyMs, readyCpu, connectedMs, sentKiB: sent / KiB, added: newHead - head, ...mib({ peak }) });
        ctx.progress(
          `run ${run}: ready after ${readyMs.toFixed(0)} ms (connected at ${connectedMs?.toFixed(0)} ms, CPU ${readyCpu?.toFixed(2)} s), ` +
            `sent ${(sent / KiB).toFixed(1)} KiB, journal entries added ${newHead - head}, peak RSS ${((peak ?? 0) / 1024).toFixed(0)} MiB`,
        );
      }
    } catch (e) {
      for (const p of [server?.proc, client]) if (p) ctx.progress(`log of ${p.name}:\n${p.logs()}`);
      throw e;
    } finally {
      await stopAll([client, server?.proc]);
      rmrf(dir);
    }
    return [
      figure("W7", `ready after restart, ${total} files`, "ms", s.get("readyMs"), { op: "<=", value: 5000, text: "≤ 5 s" }, ctx.quick),
      figure("W7", "  of which: start until connected", "ms", s.get("connectedMs")),
      figure("W7", "journal entries added by restart", "", s.get("added"), { op: "<=", value: 0, text: "0 (nothing re-uploaded)" }, ctx.quick),
      figure("W7", "bytes sent by the client on restart", "KiB", s.get("sentKiB")),
      figure("W7", "  client CPU until ready", "s", s.get("readyCpu")),
      figure("W7", "peak RSS of the client on restart", "MiB", s.get("peak"), { op: "<=", value: 150, text: "≤ 150 MiB" }, ctx.quick),
      figure("W7", `first sync, ${total} × 1 KiB (once, until A is idle)`, "ms", s.get("firstSyncMs")),
      figure("W7", "  client CPU during the first sync", "s", s.get("firstSyncCpu")),
      figure("W7", "  peak RSS of the client during the first sync", "MiB", s.get("firstSyncPeak")),
      ...(RSYNC_HAS_FSYNC
        ? [
            figure("W7", "rsync -a --fsync, same tree", "ms", s.get("rsyncFsyncMs")),
            figure("W7", "first sync / rsync -a --fsync", "×", s.get("ratio"), FIRST_SYNC_TARGET, ctx.quick),
          ]
        : [absentFigure("W7", "first sync / rsync -a --fsync", RSYNC ? "this rsync has no --fsync" : "rsync not installed", FIRST_SYNC_TARGET)]),
      ...(RSYNC ? [figure("W7", "rsync -a, same tree", "ms", s.get("rsyncMs"))] : []),
    ];
  },
};

const FIRST_SYNC_TARGET = { op: "<=", value: 2, text: "≤ 2× rsync --fsync" } as const;

/** `rsync -a --fsync` and `rsync -a` of `folder` into `dir`, each copy removed again (and flushed) before the next. */
async function timeBaselines(ctx: BenchContext, folder: string, dir: string): Promise<{ plainMs?: number; fsyncMs?: number }> {
  const copy = async (args: string[]) => {
    const dst = path.join(dir, "rsync-dst");
    syncDisks();
    const ms = await timeRsync([...args, `${folder}/`, `${dst}/`]);
    rmrf(dst);
    return ms;
  };
  const fsyncMs = RSYNC_HAS_FSYNC ? await copy(["--fsync"]) : undefined;
  const plainMs = RSYNC ? await copy([]) : undefined;
  syncDisks();
  ctx.progress(`baselines: rsync -a --fsync ${fsyncMs?.toFixed(0)} ms, rsync -a ${plainMs?.toFixed(0)} ms`);
  return { plainMs, fsyncMs };
}

/** Bytes the server received from the client, not from the bench's own raw sessions. */
function clientBytesIn(traffic: Traffic): number {
  return traffic.sessions.filter((x) => !x.clientId.startsWith("bench-")).reduce((n, x) => n + x.bytesIn, 0);
}

/** The server's journal head, from a fresh raw session's welcome. */
async function serverHead(server: Server, tag: string): Promise<number> {
  const session = await WireSession.open(server.port, { tls: server.tls });
  try {
    const welcome = await session.hello(`bench-w7-${tag}-${crypto.randomUUID()}`, server.token);
    return Number(welcome.message.head);
  } finally {
    session.close();
  }
}
