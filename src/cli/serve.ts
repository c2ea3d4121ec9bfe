import { defineCommand } from "citty";
import * as path from "node:path";
import { DropsimError } from "../core/errors.ts";
import { isLoopbackHost } from "../core/loopback.ts";
import { loadRuntime } from "../runtime/index.ts";
import { openFileLimit } from "../runtime/open-files.ts";
import { DEFAULT_LIMITS } from "../server/admission.ts";
import { dataDirIdentity, fileIdentity, type ServerIdentity } from "../server/identity.ts";
import { startServer } from "../server/server.ts";
import { serveServerControl } from "./server-control.ts";
import { MEMORY_LOCATION } from "../store/open.ts";
import { claimDataDir } from "./claim.ts";
import { logArgs, setupLog } from "./log.ts";
import { onShutdown } from "./shutdown.ts";
import { parseCount, parseDuration, parsePort, parseServerAddress } from "./options.ts";

/**
 * HOST:PORT with the port required (the default port of a server address is the sync port's);
 * a port alone is on loopback, so metrics are never exposed by accident.
 */
function parseHttpAddress(value: string): { host: string; port: number } {
  const portAlone = /^:?(\d+)$/.exec(value.trim());
  if (portAlone) return { host: "127.0.0.1", port: parsePort(portAlone[1]!) };
  if (!/:\d+$/.test(value.trim())) throw new DropsimError("bad_message", `Invalid --http address "${value}": expected HOST:PORT or a port alone (on 127.0.0.1), e.g. 127.0.0.1:9090`);
  return parseServerAddress(value);
}

type Address = { host: string; port: number };

const _shown = (a: Address) => `${a.host.includes(":") ? `[${a.host}]` : a.host}:${a.port}`;

/** A listener that cannot start, as one sentence that says what to do; any other error as it is. */
function _listenFailure(e: unknown, sync: Address, http: Address | undefined): unknown {
  const err = e as NodeJS.ErrnoException & { port?: unknown };
  if (err?.code !== "EADDRINUSE" && err?.code !== "EACCES") return e;
  // Node names the port that failed; Bun's HTTP listener says "Failed to start server", its TCP one not.
  const httpFailed = http !== undefined && (typeof err.port === "number" ? err.port === http.port : /failed to start server/i.test(err.message));
  const where = httpFailed ? http! : sync;
  const why = err.code === "EADDRINUSE" ? `the address is in use (another dropsim serve? try ${httpFailed ? "--http HOST:0" : "--port 0"})` : "permission denied (ports below 1024 need privileges: choose a higher port)";
  return new DropsimError("io", `Cannot listen on ${_shown(where)}: ${why}`);
}

interface TlsArgs {
  host: string;
  insecure: boolean;
  "tls-cert"?: string;
  "tls-key"?: string;
}

/** Why these flags cannot be served, in one sentence, checked before anything is opened; undefined when they can. */
function _tlsArgsProblem(args: TlsArgs): string | undefined {
  if ((args["tls-cert"] === undefined) !== (args["tls-key"] === undefined)) return "Cannot serve a certificate without its key: give both --tls-cert FILE and --tls-key FILE";
  if (args.insecure && args["tls-cert"] !== undefined) return "Cannot serve both plain TCP (--insecure) and TLS (--tls-cert): choose one";
  if (args.insecure && !isLoopbackHost(args.host)) return `Cannot serve plain TCP on ${args.host}: --insecure is allowed only on a loopback address such as 127.0.0.1`;
  return undefined;
}

/** The certificate given, or the data dir's own (made on first start); none for plain TCP. */
async function _identity(args: TlsArgs, location: string): Promise<ServerIdentity | undefined> {
  if (args.insecure) return undefined;
  if (args["tls-cert"] !== undefined && args["tls-key"] !== undefined) return fileIdentity(args["tls-cert"], args["tls-key"]);
  return dataDirIdentity(location);
}

export default defineCommand({
  meta: {
    name: "serve",
    description: "Hold the shared folder and its history; clients sync with it",
    examples: ["dropsim serve", "dropsim serve --host 0.0.0.0 --port 7070 --data /var/lib/dropsim", "dropsim serve --port 0 --http 127.0.0.1:7071", "DROPSIM_DATA=/srv/dropsim dropsim serve -q"],
  },
  args: {
    host: { type: "string", description: "Address to listen on", default: "127.0.0.1" },
    port: { type: "string", description: "TCP port (0 picks a free one)", default: "7070" },
    data: { type: "string", description: `Where the journal and blocks are kept: a folder, or ${MEMORY_LOCATION} to keep them in memory only (tests)`, default: "./dropsim-data" },
    http: { type: "string", description: "Serve /metrics (Prometheus) and /healthz over HTTP at HOST:PORT, or PORT on 127.0.0.1 (port 0 picks a free one)" },
    "max-pending-per-ip": { type: "string", description: "Connections from one IP that may wait to authenticate at once", default: String(DEFAULT_LIMITS.maxPendingPerIp) },
    "max-pending": { type: "string", description: "Connections that may wait to authenticate at once, in all", default: String(DEFAULT_LIMITS.maxPending) },
    insecure: { type: "boolean", description: "Plain TCP, without TLS: only on a loopback address (TLS 1.3 is the default, with the data dir's own certificate, made on first start)", default: false },
    "tls-cert": { type: "string", description: "Serve TLS 1.3 with this certificate (PEM, with its chain) instead of the data dir's own" },
    "tls-key": { type: "string", description: "The private key (PEM) of --tls-cert" },
    "gc-every": { type: "string", description: "Collect garbage (drop history past each share's --keep-days, reclaim unused blocks) this often; 0 never", default: "24h" },
    ...logArgs,
  },
  async run({ args }) {
    const log = setupLog(args, "server");
    const http = args.http === undefined ? undefined : parseHttpAddress(args.http);
    const problem = _tlsArgsProblem(args);
    if (problem) {
      log.error(problem);
      process.exitCode = 2;
      return;
    }
    const location = args.data === MEMORY_LOCATION ? MEMORY_LOCATION : path.resolve(args.data);
    if (location !== MEMORY_LOCATION && !claimDataDir(location, log)) return;
    const runtime = await loadRuntime();
    const limits = { ...DEFAULT_LIMITS, maxPendingPerIp: parseCount(args["max-pending-per-ip"]), maxPending: parseCount(args["max-pending"]) };
    const gcEvery = parseDuration(args["gc-every"]);
    let tls: ServerIdentity | undefined;
    try {
      tls = await _identity(args, location);
    } catch (e) {
      if (!(e instanceof DropsimError)) throw e;
      log.error(e.message);
      process.exitCode = 2;
      return;
    }
    const port = parsePort(args.port);
    const server = await startServer({ host: args.host, port, location, runtime, log, http, limits, tls, gcEvery, openFiles: openFileLimit() }).catch((e: unknown) => {
      throw _listenFailure(e, { host: args.host, port }, http);
    });
    log.success(`dropsim server listening on ${args.host}:${server.port}${tls ? " over TLS" : ""}, data in ${location}`);
    if (tls) log.info(`Fingerprint: ${tls.fingerprint}`);
    if (http) log.info(`Metrics at http://${http.host.includes(":") ? `[${http.host}]` : http.host}:${server.httpPort}/metrics`);
    // `dropsim status --data` asks here; a server in memory has no data dir to hold the socket.
    const control = location === MEMORY_LOCATION ? undefined : await serveServerControl(location, () => server.status());
    onShutdown(async () => {
      await control?.close();
      await server.close();
    }, log);
  },
});
