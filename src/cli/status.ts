import { defineCommand } from "citty";
import * as fs from "node:fs";
import * as path from "node:path";
import { sendControl } from "../client/control-client.ts";
import type { ControlReply } from "../client/control.ts";
import { LocalIndex } from "../client/local-index.ts";
import { shellWord } from "../client/log-sink.ts";
import { findSyncedFolder } from "../client/one-shot.ts";
import type { StatusSnapshot } from "../client/status.ts";
import { LAST_SYNC_META } from "../client/sync-client.ts";
import { DropsimError } from "../core/errors.ts";
import { formatBytes, formatCount, formatDuration } from "../core/units.ts";
import { STATE_DIR } from "../core/wire-path.ts";
import { loadRuntime } from "../runtime/index.ts";
import type { ServerStatus } from "../server/control-server.ts";
import { openStores } from "../store/open.ts";
import { table } from "./admin.ts";
import { type ConflictCopy, findConflictCopies } from "./conflicts.ts";
import { clientLabel, localTime, sayingRefusals } from "./journal-view.ts";
import { logArgs, setupLog } from "./log.ts";
import { parseDuration } from "./options.ts";
import { askServerStatus } from "./server-control.ts";

/** `status` exit codes (design: the same numbers for every command). */
export const EXIT_IN_SYNC = 0;
export const EXIT_SYNCING = 1;
export const EXIT_NEEDS_USER = 3;

/** A conflict as status shows it: the copy found in the folder, and which side made it when the client saw it happen. */
export type StatusConflict = ConflictCopy & { side?: "local" | "remote" };

/** What `status` knows of a folder: from its running client, or from state.db when none runs. */
export type FolderView =
  | { running: true; folder: string; status: StatusSnapshot; conflicts: StatusConflict[]; inSync?: boolean }
  | { running: false; folder: string; files: number; cursor: number; lastSync?: number; conflicts: StatusConflict[] };

export default defineCommand({
  meta: {
    name: "status",
    description: "Say whether a synced folder and its server agree, and if not why; with --data and no DIR, what a server is doing",
    examples: ["dropsim status", "dropsim status ~/Team --json", "dropsim status ~/Team --wait --timeout 5m && echo in sync", "dropsim status --data /var/lib/dropsim"],
  },
  args: {
    dir: { type: "positional", description: "The synced folder, or a folder inside it (default: the folder you are in)", required: false },
    data: { type: "string", description: "Without DIR: show the server of this data dir (shares, connected clients, journal heads)" },
    json: { type: "boolean", description: "Print one JSON object: the client's status plus running, folder and exit", default: false },
    wait: { type: "boolean", description: "Look at the folder now, then wait until the folder and the server agree (or --timeout passes)", default: false },
    timeout: { type: "string", description: "How long --wait waits", default: "60s" },
    ...logArgs,
  },
  async run({ args }) {
    const log = setupLog(args, "status");
    return sayingRefusals(log, async () => {
      // A DIR wins over --data, which may come from DROPSIM_DATA set for the server.
      if (args.data !== undefined && args.dir === undefined) {
        if (args.wait) throw new DropsimError("bad_message", "Cannot wait for a server: --wait waits for a synced folder (give its DIR)");
        process.exitCode = await _serverStatus(path.resolve(args.data), args.json);
        return;
      }
      const timeoutMs = args.wait ? parseDuration(args.timeout) : undefined;
      const { root } = await findSyncedFolder(path.resolve(args.dir ?? "."));
      const view = await readFolderView(root, timeoutMs);
      const exit = folderExit(view);
      if (args.json) console.log(JSON.stringify(_folderJson(view, exit)));
      else console.log(renderFolder(view, Date.now()).join("\n"));
      process.exitCode = exit;
    });
  },
});

/** Asks the folder's client (after a flush of `waitMs` when given), or reads state.db when none runs. */
export async function readFolderView(root: string, waitMs?: number): Promise<FolderView> {
  const reply = await sendControl(root, waitMs === undefined ? { cmd: "status" } : { cmd: "flush", timeoutMs: waitMs });
  const copies = await findConflictCopies(root);
  if (reply === undefined) return { running: false, folder: root, ...(await _stateDbView(root)), conflicts: copies };
  const { status, inSync } = _ok(reply);
  const sides = new Map(status.conflicts.map((c) => [c.copy, c.side]));
  const conflicts = copies.map((c) => ({ ...c, side: sides.get(c.copy) }));
  return { running: true, folder: root, status, conflicts, inSync };
}

