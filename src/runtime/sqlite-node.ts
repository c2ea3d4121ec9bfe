import { DatabaseSync } from "node:sqlite";
import type { SqlDatabase, SqlStatement, SqlValue } from "./types.ts";

/** `node:sqlite`, available under Deno and Node 22+. */
export function openNodeDatabase(path: string): SqlDatabase {
  const db = new DatabaseSync(path);
  return {
    exec: (sql) => db.exec(sql),
    prepare(sql): SqlStatement {
      const stmt = db.prepare(sql);
      return {
        run: (...params) => void stmt.run(...params),
        get: <T>(...params: SqlValue[]) => stmt.get(...params) as T | undefined,
        all: <T>(...params: SqlValue[]) => stmt.all(...params) as T[],
      };
    },
    close: () => db.close(),
  };
}
