/**
 * Everything the sync client does that anyone outside it may want to know, as typed events.
 * Planning and applying code emits these and never logs: the log sink, `status` and the
 * benchmarks all read this one stream (client/log-sink.ts turns it into log lines).
 */

import type { RateLimits } from "../core/rate.ts";

/** Which way a file's bytes travel. */
export type Direction = "upload" | "download";

export type SyncEvent =
  // The connection.
  /** `offlineForMs`: how long the client had been without a connection, if it had been. */
  | { type: "connected"; server: string; serverId: string; head: number; reconnected: boolean; offlineForMs?: number }
  /** The one warning of a lost connection; the attempts that follow are `unreachable` at debug level. */
  | { type: "disconnected"; server: string; reason: string }
  /**
   * An attempt to connect failed; `reason` is a sentence naming the server (`code` its error's).
   * `firstAttempt`: the first of a stretch offline, said as a warning (`retryEveryMs`: how often
   * the link tries, at most). `offlineForMs` is set on the reminder due every few minutes offline.
   */
  | { type: "unreachable"; server: string; reason: string; code?: string; retryInMs: number; retryEveryMs?: number; firstAttempt: boolean; offlineForMs?: number }
  | { type: "server_said"; message: string }
  /** A frame the server sent that breaks the protocol (the connection goes on). */
  | { type: "server_invalid"; reason: string }
  /**
   * Trying again cannot help, so the client stopped: a refused token (`code` no_token,
   * unknown_token, revoked, expired, wrong_share), another server identity (fingerprint_mismatch,
   * with the certificate `presented`), plaintext to a TLS-only server (tls_required), or another
   * protocol version. `reason` is the server's (or the check's) own sentence.
   */
  | { type: "stopped"; code: string; reason: string; server: string; root: string; share?: string; presented?: string }
  // A pass: what was planned (counts), and the folder agreeing with the server at its end.
  // `waiting`: changed files found but left to later passes (over a pass's reading budget).
  | { type: "pass_planned"; downloads: number; downloadBytes: number; uploads: number; uploadBytes: number; deletions: number; moves: number; conflicts: number; held: number; waiting?: number }
  | { type: "pass_failed"; reason: string; retryInMs: number }
  /** `files`/`bytes`: what the synced folder holds (absent from tests that build events by hand). */
  | { type: "idle"; files?: number; bytes?: number }
  /** What a pass is doing before it transfers: walking the folder, or reading changed files (`files`, `bytes`). */
  | { type: "phase"; phase: "scanning" | "hashing"; files?: number; bytes?: number }
  // One file's transfer.
  | { type: "file_started"; path: string; direction: Direction; bytes: number; resumedFrom?: number }
  | { type: "file_progress"; path: string; direction: Direction; done: number; bytes: number }
  | { type: "file_done"; path: string; direction: Direction; bytes: number; version: number }
  | { type: "file_failed"; path: string; direction: Direction; reason: string; retry: boolean }
  // Local changes made for the server's sake.
  | { type: "moved"; from: string; to: string }
  | { type: "linked"; path: string; target: string }
  // Both sides changed one file: `copy` holds the version that lost the name. `side` says whether
  // this replica moved its own version aside, or received the other replica's copy.
  | { type: "conflict"; path: string; copy: string; side: "local" | "remote"; host?: string }
  | { type: "case_conflict"; path: string; placedAs: string; clash?: string }
  // Entries that cannot be synced (reported once, retried), and when they can again.
  | { type: "problem"; path: string; reason: string; retryInMs: number }
  | { type: "problem_cleared"; path: string; gone: boolean }
  /** A file that syncs without part of what it holds (extended attributes past the limit, …). */
  | { type: "note"; path: string; reason: string }
  /** A download that would leave less free space than the user keeps (`keep`, as they said it: "1%", "500 MiB"). */
  | { type: "waiting_for_space"; path: string; bytes: number; free: number; keep: string; again: boolean }
  /** A file written without its extended attributes: this file system keeps none. */
  | { type: "xattrs_unsupported"; path: string }
  /** A local change kept here and not sent: the share is read-only for this folder's token. */
  | { type: "not_uploaded"; path: string; reason: string }
  | { type: "not_uploaded_cleared"; path: string }
  | { type: "refused"; op: "put" | "delete" | "move"; path: string; code: string; message: string; retry: boolean }
  /** The server accepted one of our ops (`version`: the last entry it made, if any). */
  | { type: "committed"; op: "put" | "delete" | "move"; path: string; version?: number }
  // Deletions held for the user (a mass deletion), and the ones confirmed.
  | { type: "held_deletions"; count: number; root: string }
  | { type: "confirmed_deletions"; count: number }
  | { type: "rebase"; why: string }
  | { type: "ignore_rules"; rules: number; file: string }
  | { type: "warning"; message: string }
  // Issue 13: what the user changed on the running client (dropsim pause/resume/exclude/include/limit).
  | { type: "paused" }
  | { type: "resumed" }
  | { type: "excluded"; path: string; removed: boolean; keptChanged: string[] }
  | { type: "included"; path: string }
  | { type: "limits"; limits: RateLimits };

export type SyncEventType = SyncEvent["type"];
export type EventOf<T extends SyncEventType> = Extract<SyncEvent, { type: T }>;

/** Where events go: the client's one stream. */
export type Emit = (event: SyncEvent) => void;

/** A fan-out of events to any number of listeners (log sink, status, a test). */
export class SyncEvents {
  private readonly listeners = new Set<(event: SyncEvent) => void>();

  readonly emit: Emit = (event) => {
    for (const l of this.listeners) l(event);
  };

  /** Returns the unsubscribe function. */
  on(listener: (event: SyncEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
