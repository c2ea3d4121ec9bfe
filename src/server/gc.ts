import { DropsimError } from "../core/errors.ts";
import type { Log } from "../core/log.ts";
import { rowsToDrop } from "../core/retention.ts";
import { formatBytes } from "../core/units.ts";
import type { BlockStore, Compaction } from "../store/block-store.ts";
import type { MetaStore } from "../store/meta-store.ts";
import { Serial } from "../store/serial.ts";

/** How long a block nothing refers to is kept: an upload in flight commits within it (`gc --grace` changes it). */
export const DEFAULT_GRACE_MS = 24 * 3_600_000;
/** A pack file is rewritten once this share of its bytes is dead. */
export const COMPACT_THRESHOLD = 0.1;
/** Who the journal says ran garbage collection (it appends nothing, but a transaction has a stamp). */
const GC_CLIENT = "gc";

export interface GcShare {
  name: string;
  meta: MetaStore;
  blocks: BlockStore;
}

export interface GcOptions {
  keepDays: number;
  /** Ms an unreferenced block is kept after it was stored. */
  grace: number;
  now: number;
  /** Compute everything, change nothing. */
  dryRun: boolean;
}

/** What one share's GC reclaimed (or, dry, would reclaim). */
export interface GcReport {
  rowsDropped: number;
  blocksDeleted: number;
  /** The sizes of the deleted blocks, summed. */
  bytesDeleted: number;
  compaction: Compaction;
}

export interface ShareGcReport extends GcReport {
  share: string;
  keepDays: number;
}

/** One GC over every share: what `gc --json` prints and a server writes back to access.db. */
export interface GcRunReport {
  dryRun: boolean;
  /** Server ms when it ran. */
  at: number;
  shares: ShareGcReport[];
}

/** What a server writes back for a `dropsim gc` request (AccessStore.finishGc), as JSON. */
export type GcOutcome = { report: GcRunReport } | { error: string };

/** Carries a dry run's report out of its transaction, which it rolls back. */
class _DryRun {
  constructor(readonly report: Omit<GcReport, "compaction">) {}
}

/**
 * Drops the journal rows retention lets go, deletes the blocks no retained row refers to, then
 * compacts the packs. Invariants: rows, references and deletions are decided in ONE meta
 * transaction, and a commit checks its blocks inside its own (server/commit.ts), so no commit
 * can refer to a block deleted here. A block whose last reference was just dropped goes at
 * once; one nothing ever referred to is an upload in flight until `grace` has passed. Blocks
 * put but not yet synced are not listed, so never deleted.
 */
export async function collectGarbage(share: GcShare, opts: GcOptions): Promise<GcReport> {
  let reclaimed: Omit<GcReport, "compaction">;
  try {
    reclaimed = await share.meta.transaction({ clientId: GC_CLIENT, at: opts.now }, async (tx) => {
      const seqs = rowsToDrop(await tx.versions(), opts.keepDays, opts.now);
      const before = await tx.referencedBlocks();
      if (seqs.length > 0) await tx.drop(seqs);
      const retained = seqs.length > 0 ? await tx.referencedBlocks() : before;
      const doomed = (await share.blocks.list()).filter((b) => !retained.has(b.hash) && (before.has(b.hash) || b.storedAt < opts.now - opts.grace));
      const report = { rowsDropped: seqs.length, blocksDeleted: doomed.length, bytesDeleted: doomed.reduce((sum, b) => sum + b.size, 0) };
      if (opts.dryRun) throw new _DryRun(report);
      await share.blocks.delete(doomed.map((b) => b.hash));
      return report;
    });
  } catch (e) {
    if (!(e instanceof _DryRun)) throw e;
    reclaimed = e.report;
  }
  return { ...reclaimed, compaction: await share.blocks.compact(COMPACT_THRESHOLD, opts.dryRun) };
}

/** Whether the report found anything to reclaim. */
export function reclaimedAny(r: GcReport): boolean {
  return r.rowsDropped > 0 || r.blocksDeleted > 0 || r.compaction.packs > 0;
}

/** 'GC of share "x": dropped 3 versions, deleted 40 blocks (1.2 GiB), packs 3.4 GiB → 2.1 GiB'. */
export function describeShareGc(r: ShareGcReport, dryRun: boolean): string {
  const [drop, del] = dryRun ? ["would drop", "delete"] : ["dropped", "deleted"];
  return `GC of share "${r.share}"${dryRun ? " (dry run)" : ""}: ${drop} ${r.rowsDropped} versions, ${del} ${r.blocksDeleted} blocks (${formatBytes(r.bytesDeleted)}), packs ${formatBytes(r.compaction.before)} → ${formatBytes(r.compaction.after)}`;
}

/**
 * GC of a whole server, one run at a time: the daily timer, `dropsim gc` requests and the CLI
 * in-process all go through one of these. Each share is collected with its own retention.
 */
export class GarbageCollector {
  private readonly serial = new Serial();
  private runs = 0;
  private stopped = false;

  constructor(
    private readonly shares: () => GcShare[],
    private readonly keepDays: (share: string) => number,
    private readonly log: Log,
    /** Told every run's report with its duration (server metrics). */
    private readonly done: (report: GcRunReport, seconds: number) => void = () => {},
  ) {}

  /** Whether a run is going or waiting. */
  get busy(): boolean {
    return this.runs > 0;
  }

  /** Runs after any run already going. */
  run(opts: { grace: number; dryRun: boolean }, now: () => number = Date.now): Promise<GcRunReport> {
    this.runs++;
    return this.serial
      .run(() => this._run(opts, now()))
      .finally(() => {
        this.runs--;
      });
  }

  /** Refuses runs from now on and resolves once the one going (and those queued, refused) ended: the stores may then close. */
  stop(): Promise<void> {
    this.stopped = true;
    return this.serial.run(async () => {});
  }

  private async _run(opts: { grace: number; dryRun: boolean }, at: number): Promise<GcRunReport> {
    const started = performance.now();
    const report: GcRunReport = { dryRun: opts.dryRun, at, shares: [] };
    for (const share of this.shares()) {
      if (this.stopped) throw new DropsimError("closed", "Cannot collect garbage: the server is stopping");
      const keepDays = this.keepDays(share.name);
      const r: ShareGcReport = { share: share.name, keepDays, ...(await collectGarbage(share, { ...opts, keepDays, now: at })) };
      report.shares.push(r);
      if (reclaimedAny(r)) this.log.info(describeShareGc(r, opts.dryRun));
    }
    if (!report.shares.some(reclaimedAny)) this.log.info(`GC${opts.dryRun ? " (dry run)" : ""} found nothing to reclaim`);
    this.done(report, (performance.now() - started) / 1000);
    return report;
  }
}
