import { defineCommand } from "citty";
import * as path from "node:path";
import { DropsimError } from "../core/errors.ts";
import { loadRuntime } from "../runtime/index.ts";
import { DEFAULT_LIMITS } from "../server/admission.ts";
import { startServer } from "../server/server.ts";
import { MEMORY_LOCATION } from "../store/open.ts";
import { claimDataDir } from "./claim.ts";
import { logArgs, onShutdown, setupLog } from "./log.ts";
import { parseCount, parsePort, parseServerAddress } from "./options.ts";

/** HOST:PORT with the port required: the default port of a server address is the sync port's. */
function parseHttpAddress(value: string): { host: string; port: number } {
  if (!/:\d+$/.test(value.trim())) throw new DropsimError("bad_message", `Invalid --http address "${value}": expected HOST:PORT, e.g. 127.0.0.1:9090`);
  return parseServerAddress(value);
}

export default defineCommand({
  meta: { name: "serve", description: "Hold the shared folder and its history; clients sync with it" },
  args: {
    host: { type: "string", description: "Address to listen on", default: "127.0.0.1" },
    port: { type: "string", description: "TCP port (0 picks a free one)", default: "7070" },
    data: { type: "string", description: `Where the journal and blocks are kept: a folder, or ${MEMORY_LOCATION} to keep them in memory only (tests)`, default: "./dropsim-data" },
    http: { type: "string", description: "Serve /metrics (Prometheus) and /healthz over HTTP at HOST:PORT (port 0 picks a free one)" },
    "max-pending-per-ip": { type: "string", description: "Connections from one IP that may wait to authenticate at once", default: String(DEFAULT_LIMITS.maxPendingPerIp) },
    "max-pending": { type: "string", description: "Connections that may wait to authenticate at once, in all", default: String(DEFAULT_LIMITS.maxPending) },
    ...logArgs,
  },
  async run({ args }) {
    const log = setupLog(args, "server");
    const http = args.http === undefined ? undefined : parseHttpAddress(args.http);
    const location = args.data === MEMORY_LOCATION ? MEMORY_LOCATION : path.resolve(args.data);
    if (location !== MEMORY_LOCATION && !claimDataDir(location, log)) return;
    const runtime = await loadRuntime();
    const limits = { ...DEFAULT_LIMITS, maxPendingPerIp: parseCount(args["max-pending-per-ip"]), maxPending: parseCount(args["max-pending"]) };
    const server = await startServer({ host: args.host, port: parsePort(args.port), location, runtime, log, http, limits });
    log.success(`dropsim server listening on ${args.host}:${server.port}, data in ${location}`);
    if (http) log.info(`Metrics at http://${http.host.includes(":") ? `[${http.host}]` : http.host}:${server.httpPort}/metrics`);
    onShutdown(() => server.close(), log);
  },
});
