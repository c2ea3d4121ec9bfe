import { defineCommand } from "citty";
import { withServer } from "../client/one-shot.ts";
import { formatBytes } from "../core/units.ts";
import { MAX_PAGE, type MessageOf, type ServerMessage, type TrashRow } from "../protocol/messages.ts";
import { loadRuntime } from "../runtime/index.ts";
import { table } from "./admin.ts";
import { clientLabel, commandFor, localTime, resolveTarget, sayingRefusals, utcTime } from "./journal-view.ts";
import { logArgs, setupLog } from "./log.ts";

export default defineCommand({
  meta: {
    name: "trash",
    description: "List deleted files that can be restored, newest first",
    examples: ["dropsim trash", "dropsim trash photos --json"],
  },
  args: {
    path: { type: "positional", description: "Only what was deleted inside this folder (default: the whole share)", required: false },
    json: { type: "boolean", description: 'Print a JSON array of {"path", "kind", "at" (UTC ISO 8601), "size", "version", "host", "clientId", "restore"}', default: false },
    ...logArgs,
  },
  async run({ args }) {
    const log = setupLog(args, "trash");
    return sayingRefusals(log, async () => {
      const target = await resolveTarget(args.path ?? ".");
      const wire = args.path === undefined ? "" : target.wire;
      const runtime = await loadRuntime();
      const items = await withServer(runtime, target.folder, async (session) => {
        const all: TrashRow[] = [];
        for (let before: number | undefined; ; ) {
          const page = await session.ask<MessageOf<ServerMessage, "trash_result">>({ type: "trash", path: wire, before, limit: MAX_PAGE });
          all.push(...page.items);
          if (!page.more || page.items.length === 0) return all;
          before = page.items.at(-1)!.seq;
        }
      });
      const restore = (t: TrashRow) => commandFor("restore", target.folder.root, t.path);
      if (args.json) {
        console.log(JSON.stringify(items.map((t) => ({ path: t.path, kind: t.kind, at: utcTime(t.at), size: t.size, version: t.version, host: t.host, clientId: t.clientId, restore: restore(t) }))));
        return;
      }
      if (items.length === 0) return log.info(`The trash is empty${wire === "" ? "" : ` under "${wire}"`}`);
      const header = ["PATH", "DELETED", "BY", "SIZE", "RESTORE WITH"];
      console.log(table(header, items.map((t) => [t.path, localTime(t.at), clientLabel(t.host, t.clientId), t.kind === "file" ? formatBytes(t.size) : "-", restore(t)])));
    });
  },
});
