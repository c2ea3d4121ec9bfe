import { DropsimError } from "../core/errors.ts";
import type { SqlDatabase } from "../runtime/types.ts";

/**
 * Brings a database written by an older version up to date, one numbered step per
 * `PRAGMA user_version`, each in its own transaction with its new number (a crash repeats at
 * most the step it was in). A file written by a newer version is refused: `what` names it in
 * the sentence ("This data dir's meta.db").
 */
export function migrate(db: SqlDatabase, steps: readonly string[], what: string): void {
  const version = db.prepare("PRAGMA user_version").get<{ user_version: number }>()!.user_version;
  if (version > steps.length) {
    throw new DropsimError("newer_format", `${what} was written by a newer dropsim (format ${version}, this one knows up to ${steps.length}): use that version or newer`);
  }
  // IMMEDIATE: a second process opening the same file waits instead of migrating it twice.
  for (let v = version; v < steps.length; v++) db.exec(`BEGIN IMMEDIATE; ${steps[v]} PRAGMA user_version = ${v + 1}; COMMIT;`);
}
