import * as fs from "node:fs/promises";
import { type Placement, placeName } from "../core/case-conflict.ts";
import type { EntryKind } from "../core/entry.ts";
import { baseName } from "../core/wire-path.ts";
import { resolveInside } from "../fsutil/safe-resolve.ts";
import type { SyncContext } from "./context.ts";

/**
 * Where remote paths land in a folder whose file system folds names (`ctx.foldsNames`: macOS,
 * Windows, casefold). There a name that differs from one already in its folder only by case or
 * normalisation would replace it, so it gets a case-conflict name instead (`placeName`), and
 * whatever goes below such a folder follows it. Each folder is listed once per guard and learns
 * the names placed in it since: the files of one batch are renamed into place concurrently.
 */
export class CaseGuard {
  private readonly listings = new Map<string, Map<string, EntryKind>>();

  constructor(private readonly ctx: SyncContext) {}

  /**
   * Where `wirePath` lands: `clash` names the other spelling when its own name clashed; a path
   * below a folder that clashed lands in that folder's case-conflict folder, with no `clash`.
   */
  async place(wirePath: string, kind: EntryKind): Promise<Placement> {
    if (!this.ctx.foldsNames) return { path: wirePath };
    const names = wirePath.split("/");
    let placed: Placement = { path: "" };
    for (const [i, name] of names.entries()) {
      const k = i === names.length - 1 ? kind : "dir";
      const siblings = await this.list(placed.path);
      placed = placeName(placed.path ? `${placed.path}/${name}` : name, siblings, k);
      if (!siblings.has(baseName(placed.path))) siblings.set(baseName(placed.path), k);
    }
    return placed;
  }

  private async list(dir: string): Promise<Map<string, EntryKind>> {
    let names = this.listings.get(dir);
    if (names) return names;
    names = new Map();
    this.listings.set(dir, names);
    try {
      for (const d of await fs.readdir(dir ? resolveInside(this.ctx.root, dir) : this.ctx.root, { withFileTypes: true })) names.set(d.name, d.isDirectory() ? "dir" : "file");
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== "ENOENT" && code !== "ENOTDIR") throw e;
    }
    return names;
  }
}

/**
 * `path` was written under a case-conflict name: there it is a new local entry, which a later
 * pass uploads. Said once, when it is made (what goes into a case-conflict folder later is not).
 */
export function markKeptApart(ctx: SyncContext, path: string, placed: Placement): void {
  ctx.markDirty(placed.path);
  ctx.emit({ type: "case_conflict", path, placedAs: placed.path, clash: placed.clash });
}
