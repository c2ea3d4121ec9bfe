import type { IgnoreRules } from "../core/ignore-rules.ts";
import type { Resumable, ResumeTarget, TempDirs } from "../fsutil/temp-dirs.ts";
import type { Runtime } from "../runtime/types.ts";
import type { BlockFetcher } from "./block-fetcher.ts";
import type { Emit } from "./events.ts";
import type { LocalIndex } from "./local-index.ts";
import type { Throttle } from "./rate-limit.ts";

/** The free space downloads must leave on the sync folder's disk: a share of it, or a size. */
export type DiskFloor = { percent: number } | { bytes: number };

/** What every step of a sync pass needs; built once per client. */
export interface SyncContext {
  root: string;
  /** Where partial downloads are written (inside `.dropsim/`). */
  tmpDirs: TempDirs;
  hostName: string;
  /** This client's id: conflict copies carry its first characters. */
  clientId: string;
  index: LocalIndex;
  ignored: IgnoreRules;
  fetcher: BlockFetcher;
  /** Every block sent or fetched waits here: pauses and bandwidth limits. */
  throttle: Throttle;
  emit: Emit;
  /** Extended attributes (read by the scan, written to a download's temp file), kernel copies and buffer reclaiming. */
  runtime: Pick<Runtime, "xattrs" | "copyRange" | "reclaimAfter" | "syncDir">;
  /** Local deletions above this many (and over half the folder) wait for confirmation. */
  massDeleteLimit: number;
  /** The user confirmed the deletions held last (--confirm-deletes): send exactly those. */
  confirmDeletes: boolean;
  /** Downloads that would leave less free space than this wait (Syncthing's minDiskFree). */
  minDiskFree: DiskFloor;
  /** Downloads waiting for space, each reported once until it fits (what `status` will list). */
  waitingForSpace: Set<string>;
  /**
   * The folder's file system finds a name under another case or Unicode normalisation (macOS,
   * Windows, casefold): a download must not land on another spelling of its name.
   */
  foldsNames: boolean;
  /** Files other clients are still uploading, streamed here ahead of their commit; a download claims its own. */
  prefetcher?: { claim(target: ResumeTarget): Promise<Resumable | undefined> };
  /** Asks for `path` (and everything below it) to be looked at again in a later pass. */
  markDirty(path: string): void;
  /** A folder now exists that the watcher may not be watching yet. */
  folderAppeared(path: string): void;
}
