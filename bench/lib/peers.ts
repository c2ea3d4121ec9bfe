import { absentFigure, type Figure, figure, GiB, type Samples, type Target } from "./workload.ts";

/**
 * How a workload puts a peer (rsync, Syncthing) beside dropsim: the peer's own figure, then
 * dropsim / peer: the median of per-run ratios, each of two figures measured in the same run, so
 * that it holds however loaded the machine was. A peer that is absent keeps its rows, with why.
 */
export interface PeerRow {
  /** How the table names the peer's figure, e.g. "Syncthing 1.19 (watcher delay 1 s)". */
  name: string;
  /** How the ratio's row names it, e.g. "Syncthing". */
  short: string;
  /** The key of the peer's samples in `Samples`. */
  key: string;
  /** The key of the per-run ratios dropsim / peer (see `ratio`). */
  ratioKey: string;
  unit: string;
  /** Why there are no samples (not installed, turned off); undefined when the peer ran. */
  absent: string | undefined;
  /** On the ratio dropsim / peer. */
  target?: Target;
}

export function peerFigures(id: string, s: Samples, row: PeerRow, quick: boolean): Figure[] {
  const ratioName = `  dropsim / ${row.short}`;
  if (row.absent) return [absentFigure(id, row.name, row.absent), absentFigure(id, ratioName, row.absent, row.target)];
  return [figure(id, row.name, row.unit, s.get(row.key)), figure(id, ratioName, "×", s.get(row.ratioKey), row.target, quick)];
}

/** dropsim / peer for one run; undefined when either did not run. */
export function ratio(dropsim: number | undefined, peer: number | undefined): number | undefined {
  return dropsim === undefined || peer === undefined || peer === 0 ? undefined : dropsim / peer;
}

/** CPU seconds per GiB of file content synced: the figure that does not depend on the machine's load. */
export function perGiB(cpuSeconds: readonly number[], bytes: number): number {
  return cpuSeconds.reduce((a, b) => a + b, 0) / (bytes / GiB);
}

export const CPU_PER_GIB_TARGET: Target = { op: "<=", value: 4, text: "≤ 4 s/GiB" };

/** Issue 14: dropsim ahead of Syncthing, i.e. dropsim / Syncthing below 1. */
export const AHEAD_OF_SYNCTHING: Target = { op: "<=", value: 1, text: "< 1× (ahead of Syncthing)" };

/**
 * Copies `src` to `dst` with `cp`, as a user would: the copy's pages are left dirty (no sync),
 * and `--reflink=never` keeps a copy-on-write filesystem from sharing the blocks instead.
 */
export function copyLikeUser(src: string, dst: string): void {
  const cp = Bun.spawnSync(["cp", "--reflink=never", src, dst], { stdin: "ignore" });
  if (cp.exitCode !== 0) throw new Error(`cp ${src} ${dst} failed: ${cp.stderr.toString().trim()}`);
}
