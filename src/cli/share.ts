import { defineCommand } from "citty";
import { consola } from "consola";
import { DropsimError } from "../core/errors.ts";
import { loadRuntime } from "../runtime/index.ts";
import { assertShareName, noSuchShare, shareExists } from "../store/access-store.ts";
import { createShareFiles, deleteShareFiles } from "../store/open.ts";
import { dataArg, isoTime, sayingRefusals, quotaText, table, withAccess } from "./admin.ts";
import { logArgs, setupLog } from "./log.ts";
import { parseQuota } from "./options.ts";

const create = defineCommand({
  meta: { name: "create", description: "Create an empty share" },
  args: {
    name: { type: "positional", description: "Share name (letters, digits, '.', '_', '-')", required: true },
    quota: { type: "string", description: "Most bytes of live files the share may hold, e.g. 50GiB (default: none)" },
    ...dataArg,
    ...logArgs,
  },
  async run({ args }) {
    const log = setupLog(args, "share");
    return sayingRefusals(log, async () => {
      const quota = args.quota === undefined ? null : parseQuota(args.quota);
      assertShareName(args.name);
      await withAccess(args.data, async (access, root) => {
        if (access.share(args.name)) throw shareExists(args.name);
        // The files first: a server sees the share once its row exists, and must find them whole.
        await createShareFiles(root, args.name, await loadRuntime());
        access.addShare(args.name, quota, Date.now());
      });
      log.success(`Created share "${args.name}"${quota === null ? "" : ` with a quota of ${quotaText(quota)}`}`);
    });
  },
});

const list = defineCommand({
  meta: { name: "list", description: "List the shares" },
  args: { json: { type: "boolean", description: "Print JSON", default: false }, ...dataArg },
  async run({ args }) {
    const shares = await withAccess(args.data, (access) => access.shares());
    if (args.json) {
      console.log(JSON.stringify(shares.map((s) => ({ name: s.name, quota: s.quota, created: isoTime(s.created) }))));
      return;
    }
    console.log(table(["NAME", "QUOTA", "CREATED"], shares.map((s) => [s.name, quotaText(s.quota), isoTime(s.created)!])));
  },
});

const remove = defineCommand({
  meta: { name: "remove", description: "Delete a share, its files and history; its tokens stop working at once" },
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
  meta: { name: "set", description: "Change a share's quota" },
  args: {
    name: { type: "positional", description: "Share name", required: true },
    quota: { type: "string", description: "Most bytes of live files, e.g. 50GiB, or none", required: true },
    ...dataArg,
    ...logArgs,
  },
  async run({ args }) {
    const log = setupLog(args, "share");
    return sayingRefusals(log, async () => {
      const quota = parseQuota(args.quota);
      await withAccess(args.data, (access) => {
        if (!access.setQuota(args.name, quota)) throw noSuchShare(args.name);
      });
      log.success(`Share "${args.name}" now has ${quota === null ? "no quota" : `a quota of ${quotaText(quota)}`}`);
    });
  },
});

/** Off a terminal nobody can answer: refused in words rather than taken as yes or no. */
async function _confirm(question: string): Promise<boolean> {
  if (!process.stdin.isTTY) throw new DropsimError("bad_message", "Cannot ask for confirmation: not on a terminal; pass --yes to remove the share");
  return (await consola.prompt(question, { type: "confirm", initial: false, cancel: "default" })) === true;
}

export default defineCommand({
  meta: { name: "share", description: "Create, list, change and remove the shares of a server's data dir" },
  subCommands: { create, list, remove, set },
});
