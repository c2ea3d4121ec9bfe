import { defineCommand } from "citty";
import * as path from "node:path";
import { startSyncClient } from "../client/sync-client.ts";
import { loadRuntime } from "../runtime/index.ts";
import { logArgs, onShutdown, setupLog } from "./log.ts";
import { parseDuration, parseServerAddress } from "./options.ts";

export default defineCommand({
  meta: { name: "sync", description: "Keep a local folder in sync with a dropsim server, both ways" },
  args: {
    dir: { type: "positional", description: "Folder to sync (created if missing)", required: true },
    server: { type: "string", description: "Server address host:port", default: "127.0.0.1:7070" },
    "rescan-interval": { type: "string", description: "Full rescan as a safety net for missed events", default: "1h" },
    ...logArgs,
  },
  async run({ args }) {
    const log = setupLog(args, "sync");
    const server = parseServerAddress(args.server);
    const root = path.resolve(args.dir);
    const runtime = await loadRuntime();
    const client = await startSyncClient({ root, server, runtime, log, rescanIntervalMs: parseDuration(args["rescan-interval"]) });
    log.success(`Syncing ${root} with ${server.host}:${server.port}`);
    onShutdown(() => client.close(), log);
  },
});
