import * as path from "node:path";
import { findSyncedFolder, type SyncedFolder, wirePathIn } from "../client/one-shot.ts";
import { shellWord } from "../client/log-sink.ts";
import { sayingRefusals as sayingAdminRefusals } from "./admin.ts";
import { formatLocalTime, formatUtcTime, type ZoneOffset } from "../core/time-spec.ts";

/*
 * What `history`, `trash` and `restore` share: finding the synced folder and the share's path
 * from what the user typed, saying who made a change and when, and their exit codes.
 */

/** The zone of this process: local times are read and printed in it. */
export const systemZone: ZoneOffset = (utcMs) => -new Date(utcMs).getTimezoneOffset();

export interface Target {
  folder: SyncedFolder;
  /** The path on the share; "" for the whole share. */
  wire: string;
  /** Where it is (or was) on this disk. */
  local: string;
}

/** The synced folder around `arg` (relative to the working directory) and `arg`'s path in the share. */
export async function resolveTarget(arg: string): Promise<Target> {
  const local = path.resolve(arg);
  const folder = await findSyncedFolder(local);
  return { folder, wire: wirePathIn(folder.root, local), local };
}

/** "laptop (3f2a9c)": the host a change came from and the start of its client id. */
export function clientLabel(host: string | null, clientId: string | null): string {
  if (clientId === null) return host ?? "-";
  return `${host ?? "unknown host"} (${clientId.replaceAll("-", "").slice(0, 6)})`;
}

export function localTime(at: number | null): string {
  return at === null ? "-" : formatLocalTime(at, systemZone);
}

export function utcTime(at: number | null): string | null {
  return at === null ? null : formatUtcTime(at);
}

/** The command that names `wire` of `root` from the working directory. */
export function commandFor(verb: string, root: string, wire: string): string {
  const rel = path.relative(process.cwd(), path.join(root, ...wire.split("/")));
  return `dropsim ${verb} ${shellWord(rel === "" ? "." : rel)}`;
}

/** A refusal is one line and an exit code a script can tell apart, not a stack trace. */
export function sayingRefusals(log: { error(message: string): void }, fn: () => Promise<void>): Promise<void> {
  return sayingAdminRefusals(log, fn);
}
