import { DropsimError } from "../core/errors.ts";
import type { SqlDatabase } from "../runtime/types.ts";

/** SQLite's "disk full" in both runtimes' wordings (bun:sqlite and node:sqlite). */
function isDiskFull(e: unknown): boolean {
  const code = (e as { code?: unknown }).code;
  return code === "SQLITE_FULL" || /database or disk is full|SQLITE_FULL/i.test(String((e as Error)?.message ?? e));
}

/**
 * Runs `fn` in a transaction. On failure the transaction is rolled back if SQLite has not
 * already done so (it has, after SQLITE_FULL: a second ROLLBACK would throw and hide the real
 * error), and a full disk is reported as such.
 */
export function inTransaction<T>(db: SqlDatabase, begin: string, what: string, fn: () => T): T {
  db.exec(begin);
  try {
    const result = fn();
    db.exec("COMMIT");
    return result;
  } catch (e) {
    try {
      db.exec("ROLLBACK");
    } catch {
      // Already rolled back by SQLite itself.
    }
    if (isDiskFull(e)) throw new DropsimError("disk_full", `Cannot ${what}: the server's disk is full`, { cause: e });
    throw e;
  }
}
