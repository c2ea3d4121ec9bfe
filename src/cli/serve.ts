import { defineCommand } from "citty";
import * as path from "node:path";
import { loadRuntime } from "../runtime/index.ts";
import { startServer } from "../server/server.ts";
import { logArgs, onShutdown, setupLog } from "./log.ts";
import { parsePort } from "./options.ts";

export default defineCommand({
  meta: { name: "serve", description: "Hold the shared folder and its history; clients sync with it" },
  args: {
    host: { type: "string", description: "Address to listen on", default: "127.0.0.1" },
    port: { type: "string", description: "TCP port (0 picks a free one)", default: "7070" },
    data: { type: "string", description: "Where the journal and blocks are kept", default: "./dropsim-data" },
    ...logArgs,
  },
  async run({ args }) {
    const log = setupLog(args, "server");
    const runtime = await loadRuntime();
    const dataDir = path.resolve(args.data);
    const server = await startServer({ host: args.host, port: parsePort(args.port), dataDir, runtime, log });
    log.success(`dropsim server listening on ${args.host}:${server.port}, data in ${dataDir}`);
    onShutdown(() => server.close(), log);
  },
});
