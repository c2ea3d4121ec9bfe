import * as fs from "node:fs/promises";
import * as path from "node:path";
import type { Entry } from "../core/entry.ts";
import { DropsimError } from "../core/errors.ts";
import { ensureParents, resolveInside } from "../fsutil/safe-resolve.ts";
import { type LocalStat, statLocal } from "../fsutil/scan.ts";
import { unchangedSincePlan } from "./apply-remote.ts";
import type { SyncContext } from "./context.ts";
import type { Synced } from "./local-index.ts";

/**
 * Makes the symlink `entry` at its path, and adds it to `placed` to be recorded once durable
 * (`recordPlaced`). The link is made under a temp name in
 * `.dropsim/tmp` (never seen by the watcher, cleared at start) and renamed over the path, so
 * the path never holds a missing or half-made link; and only if it still holds what the plan
 * saw (`expect`, undefined = nothing): otherwise a local change raced us and wins (false, and
 * the path is looked at again). The target is written as it came, never resolved or followed;
 * no folder above the path may be a symlink (ensureParents), so nothing lands outside the root.
 */
export async function writeSymlink(ctx: SyncContext, entry: Entry, expect: LocalStat | undefined, placed: Synced[]): Promise<boolean> {
  const abs = resolveInside(ctx.root, entry.path);
  await ensureParents(ctx.root, entry.path);
  const tmp = path.join(ctx.tmpDirs.next(), `link-${crypto.randomUUID()}`);
  try {
    await fs.symlink(entry.target!, tmp);
  } catch (e) {
    throw _explainRefusal(e, entry.path);
  }
  let renamed = false;
  try {
    if (await unchangedSincePlan(abs, expect)) {
      await fs.rename(tmp, abs);
      renamed = true;
    }
  } finally {
    if (!renamed) await fs.unlink(tmp).catch(() => {});
  }
  if (!renamed) {
    ctx.markDirty(entry.path);
    return false;
  }
  // The fingerprint is only for the record: a link's content is read again (readlink) each look.
  const st = await statLocal(abs);
  if (st) placed.push({ entry, stat: st });
  ctx.emit({ type: "linked", path: entry.path, target: entry.target! });
  return true;
}

/** Windows lets only administrators, or anyone in Developer Mode, make symlinks: say so once. */
function _explainRefusal(e: unknown, wirePath: string): unknown {
  const code = (e as NodeJS.ErrnoException).code;
  if (code !== "EPERM" && code !== "ENOSYS" && code !== "ENOTSUP") return e;
  return new DropsimError(
    "io",
    `Cannot make "${wirePath}" a symbolic link: this system does not allow it (${code}; on Windows, turn on Developer Mode or run dropsim as administrator)`,
    { cause: e },
  );
}
