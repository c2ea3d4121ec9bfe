import { defineCommand } from "citty";
import { consola } from "consola";
import { DropsimError } from "../core/errors.ts";
import { DEFAULT_KEEP_DAYS, keepDaysProblem, keepDaysText } from "../core/retention.ts";
import { loadRuntime } from "../runtime/index.ts";
import { assertShareName, noSuchShare, shareExists } from "../store/access-store.ts";
import { createShareFiles, deleteShareFiles } from "../store/open.ts";
import { dataArg, isoTime, sayingRefusals, quotaText, table, withAccess } from "./admin.ts";
import { logArgs, setupLog } from "./log.ts";
import { parseQuota } from "./options.ts";

const keepDaysArg = {
  "keep-days": { type: "string", description: `Days of history to keep: versions and trash older than this go at the next GC (0 = keep only the current version, -1 = forever; default ${DEFAULT_KEEP_DAYS})` },
} as const;

function _parseKeepDays(value: string): number {
  const days = /^-?\d+$/.test(value.trim()) ? Number(value) : Number.NaN;
  const problem = keepDaysProblem(days);
  if (problem) throw new DropsimError("bad_message", `Invalid --keep-days "${value}": ${problem}`);
  return days;
}

const create = defineCommand({
  meta: {
    name: "create",
    description: "Create an empty share",
    examples: ["dropsim share create photos", "dropsim share create team --quota 50GiB --keep-days 90"],
  },
  args: {
    name: { type: "positional", description: "Share name (letters, digits, '.', '_', '-')", required: true },
    quota: { type: "string", description: "Most bytes of live files the share may hold, e.g. 50GiB (default: none)" },
    ...keepDaysArg,
    ...dataArg,
    ...logArgs,
  },
  async run({ args }) {
    const log = setupLog(args, "share");
    return sayingRefusals(log, async () => {
      const quota = args.quota === undefined ? null : parseQuota(args.quota);
      const keepDays = args["keep-days"] === undefined ? DEFAULT_KEEP_DAYS : _parseKeepDays(args["keep-days"]);
      assertShareName(args.name);
      await withAccess(args.data, async (access, root) => {
        if (access.share(args.name)) throw shareExists(args.name);
        // The files first: a server sees the share once its row exists, and must find them whole.
        await createShareFiles(root, args.name, await loadRuntime());
        access.addShare(args.name, quota, Date.now(), keepDays);
      });
      log.success(`Created share "${args.name}"${quota === null ? "" : ` with a quota of ${quotaText(quota)}`}, keeping history ${_historyText(keepDays)}`);
    });
  },
});

const list = defineCommand({
  meta: {
    name: "list",
    description: "List the shares",
    examples: ["dropsim share list", "dropsim share list --json --data /var/lib/dropsim"],
  },
  args: { json: { type: "boolean", description: "Print JSON", default: false }, ...dataArg },
  async run({ args }) {
    const shares = await withAccess(args.data, (access) => access.shares());
    if (args.json) {
      console.log(JSON.stringify(shares.map((s) => ({ name: s.name, quota: s.quota, keepDays: s.keepDays, created: isoTime(s.created) }))));
      return;
    }
    console.log(table(["NAME", "QUOTA", "HISTORY", "CREATED"], shares.map((s) => [s.name, quotaText(s.quota), keepDaysText(s.keepDays), isoTime(s.created)!])));
  },
});

const remove = defineCommand({
  meta: {
    name: "remove",
    description: "Delete a share, its files and history; its tokens stop working at once",
    examples: ["dropsim share remove photos --yes"],
  },
  args: {
    name: { type: "positional", description: "Share name", required: true },
    yes: { type: "boolean", description: "Do not ask for confirmation (required when not on a terminal)", default: false },
    ...dataArg,
    ...logArgs,
  },
  async run({ args }) {
    const log = setupLog(args, "share");
    return sayingRefusals(log, async () => {
      const confirmed = args.yes || (await _confirm(`Delete share "${args.name}" with all its files and history? This cannot be undone.`));
      if (!confirmed) {
        log.error(`Did not remove share "${args.name}"`);
        process.exitCode = 1;
        return;
      }
      await withAccess(args.data, async (access, root) => {
        if (!access.removeShare(args.name, Date.now())) throw noSuchShare(args.name);
        await deleteShareFiles(root, args.name);
      });
      log.success(`Removed share "${args.name}"`);
    });
  },
});

const set = defineCommand({
  meta: {
    name: "set",
    description: "Change a share's quota or how long it keeps history",
    examples: ["dropsim share set photos --quota none", "dropsim share set team --keep-days 30"],
  },
  args: {
    name: { type: "positional", description: "Share name", required: true },
    quota: { type: "string", description: "Most bytes of live files, e.g. 50GiB, or none" },
    ...keepDaysArg,
    ...dataArg,
    ...logArgs,
  },
  async run({ args }) {
    const log = setupLog(args, "share");
    return sayingRefusals(log, async () => {
      if (args.quota === undefined && args["keep-days"] === undefined) throw new DropsimError("bad_message", `Cannot change share "${args.name}": give --quota, --keep-days or both`);
      const quota = args.quota === undefined ? undefined : parseQuota(args.quota);
      const keepDays = args["keep-days"] === undefined ? undefined : _parseKeepDays(args["keep-days"]);
      await withAccess(args.data, (access) => {
        if (!access.share(args.name)) throw noSuchShare(args.name);
        if (quota !== undefined) access.setQuota(args.name, quota);
        if (keepDays !== undefined) access.setKeepDays(args.name, keepDays);
      });
      if (quota !== undefined) log.success(`Share "${args.name}" now has ${quota === null ? "no quota" : `a quota of ${quotaText(quota)}`}`);
      if (keepDays !== undefined) log.success(`Share "${args.name}" now keeps history ${_historyText(keepDays)} (applied at the next GC)`);
    });
  },
});

/** "for 30 days", "forever", "of the current version only". */
function _historyText(days: number): string {
  return days === -1 ? "forever" : days === 0 ? "of the current version only" : `for ${keepDaysText(days)}`;
}

/** Off a terminal nobody can answer: refused in words rather than taken as yes or no. */
async function _confirm(question: string): Promise<boolean> {
  if (!process.stdin.isTTY) throw new DropsimError("bad_message", "Cannot ask for confirmation: not on a terminal; pass --yes to remove the share");
  return (await consola.prompt(question, { type: "confirm", initial: false, cancel: "default" })) === true;
}

export default defineCommand({
  meta: {
    name: "share",
    description: "Create, list, change and remove the shares of a server's data dir",
    examples: ["dropsim share create photos", "dropsim share list", "dropsim share set photos --quota 10GiB"],
  },
  subCommands: { create, list, remove, set },
});
