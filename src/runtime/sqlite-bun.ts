import { Database } from "bun:sqlite";
import type { SqlDatabase, SqlStatement, SqlValue } from "./types.ts";

export function openBunDatabase(path: string): SqlDatabase {
  const db = new Database(path, { create: true, strict: true });
  return {
    exec: (sql) => db.run(sql),
    prepare(sql): SqlStatement {
      const stmt = db.prepare<unknown, SqlValue[]>(sql);
      return {
        run: (...params) => void stmt.run(...params),
        get: <T>(...params: SqlValue[]) => (stmt.get(...params) ?? undefined) as T | undefined,
        all: <T>(...params: SqlValue[]) => stmt.all(...params) as T[],
      };
    },
    close: () => db.close(),
  };
}
