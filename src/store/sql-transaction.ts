import { DropsimError } from "../core/errors.ts";
import type { SqlDatabase } from "../runtime/types.ts";

/** SQLite's "disk full" in both runtimes' wordings (bun:sqlite and node:sqlite). */
function isDiskFull(e: unknown): boolean {
  const code = (e as { code?: unknown }).code;
  return code === "SQLITE_FULL" || /database or disk is full|SQLITE_FULL/i.test(String((e as Error)?.message ?? e));
}

/**
 * Transactions on one database; a transaction inside another joins it. On failure the
 * transaction is rolled back unless SQLite already did (it does after SQLITE_FULL, and a second
 * ROLLBACK would throw and hide the real error), and a full disk is reported as such.
 */
export class SqlTransactions {
  private depth = 0;

  constructor(
    private readonly db: SqlDatabase,
    private readonly begin = "BEGIN",
  ) {}

  run<T>(what: string, fn: () => T): T {
    if (this.depth > 0) return fn();
    this.db.exec(this.begin);
    this.depth++;
    try {
      const result = fn();
      this.db.exec("COMMIT");
      return result;
    } catch (e) {
      throw this._failed(what, e);
    } finally {
      this.depth--;
    }
  }

  /**
   * A transaction whose body awaits. It cannot join or be joined: other code runs while `fn`
   * awaits, so the caller runs these one at a time on a connection nothing else writes through.
   */
  async runAsync<T>(what: string, fn: () => Promise<T>): Promise<T> {
    this.db.exec(this.begin);
    try {
      const result = await fn();
      this.db.exec("COMMIT");
      return result;
    } catch (e) {
      throw this._failed(what, e);
    }
  }

  private _failed(what: string, e: unknown): unknown {
    try {
      this.db.exec("ROLLBACK");
    } catch {
      // Already rolled back by SQLite itself.
    }
    if (isDiskFull(e)) return new DropsimError("disk_full", `Cannot ${what}: the disk is full`, { cause: e });
    return e;
  }
}
