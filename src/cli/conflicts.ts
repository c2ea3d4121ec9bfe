import { defineCommand } from "citty";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { findSyncedFolder } from "../client/one-shot.ts";
import { conflictCopyHost } from "../core/conflict-name.ts";
import { STATE_DIR } from "../core/wire-path.ts";
import { sayingRefusals } from "./journal-view.ts";
import { logArgs, setupLog } from "./log.ts";

/** A conflicted copy in a synced folder: `copy` holds the version that lost the name `path`. */
export interface ConflictCopy {
  path: string;
  copy: string;
  /** Who made the copy, as its name says. */
  host: string;
}

export default defineCommand({
  meta: {
    name: "conflicts",
    description: "List the conflicted copies in a synced folder, each with the file it conflicts with",
    examples: ["dropsim conflicts", "dropsim conflicts ~/Team --json"],
  },
  args: {
    dir: { type: "positional", description: "The synced folder, or a folder inside it (default: the folder you are in)", required: false, default: "." },
    json: { type: "boolean", description: 'Print a JSON array of {"path", "copy", "host"} (paths relative to the synced folder, "/"-separated)', default: false },
    ...logArgs,
  },
  async run({ args }) {
    const log = setupLog(args, "conflicts");
    return sayingRefusals(log, async () => {
      const { root } = await findSyncedFolder(path.resolve(args.dir));
      const copies = await findConflictCopies(root);
      if (args.json) return console.log(JSON.stringify(copies));
      if (copies.length === 0) return console.log(`No conflicted copies in ${root}`);
      for (const c of copies) console.log(`${c.copy}\n    conflicts with ${c.path} (copy made on ${c.host})`);
      console.log(`\n${copies.length} conflicted ${copies.length === 1 ? "copy" : "copies"}: keep what you want in the file itself, then delete the ${copies.length === 1 ? "copy" : "copies"}`);
    });
  },
});

/** Every conflicted copy under `root` (its state folder left out), sorted by path. */
export async function findConflictCopies(root: string): Promise<ConflictCopy[]> {
  const found: ConflictCopy[] = [];
  const walk = async (dir: string, prefix: string): Promise<void> => {
    let entries;
    try {
      entries = await fs.readdir(dir, { withFileTypes: true });
    } catch {
      return; // Removed while we walked, or unreadable: a conflict there cannot be listed anyway.
    }
    for (const e of entries) {
      if (prefix === "" && e.name === STATE_DIR) continue;
      const rel = `${prefix}${e.name}`;
      const original = conflictOriginal(rel);
      if (original) found.push(original);
      if (e.isDirectory()) await walk(path.join(dir, e.name), `${rel}/`);
    }
  };
  await walk(root, "");
  return found.sort((a, b) => (a.copy < b.copy ? -1 : a.copy > b.copy ? 1 : 0));
}

/**
 * `a/report (conflicted copy from laptop 2026-11-24 14.03.22 3f2a9c).pdf` → the copy, the path
 * it conflicts with (`a/report.pdf`) and its host; undefined for any other name. A stem that
 * was shortened to fit the copy's name gives the shortened path.
 */
export function conflictOriginal(copy: string): ConflictCopy | undefined {
  const host = conflictCopyHost(copy);
  if (host === undefined) return undefined;
  const open = copy.lastIndexOf(" (conflicted copy ");
  const close = copy.indexOf(")", open);
  return { path: copy.slice(0, open) + copy.slice(close + 1), copy, host };
}
