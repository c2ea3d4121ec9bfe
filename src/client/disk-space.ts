import type { StatsFs } from "node:fs";
import * as fs from "node:fs/promises";
import { formatBytes } from "../core/units.ts";
import type { Download } from "./apply-remote.ts";
import type { SyncContext } from "./context.ts";

/**
 * Splits a batch into the downloads that fit on the folder's disk, keeping `ctx.minDiskFree`
 * free (a full disk breaks every program using it, not only this one), and those that wait:
 * returned as failed, so they are retried, and reported once each until they fit. One statfs
 * per batch, each admitted file's blocks taken off what it said: a batch of thousands of small
 * files asks once, and files admitted earlier in the batch are counted though not written yet.
 * Counted at full size: a patched copy or a sparse file may take less, never more.
 */
export async function admitBySpace(ctx: SyncContext, downloads: Download[]): Promise<{ fits: Download[]; waiting: Download[] }> {
  const { disk, keep } = await spaceOf(ctx);
  const floor = ctx.minDiskFree;
  const keepAsSaid = "percent" in floor ? `${floor.percent}%` : formatBytes(floor.bytes);
  let free = disk.bavail * disk.bsize;
  const fits: Download[] = [];
  const waiting: Download[] = [];
  for (const d of downloads) {
    const { path: p, size } = d.entry;
    const need = Math.ceil(size / disk.bsize) * disk.bsize;
    if (need === 0 || free - need >= keep) {
      free -= need;
      ctx.waitingForSpace.delete(p);
      fits.push(d);
      continue;
    }
    waiting.push(d);
    const again = ctx.waitingForSpace.has(p);
    ctx.waitingForSpace.add(p);
    ctx.emit({ type: "waiting_for_space", path: p, bytes: size, free: Math.max(0, free), keep: keepAsSaid, again });
  }
  return { fits, waiting };
}

/** Whether `bytes` more fit on the folder's disk above `ctx.minDiskFree`. */
export async function roomFor(ctx: SyncContext, bytes: number): Promise<boolean> {
  const { disk, keep } = await spaceOf(ctx);
  return disk.bavail * disk.bsize - bytes >= keep;
}

/** The folder's disk, and the free bytes it must keep. */
async function spaceOf(ctx: SyncContext): Promise<{ disk: StatsFs; keep: number }> {
  const disk = await fs.statfs(ctx.root);
  const floor = ctx.minDiskFree;
  return { disk, keep: "percent" in floor ? (disk.blocks * disk.bsize * floor.percent) / 100 : floor.bytes };
}