/**
 * 3 when something needs the user (conflicted copies in the folder, entries that cannot sync,
 * changes a read-only share will not take, a full disk, held deletions); else 0 when the
 * folder and the server agree (for --wait: agreed after the look it asked for), 1 otherwise,
 * a client not running included.
 */
export function folderExit(view: FolderView): number {
  if (view.conflicts.length > 0) return EXIT_NEEDS_USER;
  if (!view.running) return EXIT_SYNCING;
  const s = view.status;
  if (s.problems.length > 0 || s.notUploaded.length > 0 || s.waitingForSpace.length > 0 || s.heldDeletions > 0) return EXIT_NEEDS_USER;
  return (view.inSync ?? s.upToDate) ? EXIT_IN_SYNC : EXIT_SYNCING;
}

/** The lines `dropsim status` prints for a folder, `now` being when. */
export function renderFolder(view: FolderView, now: number): string[] {
  const lines = [`Folder:     ${view.folder}`];
  const when = (ms: number) => `${localTime(ms)} (${formatDuration(now - ms)} ago)`;
  if (!view.running) {
    lines.push(
      `Client:     not running (start it with dropsim sync ${shellWord(view.folder)}); what its last run left:`,
      `Synced:     ${formatCount(view.files)} ${view.files === 1 ? "entry" : "entries"}`,
      `Last sync:  ${view.lastSync === undefined ? "never" : when(view.lastSync)}`,
    );
    return [...lines, ..._conflictLines(view.conflicts)];
  }
  const s = view.status;
  const server = s.server ?? "the server";
  if (s.connected) lines.push(`Client:     running, connected to ${server}${s.since === undefined ? "" : ` since ${when(s.since)}`}`);
  else if (s.since === undefined) lines.push(`Client:     running, not connected to ${server} yet`);
  else lines.push(`Client:     running, not connected to ${server} since ${when(s.since)}${s.whyNot ? `: ${s.whyNot}` : ""}`);
  if (s.paused) lines.push(`Paused:     nothing syncs until dropsim resume ${shellWord(view.folder)}`);
  lines.push(`State:      ${_stateText(view)}`);
  if (s.transfer) {
    const t = s.transfer;
    const pct = t.bytes > 0 ? ` (${Math.floor((100 * t.done) / t.bytes)} %)` : "";
    lines.push(`Transfer:   ${t.direction === "upload" ? "uploading" : "downloading"} ${t.path}: ${formatBytes(t.done)} of ${formatBytes(t.bytes)}${pct}`);
  }
  lines.push(`Last sync:  ${s.lastSync === undefined ? "not yet" : when(s.lastSync)}`);
  lines.push(..._conflictLines(view.conflicts));
  lines.push(..._listLines("Cannot sync", s.problems.map((p) => `${p.path}: ${p.reason}`)));
  lines.push(..._listLines("Not uploaded", s.notUploaded.map((p) => `${p.path}: ${p.reason}`)));
  lines.push(..._listLines("Waiting for free disk space", s.waitingForSpace));
  if (s.heldDeletions > 0) lines.push(`Held:       ${formatCount(s.heldDeletions, "local deletion")}, not sent (dropsim sync ${shellWord(view.folder)} --confirm-deletes sends them)`);
  if (s.excluded.length > 0) lines.push(`Excluded:   ${s.excluded.join(", ")}`);
  if (s.limits.up !== null || s.limits.down !== null) lines.push(`Limits:     up ${_rate(s.limits.up)}, down ${_rate(s.limits.down)}`);
  return lines;
}

