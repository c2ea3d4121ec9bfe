import { defineCommand } from "citty";
import { withServer } from "../client/one-shot.ts";
import { DropsimError } from "../core/errors.ts";
import { parseTimeSpec } from "../core/time-spec.ts";
import { formatBytes } from "../core/units.ts";
import type { MessageOf, RestoreChange, ServerMessage } from "../protocol/messages.ts";
import { loadRuntime } from "../runtime/index.ts";
import { resolveTarget, sayingRefusals, systemZone } from "./journal-view.ts";
import { logArgs, setupLog } from "./log.ts";
import { parseCount } from "./options.ts";

type RestoreResult = MessageOf<ServerMessage, "restore_result">;

export default defineCommand({
  meta: {
    name: "restore",
    description: "Bring a file or a folder back to an earlier version, or a deleted file back from the trash",
    examples: ["dropsim restore report.docx --version 42", "dropsim restore photos --at '2h ago'", "dropsim restore . --at '2026-12-01 14:00' --dry-run"],
  },
  args: {
    path: { type: "positional", description: "A file or folder inside a synced folder (. for the folder you are in)", required: true },
    version: { type: "string", description: "The version to bring back, as `dropsim history` lists it" },
    at: { type: "string", description: 'How it was at this time: "2026-12-01 14:00" (local), "2h ago", or ISO 8601' },
    "dry-run": { type: "boolean", description: "Only list what would change", default: false },
    json: { type: "boolean", description: 'Print {"target", "head", "dryRun", "changes", "more", "counts"}', default: false },
    ...logArgs,
  },
  async run({ args }) {
    const log = setupLog(args, "restore");
    return sayingRefusals(log, async () => {
      if (args.version !== undefined && args.at !== undefined) throw new DropsimError("bad_message", "Cannot restore to both --version and --at: give one of them");
      const version = args.version === undefined ? undefined : parseCount(args.version);
      const at = args.at === undefined ? undefined : parseTimeSpec(args.at, Date.now(), systemZone);
      const dryRun = args["dry-run"];
      const target = await resolveTarget(args.path);
      const runtime = await loadRuntime();
      let result: RestoreResult;
      try {
        result = await withServer(runtime, target.folder, ({ welcome, ask }) =>
          ask<RestoreResult>({ type: "restore", path: target.wire, version, at, seen: welcome.head, dryRun }),
        );
      } catch (e) {
        if (e instanceof DropsimError && e.code === "read_only") {
          throw new DropsimError("read_only", "Cannot restore: this folder's token is read-only; ask the share's admin for a read-write token (history and trash work with this one)");
        }
        throw e;
      }
      if (args.json) {
        console.log(JSON.stringify({ target: result.target, head: result.head, dryRun, changes: result.changes, more: result.more, counts: result.counts }));
        return;
      }
      for (const c of result.changes) console.log(_changeLine(c, dryRun));
      const listed = result.changes.length;
      const total = result.counts.restore + result.counts.remove + result.counts.conflict_copy;
      if (total > listed) console.log(`… and ${total - listed} more`);
      const what = target.wire === "" ? "the share" : `"${target.wire}"`;
      if (total === 0) return log.success(`Nothing to restore: ${what} is already as it was after version ${result.target}`);
      log.success(`${summaryLine(result.counts, dryRun)} (${what} as it was after version ${result.target})`);
    });
  },
});

/** "Restored 3 files, moved 2 to the trash, 1 conflict copy"; a dry run says what it would do. */
export function summaryLine(counts: RestoreResult["counts"], dryRun: boolean): string {
  const parts: string[] = [];
  if (counts.restore > 0) parts.push(`${dryRun ? "would restore" : "restored"} ${_plural(counts.restore, "file")}`);
  if (counts.remove > 0) parts.push(`${dryRun ? "would move" : "moved"} ${counts.remove} to the trash`);
  if (counts.conflict_copy > 0) parts.push(`${dryRun ? "would make " : ""}${_plural(counts.conflict_copy, "conflict copy", "conflict copies")}`);
  const line = parts.join(", ");
  return line.charAt(0).toUpperCase() + line.slice(1);
}

function _changeLine(c: RestoreChange, dryRun: boolean): string {
  const size = c.kind === "file" ? ` (${formatBytes(c.size)})` : "";
  switch (c.action) {
    case "restore":
      return `${dryRun ? "would restore" : "restored"}  ${c.path}${size}`;
    case "remove":
      return `${dryRun ? "would trash" : "trashed"}  ${c.path}`;
    case "conflict_copy":
      return `${dryRun ? "would copy" : "copied"}  ${c.of ?? "?"} → ${c.path}${size} (changed since; its old content goes beside it)`;
  }
}

function _plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}
