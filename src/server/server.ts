import type { Log } from "../core/log.ts";
import type { Listener, Runtime } from "../runtime/types.ts";
import { openStores } from "../store/open.ts";
import { type MetricsEndpoint, serveMetrics } from "./metrics-http.ts";
import { ServerMetrics } from "./server-metrics.ts";
import { Session } from "./session.ts";
import { ShareRegistry } from "./share-registry.ts";

export interface ServerOptions {
  host: string;
  port: number;
  /** A data dir's path, or `memory:` (store/open.ts). */
  location: string;
  runtime: Runtime;
  log: Log;
  /** Where to serve `/metrics` and `/healthz` over HTTP; nowhere when absent. */
  http?: { host: string; port: number };
}

export interface RunningServer {
  readonly port: number;
  /** The port of `/metrics`, when `http` was given. */
  readonly httpPort: number | undefined;
  close(): Promise<void>;
}

/** Opens the stores, listens, and serves metrics. Commits reach other sessions through the stores' journal feed. */
export async function startServer(opts: ServerOptions): Promise<RunningServer> {
  const stores = await openStores(opts.location, opts.runtime);
  const shares = new ShareRegistry(stores);
  const metrics = new ServerMetrics();
  const stops: (() => void)[] = [];
  const sessions = new Set<Session>();
  let listener: Listener | undefined;
  let endpoint: MetricsEndpoint | undefined;
  try {
    for (const name of shares.names()) stops.push(await metrics.followJournal(shares.get(name)!));
    const host = {
      shares,
      metrics,
      log: opts.log,
      ended(session: Session) {
        if (sessions.delete(session) && session.principal) opts.log.info(`Client ${session.name} disconnected`);
      },
    };
    listener = await opts.runtime.tcp.listen(opts.host, opts.port, (conn) => {
      const session = new Session(conn, host);
      sessions.add(session);
      return session.events;
    });
    endpoint = opts.http ? await serveMetrics(opts.http.host, opts.http.port, () => metrics.render()) : undefined;
    return { port: listener.port, httpPort: endpoint?.port, close };
  } catch (e) {
    await close();
    throw e;
  }

  async function close(): Promise<void> {
    listener?.close();
    await endpoint?.close();
    for (const s of sessions) s.peer.close();
    for (const stop of stops) stop();
    await stores.close();
  }
}
