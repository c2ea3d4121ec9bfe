import { defineCommand } from "citty";
import * as fs from "node:fs";
import * as path from "node:path";
import type { DiskFloor } from "../client/context.ts";
import { type Credentials, formatAddress, type GivenCredentials, mergeCredentials, readCredentials, saveCredentials } from "../client/credentials.ts";
import { shellWord } from "../client/log-sink.ts";
import { startSyncClient } from "../client/sync-client.ts";
import type { SyncEvent } from "../client/events.ts";
import type { Log } from "../core/log.ts";
import { DropsimError, describeError } from "../core/errors.ts";
import { parseFingerprint } from "../core/fingerprint.ts";
import { parseJoinLink } from "../core/join-link.ts";
import { isLoopbackHost } from "../core/loopback.ts";
import { STATE_DIR } from "../core/wire-path.ts";
import { loadRuntime } from "../runtime/index.ts";
import { claimSyncFolder } from "./claim.ts";
import { logArgs, setLiveLine, setupLog } from "./log.ts";
import { onShutdown } from "./shutdown.ts";
import { ProgressDisplay } from "../client/progress-line.ts";
import { DEFAULT_MASS_DELETE_LIMIT } from "../core/mass-delete.ts";
import { parseCount, parseDuration, parseServerAddress } from "./options.ts";
import type { RateLimits } from "../core/rate.ts";
import { selectivePath } from "../core/ignore-rules.ts";
import { repeatedFlag } from "./exclude.ts";
import { parseRate } from "../core/rate.ts";

import { EXIT_IDENTITY, EXIT_REFUSED, EXIT_USAGE, exitCodeFor } from "./exit-codes.ts";

export default defineCommand({
  meta: {
    name: "sync",
    description: "Keep a local folder in sync with a dropsim server, both ways",
    examples: ["dropsim sync ~/Team --join 'dropsim://server:7070/team?token=…&fp=SHA256:…'", "dropsim sync ~/Team", "dropsim sync ~/Team --exclude videos --limit-up 1MiB", "DROPSIM_TOKEN=… dropsim sync ~/Team --server server:7070 --share team"],
  },
  args: {
    dir: { type: "positional", description: "Folder to sync (created if missing)", required: true },
    join: { type: "string", description: "Join link from the server's admin: dropsim://HOST:PORT/SHARE?token=…&fp=…" },
    server: { type: "string", description: "Server address host:port (default 127.0.0.1:7070, or what the folder saved)" },
    share: { type: "string", description: "Name of the share on the server to sync" },
    token: { type: "string", description: "Token that lets this folder sync the share (or DROPSIM_TOKEN in the environment)" },
    fingerprint: { type: "string", description: "The server certificate's SHA-256 fingerprint to insist on (else the first one seen is trusted)" },
    "accept-fingerprint": { type: "string", description: "Trust the server's new certificate, with this fingerprint, from now on" },
    insecure: { type: "boolean", description: "Plain TCP, without TLS: only to a loopback address", default: false },
    "rescan-interval": { type: "string", description: "Full rescan as a safety net for missed events", default: "1h" },
    "allow-mass-delete": { type: "boolean", description: "Send a deletion of more than half of the folder without holding it", default: false },
    "confirm-deletes": { type: "boolean", description: "Send the mass deletion held by the last run (exactly that set; later ones are held again)", default: false },
    "mass-delete-limit": { type: "string", description: "Hold local deletions of more than this many paths (and over half the folder)", default: String(DEFAULT_MASS_DELETE_LIMIT) },
    "min-disk-free": { type: "string", description: "Free space downloads leave on the folder's disk: a percentage or a size (500MiB); 1% as Syncthing keeps", default: "1%" },
    exclude: { type: "string", description: "Do not sync this file or folder here (relative to the synced folder; repeatable; kept until dropsim include)" },
    "limit-up": { type: "string", description: "Upload limit per second for this run: 1MiB, 500KiB, 2MB (a bare number is KiB, as rsync --bwlimit), or none" },
    "limit-down": { type: "string", description: "Download limit per second for this run, as --limit-up" },
    progress: { type: "boolean", description: "Show progress: a redrawn line on a terminal, else a summary line every --stats (--no-progress: neither)", default: true },
    stats: { type: "string", description: "How often to log a progress summary when stderr is not a terminal", default: "1m" },
    ...logArgs,
  },
  async run({ args, rawArgs }) {
    const log = setupLog(args, "sync");
    const root = path.resolve(args.dir);
    const refuse = (line: string) => {
      log.error(line);
      process.exitCode = EXIT_USAGE;
    };
    let given: GivenCredentials;
    try {
      given = _givenCredentials(args);
    } catch (e) {
      if (e instanceof DropsimError) return refuse(e.message);
      throw e;
    }
    const runtime = await loadRuntime();
    const massDeleteLimit = args["allow-mass-delete"] ? Number.POSITIVE_INFINITY : parseCount(args["mass-delete-limit"]);
    const rescanIntervalMs = parseDuration(args["rescan-interval"]);
    const minDiskFree = parseDiskFloor(args["min-disk-free"]);
    const exclude = repeatedFlag(rawArgs, "exclude").map(selectivePath);
    const limits: Partial<RateLimits> = {};
    if (args["limit-up"] !== undefined) limits.up = parseRate(args["limit-up"]);
    if (args["limit-down"] !== undefined) limits.down = parseRate(args["limit-down"]);
    // Not an option users need: tests shorten it to see a dead connection noticed in a second.
    const heartbeat = process.env.DROPSIM_HEARTBEAT;
    // 2.5 pings' worth of silence: a ping at 10 s and another at 20 s both went unanswered.
    const times = heartbeat ? { pingAfterMs: parseDuration(heartbeat), deadAfterMs: 2.5 * parseDuration(heartbeat) } : undefined;
    // Likewise: tests shorten the 10 s a silent server gets to answer the hello.
    const handshake = process.env.DROPSIM_HANDSHAKE_TIMEOUT;
    if (!claimSyncFolder(root, log)) return;
    const stateDir = path.join(root, STATE_DIR);
    const saved = await readCredentials(stateDir);
    const merged = mergeCredentials(saved, given);
    if (!merged) return refuse(_notJoinedLine(root, stateDir));
    let credentials: Credentials = merged;
    const { server } = credentials;
    if (credentials.insecure && !isLoopbackHost(server.host)) {
      return refuse(`Cannot sync with ${formatAddress(server)} over plain TCP: --insecure is allowed only to a loopback address such as 127.0.0.1`);
    }
    await saveCredentials(stateDir, credentials, runtime.syncDir);
    // TLS unless --insecure (loopback only): the certificate is checked against the pin, or
    // pinned on first use when the folder knows none yet.
    const tls = !credentials.insecure;
    const client = await startSyncClient({
      root,
      server,
      tls,
      share: credentials.share,
      token: credentials.token,
      fingerprint: credentials.fingerprint,
      joined: (welcome, fingerprint) => {
        const learned = { ...credentials, share: credentials.share ?? welcome.share, fingerprint: credentials.fingerprint ?? fingerprint };
        if (learned.share === credentials.share && learned.fingerprint === credentials.fingerprint) return;
        credentials = learned;
        saveCredentials(stateDir, learned, runtime.syncDir).catch((e) => log.warn(`Cannot save what this folder joined in ${stateDir}: ${describeError(e)}`));
      },
      runtime,
      log,
      rescanIntervalMs,
      massDeleteLimit,
      minDiskFree,
      confirmDeletes: args["confirm-deletes"],
      exclude,
      limits,
      heartbeat: times,
      handshakeMs: handshake ? parseDuration(handshake) : undefined,
    });
    log.success(`Syncing ${root} with ${server.host}:${server.port}${tls ? " over TLS" : ""}`);
    const progress = _showProgress(args, client, log);
    onShutdown(() => {
      progress?.close();
      return client.close();
    }, log);
    void client.stopped.then(async (e) => {
      await client.close();
      // A client stops only on what needs the user: another server identity, else a refused token.
      process.exit(exitCodeFor(e) === EXIT_IDENTITY ? EXIT_IDENTITY : EXIT_REFUSED);
    });
  },
});

