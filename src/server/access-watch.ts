import { describeError } from "../core/errors.ts";
import type { Log } from "../core/log.ts";
import type { AccessStore } from "../store/access-store.ts";
import { tokenProblem } from "./authenticate.ts";
import type { GarbageCollector, GcOutcome } from "./gc.ts";
import type { ServerMetrics } from "./server-metrics.ts";
import type { Session } from "./session.ts";
import type { ShareRegistry } from "./share-registry.ts";

/** How often a running server looks for changes the CLI made to access.db: revocation takes at most this long. */
export const ACCESS_POLL_MS = 200;
/** "Last used" is a day-to-day hint, not an audit log: one write per token per minute at most. */
const TOUCH_EVERY_MS = 60_000;

/**
 * Keeps a running server in step with its access store: shares created or removed by
 * `dropsim share`, tokens revoked by `dropsim token revoke` (their sessions are refused and
 * closed), tokens that expire while in use, and GC requests left by `dropsim gc` (run one at a
 * time, beside the ticks, their outcome written back). `PRAGMA data_version` tells cheaply
 * whether another process wrote; expiry is checked at every tick regardless.
 */
export class AccessWatch {
  private seen: number;
  private busy = false;
  private readonly touched = new Map<string, number>();
  private readonly journals = new Map<string, () => void>();
  /** GC requests handed to the collector, so a later tick does not run them twice. */
  private readonly gcTaken = new Set<number>();

  constructor(
    private readonly access: AccessStore,
    private readonly shares: ShareRegistry,
    private readonly sessions: () => Iterable<Session>,
    private readonly metrics: ServerMetrics,
    private readonly log: Log,
    private readonly gc?: GarbageCollector,
  ) {
    this.seen = access.dataVersion();
  }

  /** Hands every waiting GC request to the collector (at start, and when access.db changed). */
  takeGcRequests(): void {
    if (!this.gc) return;
    for (const req of this.access.pendingGc()) {
      if (this.gcTaken.has(req.id)) continue;
      this.gcTaken.add(req.id);
      this.log.info(`Running the garbage collection asked by dropsim gc${req.dryRun ? " (dry run)" : ""}`);
      this.gc
        .run({ grace: req.grace, dryRun: req.dryRun })
        .then(
          (report): GcOutcome => ({ report }),
          (e): GcOutcome => ({ error: describeError(e) }),
        )
        .then((outcome) => this.access.finishGc(req.id, JSON.stringify(outcome), Date.now()))
        .catch((e) => this.log.error("Cannot write back the outcome of a GC request:", e));
    }
  }

  /** Opens every share the access store lists (at start, and after a change). */
  async openShares(): Promise<void> {
    const listed = new Set(this.access.shares().map((s) => s.name));
    for (const name of listed) {
      if (this.journals.has(name)) continue;
      const share = this.shares.get(name) ?? (await this.shares.open(name));
      this.journals.set(name, await this.metrics.followJournal(share));
    }
    for (const name of this.shares.names()) {
      if (listed.has(name)) continue;
      this.journals.get(name)?.();
      this.journals.delete(name);
      await this.shares.close(name);
      this.log.info(`Share "${name}" was removed`);
    }
  }

  async tick(now: number): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      const version = this.access.dataVersion();
      const changed = version !== this.seen;
      this.seen = version;
      for (const session of this.sessions()) {
        const p = session.state === "ready" ? session.principal : undefined;
        if (!p || (!changed && (p.expires === null || p.expires > now))) continue;
        const problem = tokenProblem(p.tokenId, this.access.token(p.tokenId), now);
        if (problem) session.refuse(problem, undefined);
      }
      if (changed) {
        await this.openShares();
        this.takeGcRequests();
      }
    } finally {
      this.busy = false;
    }
  }

  used(tokenId: string, now: number): void {
    const last = this.touched.get(tokenId);
    if (last !== undefined && now - last < TOUCH_EVERY_MS) return;
    this.touched.set(tokenId, now);
    this.access.touchToken(tokenId, now);
  }

  stop(): void {
    for (const stop of this.journals.values()) stop();
    this.journals.clear();
  }
}
