import { describe, expect, test } from "bun:test";
import type { SyncEvent } from "../../src/client/events.ts";
import { foldStatus, initialStatus, STATUS_CONFLICTS, type StatusSnapshot } from "../../src/client/status.ts";

/** Folds `events`, the i-th at time 1000 + i. */
function fold(events: SyncEvent[], from: StatusSnapshot = initialStatus()): StatusSnapshot {
  return events.reduce((s, e, i) => foldStatus(s, e, 1000 + i), from);
}

const planned = (over: Partial<SyncEvent & { type: "pass_planned" }> = {}): SyncEvent => ({
  type: "pass_planned",
  downloads: 0,
  downloadBytes: 0,
  uploads: 0,
  uploadBytes: 0,
  deletions: 0,
  moves: 0,
  conflicts: 0,
  held: 0,
  ...over,
});

describe("foldStatus", () => {
  const rows: [string, SyncEvent[], Partial<StatusSnapshot>][] = [
    ["a client that has done nothing is neither connected nor up to date", [], { connected: false, upToDate: false }],
    [
      "connecting makes it connected since then",
      [{ type: "connected", server: "h:1", serverId: "s", head: 0, reconnected: false }],
      { connected: true, server: "h:1", since: 1000, whyNot: undefined },
    ],
    [
      "losing the connection says why, since when",
      [
        { type: "connected", server: "h:1", serverId: "s", head: 0, reconnected: false },
        { type: "disconnected", server: "h:1", reason: "closed" },
      ],
      { connected: false, since: 1001, whyNot: "closed" },
    ],
    [
      "a client that stopped for good says why",
      [
        { type: "connected", server: "h:1", serverId: "s", head: 0, reconnected: false },
        { type: "stopped", code: "revoked", reason: "This token was revoked", server: "h:1", root: "/d" },
      ],
      { connected: false, since: 1001, whyNot: "This token was revoked", upToDate: false },
    ],
    [
      "failed attempts keep the time the connection was lost",
      [
        { type: "disconnected", server: "h:1", reason: "closed" },
        { type: "unreachable", server: "h:1", reason: "refused", retryInMs: 250, firstAttempt: true },
      ],
      { connected: false, since: 1000, whyNot: "refused" },
    ],
    [
      "changed files a pass left to the next count as not read yet, and keep the folder from being up to date",
      [{ type: "idle" }, planned({ uploads: 500, uploadBytes: 5000, waiting: 3500 })],
      { upToDate: false, toRead: 3500, toUpload: { files: 500, bytes: 5000 } },
    ],
    [
      "idle has nothing left to read",
      [planned({ waiting: 10 }), { type: "idle" }],
      { upToDate: true, toRead: 0 },
    ],
    [
      "a plan tells what is left to send and fetch; files done take their bytes off",
      [
        planned({ uploads: 2, uploadBytes: 30, downloads: 1, downloadBytes: 100 }),
        { type: "file_done", path: "a", direction: "upload", bytes: 10, version: 4 },
      ],
      { toUpload: { files: 1, bytes: 20 }, toDownload: { files: 1, bytes: 100 }, upToDate: false },
    ],
    [
      "idle means up to date, with the time of it, and nothing left",
      [planned({ downloads: 1, downloadBytes: 5 }), { type: "idle" }],
      { upToDate: true, lastSync: 1001, toDownload: { files: 0, bytes: 0 } },
    ],
    [
      "a pass that plans work after idle is no longer up to date",
      [{ type: "idle" }, planned({ deletions: 1 })],
      { upToDate: false, lastSync: 1000 },
    ],
    [
      "a transfer shows its progress, and ends with its file",
      [
        { type: "file_started", path: "big", direction: "download", bytes: 100, resumedFrom: 20 },
        { type: "file_progress", path: "big", direction: "download", done: 60, bytes: 100 },
      ],
      { transfer: { path: "big", direction: "download", done: 60, bytes: 100 } },
    ],
    [
      "a transfer that failed is over",
      [
        { type: "file_started", path: "big", direction: "download", bytes: 100 },
        { type: "file_failed", path: "big", direction: "download", reason: "EIO", retry: true },
      ],
      { transfer: undefined },
    ],
    [
      "problems are listed with their reason until they clear",
      [
        { type: "problem", path: "a", reason: "locked", retryInMs: 5000 },
        { type: "problem", path: "b", reason: "bad name", retryInMs: 5000 },
        { type: "problem", path: "a", reason: "gone private", retryInMs: 5000 },
        { type: "problem_cleared", path: "b", gone: false },
      ],
      { problems: [{ path: "a", reason: "gone private" }] },
    ],
    [
      "local changes a read-only share does not take are listed until they are no longer left out",
      [
        { type: "not_uploaded", path: "a", reason: "read-only share" },
        { type: "not_uploaded", path: "b", reason: "read-only share" },
        { type: "not_uploaded_cleared", path: "a" },
      ],
      { notUploaded: [{ path: "b", reason: "read-only share" }] },
    ],
    [
      "conflicts are listed",
      [{ type: "conflict", path: "a", copy: "a (copy)", side: "local" }],
      { conflicts: [{ path: "a", copy: "a (copy)", side: "local" }] },
    ],
    [
      "held deletions are counted by every plan, and a confirmation empties them",
      [planned({ held: 1500 }), { type: "confirmed_deletions", count: 1500 }],
      { heldDeletions: 0 },
    ],
    [
      "a download waiting for space is listed until it arrives",
      [
        { type: "waiting_for_space", path: "a", bytes: 10, free: 0, keep: "1%", again: false },
        { type: "waiting_for_space", path: "b", bytes: 10, free: 0, keep: "1%", again: false },
        { type: "waiting_for_space", path: "a", bytes: 10, free: 0, keep: "1%", again: true },
        { type: "file_done", path: "b", direction: "download", bytes: 10, version: 2 },
      ],
      { waitingForSpace: ["a"] },
    ],
    [
      "a change the server refused is a problem until a change of that path is committed",
      [
        { type: "refused", op: "put", path: "big.iso", code: "quota_exceeded", message: 'Share "default" is over its quota', retry: false },
        { type: "refused", op: "put", path: "b", code: "disk_full", message: "The server's disk is full", retry: true },
        { type: "committed", op: "put", path: "b", version: 3 },
      ],
      { problems: [{ path: "big.iso", reason: 'the server refused it: Share "default" is over its quota' }] },
    ],
  ];
  test.each(rows)("%s", (_name, events, want) => {
    expect(fold(events)).toMatchObject(want);
  });

  test("foldStatus never changes the snapshot it is given", () => {
    const s = fold([planned({ uploads: 1, uploadBytes: 1 })]);
    const copy = structuredClone(s);
    foldStatus(s, { type: "file_done", path: "a", direction: "upload", bytes: 1, version: 1 }, 5);
    expect(s).toEqual(copy);
  });

  test("foldStatus keeps only the newest conflicts", () => {
    const events: SyncEvent[] = Array.from({ length: STATUS_CONFLICTS + 5 }, (_, i) => ({ type: "conflict", path: `f${i}`, copy: `c${i}`, side: "remote" }));
    const s = fold(events);
    expect(s.conflicts.length).toBe(STATUS_CONFLICTS);
    expect(s.conflicts.at(-1)!.path).toBe(`f${STATUS_CONFLICTS + 4}`);
  });
});
