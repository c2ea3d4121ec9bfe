import * as path from "node:path";
import { DropsimError } from "../core/errors.ts";
import { formatBytes } from "../core/units.ts";
import { loadRuntime } from "../runtime/index.ts";
import type { AccessStore } from "../store/access-store.ts";
import { openAccessStore } from "../store/open.ts";
import { exitCodeFor } from "./exit-codes.ts";

/*
 * What `dropsim share` and `dropsim token` have in common: they change a data dir's access.db
 * whether or not a server runs on it (SQLite in WAL mode lets both at once; the server notices
 * within a fraction of a second).
 */

export const dataArg = { data: { type: "string", description: "The server's data dir", default: "./dropsim-data" } } as const;

export async function withAccess<T>(data: string, fn: (access: AccessStore, root: string) => Promise<T> | T): Promise<T> {
  const root = path.resolve(data);
  const runtime = await loadRuntime();
  const access = await openAccessStore(root, runtime);
  try {
    return await fn(access, root);
  } finally {
    access.close();
  }
}

export function isoTime(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString();
}

export function quotaText(quota: number | null): string {
  return quota === null ? "none" : formatBytes(quota);
}

/** Rows as aligned columns under a header, as `ls -l` and `docker ps` print them. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  return [header, ...rows].map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join("  ").trimEnd()).join("\n");
}

/** A refusal (no such share, a bad name) is one line and a failing exit code (cli/exit-codes.ts), not a stack trace. */
export async function sayingRefusals(log: { error(message: string): void }, fn: () => Promise<void>): Promise<void> {
  try {
    await fn();
  } catch (e) {
    if (!(e instanceof DropsimError)) throw e;
    log.error(e.message);
    process.exitCode = exitCodeFor(e);
  }
}
