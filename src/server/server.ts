import type { Log } from "../core/log.ts";
import type { Listener, Runtime } from "../runtime/types.ts";
import { mintToken } from "../core/access-token.ts";
import { DEFAULT_KEEP_DAYS } from "../core/retention.ts";
import { DEFAULT_SHARE } from "../store/data-dir.ts";
import { MEMORY_LOCATION, openAccessStore, openStores } from "../store/open.ts";
import { ACCESS_POLL_MS, AccessWatch } from "./access-watch.ts";
import { Admission, type AdmissionLimits, DEFAULT_LIMITS } from "./admission.ts";
import { DEFAULT_GRACE_MS, GarbageCollector, type GcShare } from "./gc.ts";
import { type ServerIdentity, tlsServe } from "./identity.ts";
import { type MetricsEndpoint, serveMetrics } from "./metrics-http.ts";
import { ServerMetrics } from "./server-metrics.ts";
import { describeServer, type ServerStatus, type SessionOrigins } from "./control-server.ts";
import { Session } from "./session.ts";
import { ShareRegistry } from "./share-registry.ts";

/** Timers take a signed 32-bit delay (about 24.8 days); a longer one would fire at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;
/**
 * Descriptors kept back from connections: stdio, the event loop's own, SQLite files (three per
 * share and access.db), open packs, the data dir's lock, the control socket and /metrics with
 * their connections, a log file, GC's temporary files.
 */
export const FILES_KEPT_BACK = 128;
/** Said at start when the open-file limit allows fewer connections than this. */
const FEW_CONNECTIONS = 1000;
export const RAISE_OPEN_FILES =
  "raise the open-file limit: `ulimit -n 65536` in the shell that starts dropsim serve (up to `ulimit -Hn`; a higher hard limit needs root or /etc/security/limits.conf), or LimitNOFILE=65536 in its systemd unit";

export interface ServerOptions {
  host: string;
  port: number;
  /** A data dir's path, or `memory:` (store/open.ts). */
  location: string;
  runtime: Runtime;
  log: Log;
  /** Where to serve `/metrics` and `/healthz` over HTTP; nowhere when absent. */
  http?: { host: string; port: number };
  /** Bounds on connections that have not authenticated; the issue's defaults when absent. */
  limits?: AdmissionLimits;
  /**
   * The process's open-file limit (runtime/open-files.ts), when known: connections beyond it
   * less FILES_KEPT_BACK are told `busy`, and the log says how to raise it.
   */
  openFiles?: number;
  /** Serve TLS 1.3 only, as this identity (identity.ts); plain TCP when absent (`serve --insecure`). */
  tls?: ServerIdentity;
  /** Ms between garbage collections the server runs by itself (the first one interval after start); none when absent or 0. */
  gcEvery?: number;
}

export interface RunningServer {
  readonly port: number;
  /** The port of `/metrics`, when `http` was given. */
  readonly httpPort: number | undefined;
  /** Shares, journal heads and connected clients, for `dropsim status --data`. */
  status(): Promise<ServerStatus>;
  close(): Promise<void>;
}

