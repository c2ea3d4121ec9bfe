import { defineCommand } from "citty";
import * as path from "node:path";
import { findSyncedFolder } from "../client/one-shot.ts";
import { ask, notRunning, withFolderState } from "./exclude.ts";
import { sayingRefusals } from "./journal-view.ts";
import { logArgs, setupLog } from "./log.ts";

/*
 * `dropsim pause [DIR]` and `dropsim resume [DIR]`: no passes and no transfers while paused
 * (those in flight stop at their next block; nothing half-written is left in the folder). Kept
 * in state.db across restarts.
 */

const dirArg = { type: "positional", description: "The synced folder, or a folder inside it (default: the folder you are in)", required: false, default: "." } as const;

export const pause = defineCommand({
  meta: {
    name: "pause",
    description: "Stop syncing a folder until dropsim resume (remembered across restarts)",
    examples: ["dropsim pause", "dropsim pause ~/Team"],
  },
  args: { dir: dirArg, ...logArgs },
  run: ({ args }) => setPaused(args, true),
});

export const resume = defineCommand({
  meta: {
    name: "resume",
    description: "Sync a paused folder again",
    examples: ["dropsim resume", "dropsim resume ~/Team"],
  },
  args: { dir: dirArg, ...logArgs },
  run: ({ args }) => setPaused(args, false),
});

async function setPaused(args: { dir: string } & Parameters<typeof setupLog>[0], paused: boolean): Promise<void> {
  const log = setupLog(args, paused ? "pause" : "resume");
  return sayingRefusals(log, async () => {
    const { root } = await findSyncedFolder(path.resolve(args.dir));
    const status = await ask(root, { cmd: paused ? "pause" : "resume" });
    if (!status) {
      await withFolderState(root, (index) => index.setPaused(paused));
      log.info(notRunning(root));
    }
    log.success(paused ? `Paused ${root}: nothing syncs until dropsim resume` : `Resumed ${root}: syncing again`);
  });
}
