import type { Op, OpResult } from "../protocol/messages.ts";
import type { GcRunReport } from "./gc.ts";
import { MetricsRegistry } from "./metrics.ts";
import type { Share } from "./share-registry.ts";

/** A connection's own byte counts (protocol/peer.ts keeps them), and whose they are once it said hello. */
export interface Traffic {
  clientId: string | undefined;
  bytesIn: number;
  bytesOut: number;
}

/**
 * What the server counts, in one registry: sessions and commits feed it, `/metrics` renders it.
 * The byte counters' names are read by the benchmarks (bench/): keep them.
 */
export class ServerMetrics {
  readonly registry = new MetricsRegistry();
  private readonly r = this.registry;
  private readonly sessions = this.r.gauge("dropsim_sessions_connected", "Client connections open now, before and after hello");
  private readonly commits = this.r.counter("dropsim_commits_total", "Apply batches that added to a share's journal", ["share"]);
  private readonly conflicts = this.r.counter("dropsim_conflicts_total", "Ops answered conflict: made on a version that is no longer current", ["share"]);
  private readonly ops = this.r.counter("dropsim_ops_total", "Ops of apply batches, by kind and outcome (ok, conflict, error)", ["op", "result"]);
  private readonly refusals = this.r.counter("dropsim_auth_refusals_total", "Connections refused before or instead of serving them: bad or missing token, too many waiting, too slow, too many bytes", ["reason"]);
  private readonly errors = this.r.counter("dropsim_errors_total", "Errors told to clients, as error replies or op results, by code", ["code"]);
  private readonly blocks = this.r.counter("dropsim_blocks_stored_total", "Blocks received and written to a share's block store", ["share"]);
  private readonly blockBytes = this.r.counter("dropsim_block_bytes_stored_total", "Bytes of the blocks received and written to a share's block store", ["share"]);
  private readonly deduplicated = this.r.counter("dropsim_blocks_deduplicated_total", "Blocks a client offered that the share already held, so they were not sent", ["share"]);
  private readonly head = this.r.gauge("dropsim_journal_head", "The last sequence number of a share's journal", ["share"]);
  private readonly commitSeconds = this.r.histogram("dropsim_commit_duration_seconds", "Time to answer an apply batch: blocks checked and synced, ops committed", ["share"]);
  private readonly pushSeconds = this.r.histogram("dropsim_push_fanout_seconds", "Time from a commit to its push being queued for one session", ["share"]);
  private readonly bytesIn = this.r.counter("dropsim_bytes_received_total", "Bytes received from clients, frames included");
  private readonly bytesOut = this.r.counter("dropsim_bytes_sent_total", "Bytes sent to clients, frames included");
  private readonly clientIn = this.r.counter("dropsim_session_bytes_received_total", "Bytes received from a client id, over all its sessions", ["client"]);
  private readonly gcRuns = this.r.counter("dropsim_gc_runs_total", "Garbage collections run (dry runs not counted)");
  private readonly gcSeconds = this.r.histogram("dropsim_gc_duration_seconds", "Time to collect garbage over every share", [], [0.1, 1, 5, 15, 60, 300, 1800]);
  private readonly gcRows = this.r.counter("dropsim_gc_versions_dropped_total", "Journal rows garbage collection dropped as outside retention", ["share"]);
  private readonly gcBlocks = this.r.counter("dropsim_gc_blocks_deleted_total", "Blocks garbage collection deleted as referenced by no retained version", ["share"]);
  private readonly gcBytes = this.r.counter("dropsim_gc_disk_bytes_reclaimed_total", "Bytes of pack files garbage collection gave back to the disk", ["share"]);
  private readonly pushObservers = new Map<string, (seconds: number) => void>();
  private readonly clientOut = this.r.counter("dropsim_session_bytes_sent_total", "Bytes sent to a client id, over all its sessions", ["client"]);

  render(): string {
    return this.registry.render();
  }

  /**
   * Counts a connection while it is open. Its bytes are read with `traffic` at each render (and
   * at the end), not counted frame by frame; those before hello count for the client once it
   * is known. Returns the function to call when the connection ends.
   */
  sessionOpened(traffic: () => Traffic): () => void {
    this.sessions.inc();
    const seen = { in: 0, out: 0, clientIn: 0, clientOut: 0 };
    const collect = () => {
      const { clientId: client, bytesIn, bytesOut } = traffic();
      this.bytesIn.inc({}, bytesIn - seen.in);
      this.bytesOut.inc({}, bytesOut - seen.out);
      [seen.in, seen.out] = [bytesIn, bytesOut];
      if (client === undefined) return;
      this.clientIn.inc({ client }, bytesIn - seen.clientIn);
      this.clientOut.inc({ client }, bytesOut - seen.clientOut);
      [seen.clientIn, seen.clientOut] = [bytesIn, bytesOut];
    };
    const remove = this.registry.onRender(collect);
    return () => {
      collect();
      remove();
      this.sessions.dec();
    };
  }

  /** Keeps the share's journal head current from its feed; returns the function that stops it. */
  async followJournal(share: Share): Promise<() => void> {
    const head = await share.meta.head();
    this.head.set({ share: share.name }, head);
    return share.subscribe(head, (notice) => this.head.set({ share: share.name }, notice.head));
  }

  authRefused(reason: string): void {
    this.refusals.inc({ reason });
  }

  errorTold(code: string): void {
    this.errors.inc({ code });
  }

  /** `results` as the client was told them, one per op. */
  applied(share: Share, ops: readonly Op[], results: readonly OpResult[], changed: boolean, seconds: number): void {
    const labels = { share: share.name };
    if (changed) this.commits.inc(labels);
    results.forEach((r, i) => {
      this.ops.inc({ op: ops[i]!.op, result: r.status });
      if (r.status === "conflict") this.conflicts.inc(labels);
      if (r.status === "error") this.errorTold(r.code);
    });
    this.commitSeconds.observe(labels, seconds);
  }

  blockStored(share: Share, size: number): void {
    this.blocks.inc({ share: share.name });
    this.blockBytes.inc({ share: share.name }, size);
  }

  /** A client asked which of `offered` (distinct hashes) to send; the share lacked `missing` of them. */
  blocksOffered(share: Share, offered: number, missing: number): void {
    this.deduplicated.inc({ share: share.name }, offered - missing);
  }

  gcRan(report: GcRunReport, seconds: number): void {
    if (report.dryRun) return;
    this.gcRuns.inc();
    this.gcSeconds.observe({}, seconds);
    for (const r of report.shares) {
      const labels = { share: r.share };
      this.gcRows.inc(labels, r.rowsDropped);
      this.gcBlocks.inc(labels, r.blocksDeleted);
      this.gcBytes.inc(labels, Math.max(0, r.compaction.before - r.compaction.after));
    }
  }

  /** Called once per session for every commit: the series is looked up once per share. */
  pushed(share: Share, seconds: number): void {
    let observe = this.pushObservers.get(share.name);
    if (!observe) this.pushObservers.set(share.name, (observe = this.pushSeconds.observer({ share: share.name })));
    observe(seconds);
  }
}
