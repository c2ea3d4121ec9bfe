import { defineCommand } from "citty";
import * as path from "node:path";
import type { ControlReply, ControlRequest, ExcludeOutcome } from "../client/control.ts";
import { sendControl } from "../client/control-client.ts";
import { LocalIndex } from "../client/local-index.ts";
import type { StatusSnapshot } from "../client/status.ts";
import { dropExcludedCopy } from "../client/sync-engine.ts";
import { DropsimError, type ErrorCode } from "../core/errors.ts";
import { selectivePath } from "../core/ignore-rules.ts";
import { STATE_DIR } from "../core/wire-path.ts";
import { loadRuntime } from "../runtime/index.ts";
import { resolveTarget, sayingRefusals } from "./journal-view.ts";
import { logArgs, setupLog } from "./log.ts";

/*
 * Selective sync: `dropsim exclude PATH` and `dropsim include PATH`, PATH relative to the
 * working directory, inside a synced folder. The folder's running client does it at once;
 * with none running, state.db is changed and the client follows it when it starts.
 */

const pathArg = { type: "positional", description: "A file or folder inside a synced folder (relative to the folder you are in)", required: true } as const;

export const exclude = defineCommand({
  meta: {
    name: "exclude",
    description: "Stop syncing a file or folder here: it is not downloaded, its local copy goes unless it changed here, and it stays on the server and in other folders",
    examples: ["dropsim exclude ~/Team/videos", "dropsim exclude big-archive.zip   (from inside the synced folder)"],
  },
  args: { path: pathArg, ...logArgs },
  async run({ args }) {
    const log = setupLog(args, "exclude");
    return sayingRefusals(log, async () => {
      const { root, wire } = await selection(args.path);
      const reply = await sendControl(root, { cmd: "exclude", path: wire });
      let outcome: ExcludeOutcome;
      if (reply) outcome = replied(reply).excluded ?? { removed: false, keptChanged: [] };
      else {
        outcome = await withFolderState(root, (index) => {
          index.exclude(wire);
          return dropExcludedCopy({ root, index, foldsNames: false }, wire);
        });
        log.info(notRunning(root));
      }
      if (outcome.keptChanged.length > 0) {
        const n = outcome.keptChanged.length;
        const shown = outcome.keptChanged.slice(0, 10).join(", ") + (n > 10 ? ", …" : "");
        log.warn(`Excluded ${wire}, but kept its local copy: ${n} ${n === 1 ? "path in it" : "paths in it"} changed here (${shown}); they are not uploaded while excluded (move them out, or dropsim include ${wire})`);
      } else log.success(`Excluded ${wire}: ${outcome.removed ? "its local copy is removed; " : ""}it is no longer synced here, and stays on the server`);
    });
  },
});

export const include = defineCommand({
  meta: {
    name: "include",
    description: "Sync an excluded file or folder here again: it downloads again",
    examples: ["dropsim include ~/Team/videos"],
  },
  args: { path: pathArg, ...logArgs },
  async run({ args }) {
    const log = setupLog(args, "include");
    return sayingRefusals(log, async () => {
      const { root, wire } = await selection(args.path);
      const status = await ask(root, { cmd: "status" });
      let was: boolean;
      if (status) {
        was = status.excluded.includes(wire);
        if (was) await ask(root, { cmd: "include", path: wire });
      } else {
        was = await withFolderState(root, (index) => index.include(wire));
        if (was) log.info(notRunning(root));
      }
      if (was) log.success(`Included ${wire}: it syncs here again`);
      else log.info(`${wire} is not excluded: nothing to do`);
    });
  },
});

/** The synced folder around `arg` and `arg` as a selective sync path in it. */
async function selection(arg: string): Promise<{ root: string; wire: string }> {
  const { folder, wire } = await resolveTarget(arg);
  return { root: folder.root, wire: selectivePath(wire) };
}

/** Asks the running client of `root`: its status after the request, or undefined when none runs. */
export async function ask(root: string, req: ControlRequest): Promise<StatusSnapshot | undefined> {
  const reply = await sendControl(root, req);
  return reply && replied(reply).status;
}

/** A reply's content; a refusal becomes the DropsimError it was. */
function replied(reply: ControlReply): Extract<ControlReply, { ok: true }> {
  if (!reply.ok) throw new DropsimError(reply.code as ErrorCode, reply.message);
  return reply;
}

/** Runs `fn` on the state.db of a folder no client runs on. */
export async function withFolderState<T>(root: string, fn: (index: LocalIndex) => T | Promise<T>): Promise<T> {
  const runtime = await loadRuntime();
  const index = new LocalIndex(runtime.openDatabase(path.join(root, STATE_DIR, "state.db")));
  try {
    return await fn(index);
  } finally {
    index.close();
  }
}

export function notRunning(root: string): string {
  return `No sync client is running on ${root}: the change is saved in its state and applies when one starts`;
}

/**
 * Every value of a flag given more than once (`--exclude a --exclude=b`): citty keeps only the
 * last. Stops at "--", after which nothing is a flag.
 */
export function repeatedFlag(rawArgs: readonly string[], name: string): string[] {
  const values: string[] = [];
  for (let i = 0; i < rawArgs.length; i++) {
    const arg = rawArgs[i]!;
    if (arg === "--") break;
    if (arg === `--${name}` && i + 1 < rawArgs.length) values.push(rawArgs[++i]!);
    else if (arg.startsWith(`--${name}=`)) values.push(arg.slice(name.length + 3));
  }
  return values;
}