function _stateText(view: FolderView & { running: true }): string {
  const s = view.status;
  if (view.inSync === false) return "not in sync yet (--wait timed out)";
  if (view.inSync ?? s.upToDate) return "up to date";
  const left = [
    s.toUpload.files > 0 ? `${formatCount(s.toUpload.files, "file")} (${formatBytes(s.toUpload.bytes)}) to upload` : "",
    s.toDownload.files > 0 ? `${formatCount(s.toDownload.files, "file")} (${formatBytes(s.toDownload.bytes)}) to download` : "",
    s.toRead > 0 ? `${formatCount(s.toRead, "more changed file")} to read` : "",
  ].filter(Boolean);
  return `syncing${left.length > 0 ? `: ${left.join(", ")}` : ""}`;
}

function _conflictLines(conflicts: StatusConflict[]): string[] {
  return _listLines("Conflicts", conflicts.map((c) => `${c.copy} (conflicts with ${c.path})`));
}

function _listLines(title: string, items: string[]): string[] {
  return items.length === 0 ? [] : [`${title} (${items.length}):`, ...items.map((i) => `  ${i}`)];
}

function _rate(bps: number | null): string {
  return bps === null ? "none" : `${formatBytes(bps)}/s`;
}

function _folderJson(view: FolderView, exit: number): object {
  if (!view.running) return { ...view, exit };
  const { status, ...rest } = view;
  return { ...status, ...rest, exit };
}

function _ok(reply: ControlReply): Extract<ControlReply, { ok: true }> {
  if (!reply.ok) throw new DropsimError("internal", `The sync client refused its status: ${reply.message}`);
  return reply;
}

/** What state.db remembers of the last run: entries synced, the journal position, when it last agreed. */
async function _stateDbView(root: string): Promise<{ files: number; cursor: number; lastSync?: number }> {
  const file = path.join(root, STATE_DIR, "state.db");
  if (!fs.existsSync(file)) return { files: 0, cursor: 0 };
  const index = new LocalIndex((await loadRuntime()).openDatabase(file));
  try {
    const lastSync = Number(index.getMeta(LAST_SYNC_META));
    return { files: index.count(), cursor: Number(index.getMeta("cursor") ?? 0), ...(lastSync > 0 ? { lastSync } : {}) };
  } finally {
    index.close();
  }
}

/** Prints the server of `dataDir` (running, or what its data dir holds); returns the exit code: 0 running, 1 not. */
async function _serverStatus(dataDir: string, json: boolean): Promise<number> {
  const running = await askServerStatus(dataDir);
  if (running) {
    if (json) console.log(JSON.stringify({ running: true, data: dataDir, ...running }));
    else console.log(renderServer(dataDir, running, Date.now()).join("\n"));
    return 0;
  }
  if (!fs.existsSync(dataDir)) throw new DropsimError("bad_message", `Cannot show the server of ${dataDir}: there is no such data dir (give the one dropsim serve --data uses)`);
  const stores = await openStores(dataDir, await loadRuntime(), { inspect: true });
  try {
    const shares = await Promise.all(stores.shareNames().map(async (name) => ({ name, head: (await stores.share(name)?.meta.head()) ?? 0 })));
    if (json) console.log(JSON.stringify({ running: false, data: dataDir, shares, clients: [] }));
    else console.log([`Server:     not running on ${dataDir} (start it with dropsim serve --data ${shellWord(dataDir)})`, ..._shareLines(shares)].join("\n"));
    return 1;
  } finally {
    await stores.close();
  }
}

export function renderServer(dataDir: string, s: ServerStatus, now: number): string[] {
  const lines = [`Server:     running on ${dataDir}, listening on ${s.address}`, ..._shareLines(s.shares)];
  if (s.clients.length === 0) return [...lines, "Clients:    none connected"];
  const rows = s.clients.map((c) => [clientLabel(c.host, c.clientId), c.share, c.remote, `${localTime(c.since)} (${formatDuration(now - c.since)} ago)`, formatBytes(c.bytesIn), formatBytes(c.bytesOut)]);
  return [...lines, `Clients (${s.clients.length}):`, ...table(["CLIENT", "SHARE", "FROM", "SINCE", "IN", "OUT"], rows).split("\n").map((l) => `  ${l}`)];
}

function _shareLines(shares: { name: string; head: number }[]): string[] {
  return [`Shares (${shares.length}):`, ...table(["SHARE", "JOURNAL HEAD"], shares.map((s) => [s.name, String(s.head)])).split("\n").map((l) => `  ${l}`)];
}