/** The progress line on a terminal (stderr), or summary lines off one; undefined with --no-progress or --quiet (as rclone's -q). */
function _showProgress(args: { progress: boolean; stats: string; quiet?: boolean }, client: { events(l: (e: SyncEvent) => void): () => void }, log: Log): ProgressDisplay | undefined {
  if (!args.progress || args.quiet) return undefined;
  const tty = process.stderr.isTTY === true;
  const display = new ProgressDisplay({ tty, write: (t) => process.stderr.write(t), columns: () => process.stderr.columns || 80, log }, parseDuration(args.stats));
  client.events(display.onEvent);
  if (tty) setLiveLine(display);
  return display;
}

/** How a folder with no token joins: one line, for a folder new to dropsim or one an older dropsim synced. */
function _notJoinedLine(root: string, stateDir: string): string {
  if (fs.existsSync(path.join(stateDir, "state.db"))) {
    return `This folder was synced by an older dropsim: join it with dropsim sync ${shellWord(root)} --join LINK (ask the server's admin for a token of the share default); nothing in it changes until then`;
  }
  return `Cannot sync ${root}: it has not joined a share; ask the server's admin for a join link and run dropsim sync ${shellWord(root)} --join LINK`;
}

/**
 * The flags (DROPSIM_TOKEN is --token's, cli/config.ts) as credentials; throws a one-sentence
 * DropsimError for a bad link or fingerprint. A join link given as --server joins with it.
 */
function _givenCredentials(args: { join?: string; server?: string; share?: string; token?: string; fingerprint?: string; "accept-fingerprint"?: string; insecure: boolean }): GivenCredentials {
  const pin = args["accept-fingerprint"] ?? args.fingerprint;
  const given: GivenCredentials = { insecure: args.insecure };
  const serverIsLink = args.join === undefined && args.server?.trim().toLowerCase().startsWith("dropsim://") === true;
  const join = serverIsLink ? args.server : args.join;
  if (join !== undefined) given.join = parseJoinLink(join);
  if (args.server !== undefined && !serverIsLink) given.server = parseServerAddress(args.server);
  if (args.share !== undefined) given.share = args.share;
  if (args.token !== undefined && args.token !== "") given.token = args.token;
  if (pin !== undefined) given.fingerprint = parseFingerprint(pin);
  return given;
}

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