/** Opens the stores, listens, and serves metrics. Commits reach other sessions through the stores' journal feed. */
export async function startServer(opts: ServerOptions): Promise<RunningServer> {
  const stores = await openStores(opts.location, opts.runtime);
  const access = await openAccessStore(opts.location, opts.runtime);
  const shares = new ShareRegistry(stores);
  const metrics = new ServerMetrics();
  const sessions = new Set<Session>();
  const gcShares = () => shares.names().flatMap((name): GcShare[] => {
    const share = shares.get(name);
    return share ? [share] : [];
  });
  const gc = new GarbageCollector(gcShares, (name) => access.share(name)?.keepDays ?? DEFAULT_KEEP_DAYS, opts.log, (r, s) => metrics.gcRan(r, s));
  const watch = new AccessWatch(access, shares, () => sessions, metrics, opts.log, gc);
  let poll: ReturnType<typeof setInterval> | undefined;
  let gcTimer: ReturnType<typeof setInterval> | undefined;
  let listener: Listener | undefined;
  let endpoint: MetricsEndpoint | undefined;
  const origins: SessionOrigins = new WeakMap();
  try {
    await watch.openShares();
    const admission = new Admission(admissionLimits(opts));
    const atFileLimit = fileLimitWarning(admission, opts.openFiles, opts.log);
    poll = setInterval(() => {
      const now = Date.now();
      admission.prune(now);
      watch.tick(now).catch((e) => opts.log.error("Cannot follow access.db:", e));
    }, ACCESS_POLL_MS);
    watch.takeGcRequests();
    if (opts.gcEvery) {
      // A run still going when the next is due makes that one unnecessary: skip it.
      gcTimer = setInterval(() => {
        if (!gc.busy) gc.run({ grace: DEFAULT_GRACE_MS, dryRun: false }).catch((e) => opts.log.error("Garbage collection failed:", e));
      }, Math.min(opts.gcEvery, MAX_TIMER_MS));
    }
    const host = {
      shares,
      access,
      admission,
      metrics,
      log: opts.log,
      used: (tokenId: string, now: number) => watch.used(tokenId, now),
      ended(session: Session) {
        if (sessions.delete(session) && session.principal) opts.log.info(`Client ${session.name} disconnected`);
      },
    };
    listener = await opts.runtime.tcp.listen(opts.host, opts.port, (conn) => {
      atFileLimit();
      const session = new Session(conn, host);
      origins.set(session, { remote: conn.remote, at: Date.now() });
      sessions.add(session);
      return session.events;
    }, opts.tls && tlsServe(opts.tls));
    endpoint = opts.http ? await serveMetrics(opts.http.host, opts.http.port, () => metrics.render()) : undefined;
    const address = `${opts.host.includes(":") ? `[${opts.host}]` : opts.host}:${listener.port}`;
    access.setListening({ address, fingerprint: opts.tls?.fingerprint ?? null });
    // Nothing else can make a token for a server that keeps everything in memory.
    if (opts.location === MEMORY_LOCATION) {
      const t = mintToken();
      access.addToken({ id: t.id, secretHash: t.secretHash, share: DEFAULT_SHARE, scope: "read_write", label: "memory", expires: null }, Date.now());
      opts.log.info(`Token for share "${DEFAULT_SHARE}": ${t.token}`);
    }
    const max = admission.limits.maxConnections;
    if (max < FEW_CONNECTIONS) opts.log.warn(`The open-file limit (${opts.openFiles}) lets this server hold ${max} connections at most: to serve more, ${RAISE_OPEN_FILES}`);
    return { port: listener.port, httpPort: endpoint?.port, status: () => describeServer(address, shares, sessions, origins), close };
  } catch (e) {
    await close();
    throw e;
  }

  async function close(): Promise<void> {
    listener?.close();
    await endpoint?.close();
    clearInterval(poll);
    clearInterval(gcTimer);
    // Before the stores close: a session's last blocks are made durable as it stops.
    await Promise.all([...sessions].map((s) => s.stop()));
    watch.stop();
    await gc.stop();
    await stores.close();
    access.close();
  }
}

function admissionLimits(opts: ServerOptions): AdmissionLimits {
  const limits = opts.limits ?? DEFAULT_LIMITS;
  if (opts.openFiles === undefined) return limits;
  return { ...limits, maxConnections: Math.min(limits.maxConnections, Math.max(1, opts.openFiles - FILES_KEPT_BACK)) };
}

/**
 * Called as each connection arrives: the first one refused for want of file descriptors is
 * logged with how to raise the limit, and again only once the server has been well below it.
 */
function fileLimitWarning(admission: Admission, openFiles: number | undefined, log: Log): () => void {
  let warned = false;
  const max = admission.limits.maxConnections;
  return () => {
    if (warned) {
      if (admission.connectionCount < max * 0.9) warned = false;
      return;
    }
    if (!admission.full) return;
    warned = true;
    log.warn(`Cannot take more connections: ${admission.connectionCount} are open, as many as the open-file limit (${openFiles}) allows; more are told busy. To serve more, ${RAISE_OPEN_FILES}`);
  };
}
