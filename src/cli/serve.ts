import { defineCommand } from "citty";
import * as path from "node:path";
import { loadRuntime } from "../runtime/index.ts";
import { startServer } from "../server/server.ts";
import { claimDataDir } from "./claim.ts";
import { logArgs, onShutdown, setupLog } from "./log.ts";
import { parsePort } from "./options.ts";
import { writeFileAtomic } from "../fsutil/atomic-write.ts";

/** Rewrites `file` whenever the figures change; returns a final flush. */
function startStatsFile(file: string, read: () => unknown): () => Promise<void> {
  const target = path.resolve(file);
  let last = "";
  const flush = async () => {
    const text = JSON.stringify(read());
    if (text === last) return;
    last = text;
    await writeFileAtomic(target, path.dirname(target), new TextEncoder().encode(text));
  };
  setInterval(() => void flush(), 100).unref();
  return flush;
}

export default defineCommand({
  meta: { name: "serve", description: "Hold the shared folder and its history; clients sync with it" },
  args: {
    host: { type: "string", description: "Address to listen on", default: "127.0.0.1" },
    port: { type: "string", description: "TCP port (0 picks a free one)", default: "7070" },
    data: { type: "string", description: "Where the journal and blocks are kept", default: "./dropsim-data" },
    "stats-file": { type: "string", description: "Keep a JSON file of bytes on the wire per session up to date (for benchmarks)" },
    ...logArgs,
  },
  async run({ args }) {
    const log = setupLog(args, "server");
    const dataDir = path.resolve(args.data);
    if (!claimDataDir(dataDir, log)) return;
    const runtime = await loadRuntime();
    const server = await startServer({ host: args.host, port: parsePort(args.port), dataDir, runtime, log });
    log.success(`dropsim server listening on ${args.host}:${server.port}, data in ${dataDir}`);
    const statsFile = args["stats-file"];
    const writeStats = statsFile ? startStatsFile(statsFile, () => server.traffic()) : undefined;
    onShutdown(async () => {
      await writeStats?.();
      await server.close();
    }, log);
  },
});
