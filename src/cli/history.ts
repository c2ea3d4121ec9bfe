import { defineCommand } from "citty";
import * as fs from "node:fs/promises";
import { type OneShotSession, withServer } from "../client/one-shot.ts";
import { formatBytes } from "../core/units.ts";
import { type HistoryRow, MAX_PAGE, type MessageOf, type ServerMessage } from "../protocol/messages.ts";
import { loadRuntime } from "../runtime/index.ts";
import { table } from "./admin.ts";
import { clientLabel, localTime, resolveTarget, sayingRefusals, utcTime } from "./journal-view.ts";
import { logArgs, setupLog } from "./log.ts";
import { parseCount } from "./options.ts";

const DEFAULT_LIMIT = 100;

export default defineCommand({
  meta: {
    name: "history",
    description: "List the versions of a file, or the changes inside a folder, newest first",
    examples: ["dropsim history", "dropsim history report.docx --limit 10", "dropsim history ~/Team/photos/ --json"],
  },
  args: {
    path: { type: "positional", description: "A file or folder inside a synced folder (default: the folder you are in)", required: false, default: "." },
    limit: { type: "string", description: "Show at most this many rows", default: String(DEFAULT_LIMIT) },
    json: { type: "boolean", description: 'Print a JSON array of {"version", "at" (UTC ISO 8601), "size", "change", "kind", "path", "host", "clientId"}', default: false },
    ...logArgs,
  },
  async run({ args }) {
    const log = setupLog(args, "history");
    return sayingRefusals(log, async () => {
      const limit = parseCount(args.limit);
      const target = await resolveTarget(args.path);
      const below = target.wire === "" || args.path.endsWith("/") || (await _isLocalDir(target.local));
      const runtime = await loadRuntime();
      const rows = await withServer(runtime, target.folder, async (session) => {
        const own = await _history(session, target.wire, below, limit);
        // A path gone from here that was a folder on the server: its changes are below it.
        return !below && own[0]?.kind === "dir" ? _history(session, target.wire, true, limit) : own;
      });
      if (args.json) {
        console.log(JSON.stringify(rows.map((r) => ({ version: r.seq, at: utcTime(r.at), size: r.size, change: r.change, kind: r.kind, path: r.path, movedFrom: r.movedFrom ?? null, host: r.host, clientId: r.clientId }))));
        return;
      }
      if (rows.length === 0) return log.info(`No history for ${target.wire === "" ? "the share" : `"${target.wire}"`}`);
      const header = ["VERSION", "TIME", "SIZE", "CHANGE", "CLIENT", ...(below ? ["PATH"] : [])];
      console.log(
        table(
          header,
          rows.map((r) => [String(r.seq), localTime(r.at), r.kind === "file" ? formatBytes(r.size) : "-", _change(r), clientLabel(r.host, r.clientId), ...(below ? [r.path] : [])]),
        ),
      );
    });
  },
});

/** Up to `limit` rows, newest first, a page at a time on one session. */
async function _history(session: OneShotSession, path: string, below: boolean, limit: number): Promise<HistoryRow[]> {
  const rows: HistoryRow[] = [];
  let before: number | undefined;
  while (rows.length < limit) {
    const page = await session.ask<MessageOf<ServerMessage, "history_result">>({ type: "history", path, below, before, limit: Math.min(MAX_PAGE, limit - rows.length) });
    rows.push(...page.rows);
    if (!page.more || page.rows.length === 0) break;
    before = page.rows.at(-1)!.seq;
  }
  return rows;
}

function _change(r: HistoryRow): string {
  return r.change === "move" && r.movedFrom !== undefined ? `move from ${r.movedFrom}` : r.change;
}

async function _isLocalDir(p: string): Promise<boolean> {
  try {
    return (await fs.stat(p)).isDirectory();
  } catch {
    return false;
  }
}
