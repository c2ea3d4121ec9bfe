import * as path from "node:path";
import { clientArgs, IDLE, Server, rmrf, startClient, stopAll, waitIdle } from "../lib/cluster.ts";
import { writeSmallTree } from "../lib/data.ts";
import { Proc } from "../lib/proc.ts";
import type { Traffic } from "../lib/traffic.ts";
import { WireSession } from "../lib/wire.ts";
import { type BenchContext, figure, type Figure, KiB, mib, runDir, Samples, type Workload } from "../lib/workload.ts";

/**
 * W7: a client whose folder of many small files is fully synced is stopped and started again;
 * "ready" is its first "Idle" line (its first pass found nothing to do), timed from spawn.
 * The setup (creating the files, the first upload) is done once and not timed; each run is one
 * restart (page cache warm). Nothing may be re-uploaded: the journal head must not move.
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
      server = await Server.start(dir);
      t = performance.now();
      client = await startClient("A", folder, server, { verbose: true });
      await waitIdle([client], { quietMs: 1000, timeout: ctx.quick ? 120_000 : 1_200_000 });
      const uploadSecs = (performance.now() - t) / 1000;
      await client.stop();
      client = undefined;
      const head = await serverHead(server, "setup");
      ctx.progress(`setup: first sync of ${total} files took ${uploadSecs.toFixed(1)} s; journal head ${head}`);
      s.add({ uploadSecs });

      for (let run = 1; run <= ctx.runs; run++) {
        const before = clientBytesIn(await server.settledTraffic());
        const proc = new Proc("A", clientArgs(folder, server, { verbose: true }), dir);
        client = proc;
        const idle = await proc.waitForLine(IDLE, { timeout: 300_000 });
        const connected = proc.findLine(CONNECTED);
        const readyMs = idle.at - proc.startedAt;
        const connectedMs = connected ? connected.at - proc.startedAt : undefined;
        await waitIdle([proc], { quietMs: 300, timeout: 120_000 });
        const sent = clientBytesIn(await server.settledTraffic()) - before;
        const peak = proc.statusKiB("VmHWM");
        await proc.stop();
        client = undefined;
        const newHead = await serverHead(server, `run${run}`);
        s.add({ readyMs, connectedMs, sentKiB: sent / KiB, added: newHead - head, ...mib({ peak }) });
        ctx.progress(
          `run ${run}: ready after ${readyMs.toFixed(0)} ms (connected at ${connectedMs?.toFixed(0)} ms), ` +
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
      figure("W7", "peak RSS of the client on restart", "MiB", s.get("peak")),
      figure("W7", "first sync (setup, not a target)", "s", s.get("uploadSecs")),
    ];
  },
};

/** Bytes the server received from the client, not from the bench's own raw sessions. */
function clientBytesIn(traffic: Traffic): number {
  return traffic.sessions.filter((x) => !x.clientId.startsWith("bench-")).reduce((n, x) => n + x.bytesIn, 0);
}

/** The server's journal head, from a fresh raw session's welcome. */
async function serverHead(server: Server, tag: string): Promise<number> {
  const session = await WireSession.open(server.port);
  try {
    const welcome = await session.hello(`bench-w7-${tag}-${crypto.randomUUID()}`, server.token);
    return Number(welcome.message.head);
  } finally {
    session.close();
  }
}
