import { defineCommand } from "citty";
import * as path from "node:path";
import type { DiskFloor } from "../client/context.ts";
import { startSyncClient } from "../client/sync-client.ts";
import { DropsimError } from "../core/errors.ts";
import { loadRuntime } from "../runtime/index.ts";
import { claimSyncFolder } from "./claim.ts";
import { logArgs, onShutdown, setupLog } from "./log.ts";
import { DEFAULT_MASS_DELETE_LIMIT } from "../core/mass-delete.ts";
import { parseCount, parseDuration, parseServerAddress } from "./options.ts";

export default defineCommand({
  meta: { name: "sync", description: "Keep a local folder in sync with a dropsim server, both ways" },
  args: {
    dir: { type: "positional", description: "Folder to sync (created if missing)", required: true },
    server: { type: "string", description: "Server address host:port", default: "127.0.0.1:7070" },
    share: { type: "string", description: "Name of the share on the server to sync" },
    token: { type: "string", description: "Token that lets this folder sync the share (or DROPSIM_TOKEN in the environment)" },
    "rescan-interval": { type: "string", description: "Full rescan as a safety net for missed events", default: "1h" },
    "allow-mass-delete": { type: "boolean", description: "Send a deletion of more than half of the folder without holding it", default: false },
    "confirm-deletes": { type: "boolean", description: "Send the mass deletion held by the last run (exactly that set; later ones are held again)", default: false },
    "mass-delete-limit": { type: "string", description: "Hold local deletions of more than this many paths (and over half the folder)", default: String(DEFAULT_MASS_DELETE_LIMIT) },
    "min-disk-free": { type: "string", description: "Free space downloads leave on the folder's disk: a percentage or a size (500MiB); 1% as Syncthing keeps", default: "1%" },
    ...logArgs,
  },
  async run({ args }) {
    const log = setupLog(args, "sync");
    const server = parseServerAddress(args.server);
    const root = path.resolve(args.dir);
    const runtime = await loadRuntime();
    const massDeleteLimit = args["allow-mass-delete"] ? Number.POSITIVE_INFINITY : parseCount(args["mass-delete-limit"]);
    const rescanIntervalMs = parseDuration(args["rescan-interval"]);
    const minDiskFree = parseDiskFloor(args["min-disk-free"]);
    // Not an option users need: tests shorten it to see a dead connection noticed in a second.
    const heartbeat = process.env.DROPSIM_HEARTBEAT;
    // 2.5 pings' worth of silence: a ping at 10 s and another at 20 s both went unanswered.
    const times = heartbeat ? { pingAfterMs: parseDuration(heartbeat), deadAfterMs: 2.5 * parseDuration(heartbeat) } : undefined;
    if (!claimSyncFolder(root, log)) return;
    const client = await startSyncClient({ root, server, share: args.share, token: args.token ?? process.env.DROPSIM_TOKEN, runtime, log, rescanIntervalMs, massDeleteLimit, minDiskFree, confirmDeletes: args["confirm-deletes"], heartbeat: times });
    log.success(`Syncing ${root} with ${server.host}:${server.port}`);
    onShutdown(() => client.close(), log);
  },
});

const SIZE_UNITS: Record<string, number> = { b: 1, kb: 1e3, mb: 1e6, gb: 1e9, tb: 1e12, kib: 2 ** 10, mib: 2 ** 20, gib: 2 ** 30, tib: 2 ** 40 };

/** "1%", "0.5%", "500MiB", "2GB" → the free space to keep. A bare number is refused: % or bytes? */
export function parseDiskFloor(value: string): DiskFloor {
  const m = /^(\d+(?:\.\d+)?)\s*(%|[kmgt]i?b|b)$/i.exec(value.trim());
  const n = Number(m?.[1]);
  const unit = m?.[2]!.toLowerCase();
  if (unit === "%" && n < 100) return { percent: n };
  if (unit !== undefined && unit !== "%") return { bytes: Math.round(n * SIZE_UNITS[unit]!) };
  throw new DropsimError("bad_message", `Invalid minimum free space "${value}": expected a percentage below 100 such as 1%, or a size such as 500MiB`);
}
