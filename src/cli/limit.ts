import { defineCommand } from "citty";
import * as path from "node:path";
import type { RateLimits } from "../core/rate.ts";
import { findSyncedFolder } from "../client/one-shot.ts";
import { parseRate } from "../core/rate.ts";
import { formatBytes } from "../core/units.ts";
import { ask, notRunning, withFolderState } from "./exclude.ts";
import { sayingRefusals } from "./journal-view.ts";
import { logArgs, setupLog } from "./log.ts";

export default defineCommand({
  meta: {
    name: "limit",
    description: "Show or change a synced folder's bandwidth limits; a running client applies them at once (dropsim limit --up 1MiB --down none)",
    examples: ["dropsim limit", "dropsim limit ~/Team --up 1MiB --down none"],
  },
  args: {
    dir: { type: "positional", description: "The synced folder, or a folder inside it (default: the folder you are in)", required: false, default: "." },
    up: { type: "string", description: "Upload limit per second: 1MiB, 500KiB, 2MB (a bare number is KiB, as rsync --bwlimit), or none (0)" },
    down: { type: "string", description: "Download limit per second, as --up" },
    ...logArgs,
  },
  async run({ args }) {
    const log = setupLog(args, "limit");
    return sayingRefusals(log, async () => {
      const { root } = await findSyncedFolder(path.resolve(args.dir));
      const given: Partial<RateLimits> = {};
      if (args.up !== undefined) given.up = parseRate(args.up);
      if (args.down !== undefined) given.down = parseRate(args.down);
      const running = await ask(root, { cmd: "status" });
      const current = running?.limits ?? (await withFolderState(root, (index) => index.limits()));
      if (args.up === undefined && args.down === undefined) return console.log(`${root}: ${describeLimits(current)}`);
      const limits = { ...current, ...given };
      if (running) await ask(root, { cmd: "limits", limits });
      else {
        await withFolderState(root, (index) => index.setLimits(limits));
        log.info(notRunning(root));
      }
      log.success(`${root}: ${describeLimits(limits)}`);
    });
  },
});

/** "upload 1.0 MiB/s, download no limit". */
export function describeLimits(limits: RateLimits): string {
  const one = (rate: number | null) => (rate === null ? "no limit" : `${formatBytes(rate)}/s`);
  return `upload ${one(limits.up)}, download ${one(limits.down)}`;
}
