import * as fs from "node:fs/promises";
import * as path from "node:path";
import type { WireEntry } from "../core/block-splice.ts";
import { encodeFrame, FrameType } from "../protocol/frame-codec.ts";
import { encodeMessage } from "../protocol/messages.ts";
import type { Runtime } from "../runtime/types.ts";
import { PackBlockStore } from "../store/pack-block-store.ts";
import { SqlMetaStore } from "../store/sql-meta-store.ts";
import type { Log } from "../core/log.ts";
import { Session } from "./session.ts";

export interface ServerOptions {
  host: string;
  port: number;
  dataDir: string;
  runtime: Runtime;
  log: Log;
}

export interface RunningServer {
  readonly port: number;
  readonly sessions: ReadonlySet<Session>;
  /** Bytes on the wire so far, for benchmarks: per connected session and in total since start. */
  traffic(): Traffic;
  close(): Promise<void>;
}

export interface Traffic {
  bytesIn: number;
  bytesOut: number;
  sessions: { clientId: string; bytesIn: number; bytesOut: number }[];
}

/** Opens the data dir, listens, and fans every commit out to all connected sessions. */
export async function startServer(opts: ServerOptions): Promise<RunningServer> {
  const dataDir = path.resolve(opts.dataDir);
  await fs.mkdir(dataDir, { recursive: true });
  const meta = new SqlMetaStore(opts.runtime.openDatabase(path.join(dataDir, "meta.db")));
  const blocksDir = path.join(dataDir, "blocks");
  await fs.mkdir(blocksDir, { recursive: true });
  const blocks = await PackBlockStore.open(blocksDir, opts.runtime.openDatabase(path.join(blocksDir, "index.db")));
  const sessions = new Set<Session>();
  // Traffic of sessions that already ended, so totals survive disconnects.
  const ended = { bytesIn: 0, bytesOut: 0 };

  const host = {
    meta,
    blocks,
    log: opts.log,
    published(from: number, head: number, entries: WireEntry[]) {
      // Encoded once, the same bytes go to every session.
      const frame = encodeFrame(FrameType.control, encodeMessage({ type: "changed", from, head, entries }));
      for (const s of sessions) if (s.ready) s.sendRaw(frame);
    },
    ended(session: Session) {
      ended.bytesIn += session.peer.bytesIn;
      ended.bytesOut += session.peer.bytesOut;
      if (sessions.delete(session) && session.ready) opts.log.info(`Client ${session.name} disconnected`);
    },
  };

  const listener = await opts.runtime.tcp.listen(opts.host, opts.port, (conn) => {
    const session = new Session(conn, host);
    sessions.add(session);
    return session.events;
  });

  return {
    port: listener.port,
    sessions,
    traffic() {
      const list = [...sessions].map((s) => ({ clientId: s.clientId, bytesIn: s.peer.bytesIn, bytesOut: s.peer.bytesOut }));
      return {
        bytesIn: list.reduce((n, s) => n + s.bytesIn, ended.bytesIn),
        bytesOut: list.reduce((n, s) => n + s.bytesOut, ended.bytesOut),
        sessions: list,
      };
    },
    async close() {
      listener.close();
      for (const s of sessions) s.peer.close();
      await blocks.close();
      meta.close();
    },
  };
}
