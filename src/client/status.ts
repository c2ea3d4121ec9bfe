import type { RateLimits } from "../core/rate.ts";
import type { Direction, SyncEvent } from "./events.ts";

/** Conflicts a snapshot remembers, newest last: a client running for months must not grow without bound. */
export const STATUS_CONFLICTS = 100;

export interface Amount {
  files: number;
  bytes: number;
}

/** Where a sync client stands, as `dropsim status` shows it. Plain data: it serialises as is. */
export interface StatusSnapshot {
  connected: boolean;
  /** The server, once the client tried to reach it. */
  server?: string;
  /** Since when (ms since the epoch) the client has been connected, or not. */
  since?: number;
  /** Why it is not connected. */
  whyNot?: string;
  /** The folder and the server agreed at the end of the last pass, and nothing happened since. */
  upToDate: boolean;
  /** What the current pass still has to send and fetch (files only). */
  toUpload: Amount;
  toDownload: Amount;
  /** Changed files found here but not read yet: a pass reads a bounded number, the rest wait for the next. */
  toRead: number;
  /** The file whose bytes travel now. */
  transfer?: { path: string; direction: Direction; done: number; bytes: number };
  conflicts: { path: string; copy: string; side: "local" | "remote" }[];
  /** Entries that cannot be synced now, with the reason. */
  problems: { path: string; reason: string }[];
  /** Local changes kept here and not sent (a read-only share), with the reason. */
  notUploaded: { path: string; reason: string }[];
  /** Downloads waiting for free space on the disk. */
  waitingForSpace: string[];
  /** Local deletions held for the user's confirmation (a mass deletion). */
  heldDeletions: number;
  /** When the folder and the server last agreed (ms since the epoch). */
  lastSync?: number;
  /** Paused by \`dropsim pause\` (issue 13): nothing syncs until \`resume\`. */
  paused: boolean;
  /** Paths left out by selective sync (\`dropsim exclude\`). */
  excluded: string[];
  limits: RateLimits;
}

export function initialStatus(): StatusSnapshot {
  return {
    connected: false,
    upToDate: false,
    toUpload: NOTHING,
    toDownload: NOTHING,
    toRead: 0,
    conflicts: [],
    problems: [],
    notUploaded: [],
    waitingForSpace: [],
    heldDeletions: 0,
    paused: false,
    excluded: [],
    limits: { up: null, down: null },
  };
}

const NOTHING: Amount = { files: 0, bytes: 0 };

/** The snapshot after `e`, which happened at `now` (ms since the epoch). Pure: `s` is not changed. */
export function foldStatus(s: StatusSnapshot, e: SyncEvent, now: number): StatusSnapshot {
  switch (e.type) {
    case "connected":
      return { ...s, connected: true, server: e.server, since: now, whyNot: undefined };
    case "disconnected":
      return { ...s, connected: false, server: e.server, since: now, whyNot: e.reason, upToDate: false, transfer: undefined };
    case "unreachable":
      return { ...s, connected: false, server: e.server, since: s.connected || s.since === undefined ? now : s.since, whyNot: e.reason, upToDate: false };
    case "stopped":
      return { ...s, connected: false, since: now, whyNot: e.reason, upToDate: false };
    case "pass_planned":
      return {
        ...s,
        upToDate: s.upToDate && e.uploads + e.downloads + e.deletions + e.moves + e.conflicts + (e.waiting ?? 0) === 0,
        toUpload: { files: e.uploads, bytes: e.uploadBytes },
        toRead: e.waiting ?? 0,
        toDownload: { files: e.downloads, bytes: e.downloadBytes },
        heldDeletions: e.held,
      };
    case "pass_failed":
      return { ...s, upToDate: false, transfer: undefined };
    case "idle":
      return { ...s, upToDate: true, lastSync: now, toUpload: NOTHING, toDownload: NOTHING, toRead: 0, transfer: undefined };
    case "file_started":
      return { ...s, upToDate: false, transfer: { path: e.path, direction: e.direction, done: e.resumedFrom ?? 0, bytes: e.bytes } };
    case "file_progress":
      return { ...s, transfer: { path: e.path, direction: e.direction, done: e.done, bytes: e.bytes } };
    case "file_done":
    case "file_failed": {
      const transfer = s.transfer?.path === e.path ? undefined : s.transfer;
      if (e.type === "file_failed") return { ...s, transfer };
      const left = e.direction === "upload" ? "toUpload" : "toDownload";
      const waitingForSpace = s.waitingForSpace.includes(e.path) ? s.waitingForSpace.filter((p) => p !== e.path) : s.waitingForSpace;
      return { ...s, transfer, waitingForSpace, [left]: _less(s[left], e.bytes) };
    }
    case "conflict":
      return { ...s, conflicts: [...s.conflicts, { path: e.path, copy: e.copy, side: e.side }].slice(-STATUS_CONFLICTS) };
    case "problem":
      return { ...s, problems: [...s.problems.filter((p) => p.path !== e.path), { path: e.path, reason: e.reason }] };
    case "problem_cleared":
      return { ...s, problems: s.problems.filter((p) => p.path !== e.path) };
    // A change the server refused (over quota, its disk full) did not sync until one is committed.
    case "refused":
      return { ...s, problems: [...s.problems.filter((p) => p.path !== e.path), { path: e.path, reason: `the server refused it: ${e.message}` }] };
    case "committed":
      return s.problems.some((p) => p.path === e.path) ? { ...s, problems: s.problems.filter((p) => p.path !== e.path) } : s;
    case "not_uploaded":
      return { ...s, notUploaded: [...s.notUploaded.filter((p) => p.path !== e.path), { path: e.path, reason: e.reason }] };
    case "not_uploaded_cleared":
      return { ...s, notUploaded: s.notUploaded.filter((p) => p.path !== e.path) };
    case "waiting_for_space":
      return s.waitingForSpace.includes(e.path) ? s : { ...s, waitingForSpace: [...s.waitingForSpace, e.path] };
    case "held_deletions":
      return { ...s, heldDeletions: Math.max(s.heldDeletions, e.count) };
    case "confirmed_deletions":
      return { ...s, heldDeletions: 0 };
    case "paused":
      return { ...s, paused: true, upToDate: false, transfer: undefined };
    case "resumed":
      return { ...s, paused: false };
    case "excluded":
      return s.excluded.includes(e.path) ? s : { ...s, excluded: [...s.excluded, e.path].sort() };
    case "included":
      return { ...s, excluded: s.excluded.filter((p) => p !== e.path) };
    case "limits":
      return { ...s, limits: e.limits };
    default:
      return s;
  }
}

function _less(a: Amount, bytes: number): Amount {
  return { files: Math.max(0, a.files - 1), bytes: Math.max(0, a.bytes - bytes) };
}
