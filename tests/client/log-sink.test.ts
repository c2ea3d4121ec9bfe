import { expect, test } from "bun:test";
import type { SyncEvent } from "../../src/client/events.ts";
import { logSink } from "../../src/client/log-sink.ts";
import type { Log } from "../../src/core/log.ts";

/** [event, level, the line as tests and users read it (unchanged from before events)] */
const rows: [SyncEvent, keyof Log | "none", string][] = [
  [{ type: "connected", server: "h:1", serverId: "s", head: 4, reconnected: false }, "info", "Connected to h:1"],
  [{ type: "connected", server: "h:1", serverId: "s", head: 4, reconnected: true }, "info", "Reconnected to h:1"],
  [{ type: "disconnected", server: "h:1", reason: "Connection closed" }, "warn", "Lost connection to h:1: Connection closed; reconnecting"],
  [{ type: "unreachable", server: "h:1", reason: "cannot reach h:1: connection refused (is \"dropsim serve\" running there?)", retryInMs: 250, retryEveryMs: 4000, firstAttempt: true }, "warn", 'cannot reach h:1: connection refused (is "dropsim serve" running there?) — retrying every 4 s'],
  [{ type: "unreachable", server: "h:1", reason: "Connection lost: Connection closed", retryInMs: 1234, firstAttempt: false }, "debug", "cannot reach h:1: Connection lost: Connection closed; retrying in 1.2 s"],
  [{ type: "unreachable", server: "h:1", reason: "h:1 is not a dropsim server: it sent \"SSH-2.0\"", retryInMs: 3000, firstAttempt: false, offlineForMs: 300_000 }, "warn", "still cannot reach h:1: offline for 5 min"],
  [{ type: "connected", server: "h:1", serverId: "s", head: 4, reconnected: true, offlineForMs: 65_000 }, "info", "Reconnected to h:1 after 1 min 5 s offline"],
  [{ type: "server_said", message: "full" }, "warn", "Server reported: full"],
  [{ type: "server_invalid", reason: "bad frame" }, "warn", "Server sent something invalid: bad frame"],
  [{ type: "stopped", code: "protocol_mismatch", reason: "Server speaks protocol 9", server: "h:1", root: "/d" }, "error", "Server speaks protocol 9"],
  [{ type: "stopped", code: "no_token", reason: "R", server: "h:1", root: "/home/me/Sync" }, "error", "Cannot sync: the server at h:1 needs a token for this folder; ask its admin for a join link and run dropsim sync /home/me/Sync --join LINK"],
  [{ type: "stopped", code: "unknown_token", reason: "R", server: "h:1", root: "/home/me/Sync" }, "error", "Cannot sync: the server at h:1 does not know this folder's token; ask for a new one and run dropsim sync /home/me/Sync --join LINK"],
  [{ type: "stopped", code: "revoked", reason: "R", server: "h:1", root: "/home/me/Sync" }, "error", "Cannot sync: the server revoked this folder's token; ask for a new one and run dropsim sync /home/me/Sync --join LINK"],
  [{ type: "stopped", code: "expired", reason: "R", server: "h:1", root: "/home/me/Sync" }, "error", "Cannot sync: this folder's token has expired; ask for a new one and run dropsim sync /home/me/Sync --join LINK"],
  [{ type: "stopped", code: "wrong_share", reason: "R", server: "h:1", root: "/home/me/Sync", share: "team" }, "error", "Cannot sync: this folder's token is not for the share \"team\"; ask for a join link to it and run dropsim sync /home/me/Sync --join LINK"],
  [{ type: "stopped", code: "fingerprint_mismatch", reason: "R", server: "h:1", root: "/home/me/Sync", presented: "SHA256:ab" }, "error", "Cannot sync: the server at h:1 is not the one this folder trusts (R); if its certificate was changed on purpose, run dropsim sync /home/me/Sync --accept-fingerprint SHA256:ab"],
  [{ type: "stopped", code: "tls_required", reason: "R", server: "h:1", root: "/home/me/Sync" }, "error", "Cannot sync: the server at h:1 accepts only TLS connections; run dropsim sync /home/me/Sync without --insecure"],
  [{ type: "stopped", code: "revoked", reason: "R", server: "h:1", root: "/My Sync/it's" }, "error", `Cannot sync: the server revoked this folder's token; ask for a new one and run dropsim sync '/My Sync/it'\\''s' --join LINK`],
  [{ type: "pass_failed", reason: "boom", retryInMs: 1500 }, "error", "Sync pass failed: boom; will retry in 1.5 s"],
  [{ type: "ignore_rules", rules: 1, file: ".dropsimignore" }, "info", "Ignore rules changed: 1 rule from .dropsimignore"],
  [{ type: "ignore_rules", rules: 3, file: ".dropsimignore" }, "info", "Ignore rules changed: 3 rules from .dropsimignore"],
  [{ type: "paused" }, "info", "Paused: nothing syncs until dropsim resume"],
  [{ type: "resumed" }, "info", "Resumed"],
  [{ type: "excluded", path: "photos", removed: true, keptChanged: [] }, "info", 'Excluded "photos": removed here; it stays on the server'],
  [{ type: "excluded", path: "photos", removed: false, keptChanged: ["photos/new.jpg"] }, "warn", 'Excluded "photos": kept here because 1 path in it changed (e.g. "photos/new.jpg"); not uploaded while excluded'],
  [{ type: "included", path: "photos" }, "info", 'Included "photos" again: it downloads'],
  [{ type: "limits", limits: { up: 1048576, down: null } }, "info", "Bandwidth limits: up 1.0 MiB/s, down none"],
  [{ type: "warning", message: "File watcher error: x; rescanning" }, "warn", "File watcher error: x; rescanning"],
  [{ type: "confirmed_deletions", count: 7 }, "info", "Sending the 7 deletions held by the last run, as confirmed"],
  [{ type: "rebase", why: "the server id changed" }, "warn", "Not trusting what this folder last synced: the server id changed. Nothing here is deleted or overwritten because of it; what the server lacks is uploaded again."],
  [{ type: "held_deletions", count: 1200, root: "/f" }, "warn", "Holding 1200 local deletions (more than half of the folder): not deleting them on the server. If they are intended, stop this client and run: dropsim sync /f --confirm-deletes"],
  [{ type: "conflict", path: "a (conflicted copy from b 2026-01-01 00.00.00 c0ffee)", copy: "a (conflicted copy from b 2026-01-01 00.00.00 c0ffee)", side: "remote", host: "b" }, "warn", 'Conflict: "a (conflicted copy from b 2026-01-01 00.00.00 c0ffee)" holds the version b kept of a file changed on two replicas at once'],
  [{ type: "conflict", path: "a", copy: "a (copy)", side: "local" }, "warn", 'Conflict on "a": kept your version as "a (copy)"'],
  [{ type: "note", path: "a", reason: "it syncs without them" }, "warn", '"a": it syncs without them'],
  [{ type: "refused", op: "put", path: "a", code: "disk_full", message: "no space", retry: true }, "warn", 'Server refused put of "a": no space; will retry'],
  [{ type: "refused", op: "delete", path: "a", code: "bad", message: "no", retry: false }, "warn", 'Server refused delete of "a": no'],
  [{ type: "not_uploaded", path: "a", reason: "read-only share" }, "warn", '"a": not uploaded: read-only share'],
  [{ type: "not_uploaded_cleared", path: "a" }, "none", ""],
  [{ type: "committed", op: "put", path: "a", version: 9 }, "debug", 'Uploaded put "a" → version 9'],
  [{ type: "committed", op: "delete", path: "a" }, "debug", 'Uploaded delete "a" → version -'],
  [{ type: "problem", path: "a", reason: "cannot read it now (EACCES)", retryInMs: 5000 }, "warn", 'Not syncing "a": cannot read it now (EACCES). Everything else keeps syncing.'],
  [{ type: "problem_cleared", path: "a", gone: false }, "info", '"a" syncs again'],
  [{ type: "problem_cleared", path: "a", gone: true }, "none", ""],
  [{ type: "case_conflict", path: "A", placedAs: "A (case conflict)", clash: "a" }, "warn", 'Case conflict: "A" and "a" are one name on this disk; kept "A" as "A (case conflict)"'],
  [{ type: "case_conflict", path: "A/x", placedAs: "A (case conflict)/x" }, "debug", 'Wrote "A/x" as "A (case conflict)/x", in the case-conflict folder made for a folder above it'],
  [{ type: "file_done", path: "a", direction: "download", bytes: 12, version: 3 }, "debug", 'Downloaded "a" (12 bytes)'],
  [{ type: "file_done", path: "a", direction: "upload", bytes: 12, version: 3 }, "none", ""],
  [{ type: "file_failed", path: "a", direction: "download", reason: "EACCES", retry: true }, "warn", 'Cannot write "a": EACCES'],
  [{ type: "xattrs_unsupported", path: "a" }, "debug", '"a" is written without its extended attributes: this file system keeps none'],
  [{ type: "file_started", path: "a", direction: "download", bytes: 2 ** 30, resumedFrom: 3 * 2 ** 20 }, "info", 'Resuming "a": 3.0 MiB of 1.0 GiB kept from an earlier attempt'],
  [{ type: "file_started", path: "a", direction: "download", bytes: 2 ** 30 }, "none", ""],
  [{ type: "waiting_for_space", path: "a", bytes: 2 ** 20, free: 512, keep: "1%", again: false }, "warn", 'Not downloading "a" (1.0 MiB): only 512 bytes free on the disk, keeping 1% free; it is retried when space frees up'],
  [{ type: "waiting_for_space", path: "a", bytes: 2 ** 20, free: 512, keep: "1%", again: true }, "debug", 'Still no room for "a" (1.0 MiB): 512 bytes free'],
  [{ type: "moved", from: "a", to: "b" }, "debug", 'Moved "a" to "b"'],
  [{ type: "linked", path: "l", target: "../t" }, "debug", 'Linked "l" to "../t"'],
  [{ type: "pass_planned", downloads: 0, downloadBytes: 0, uploads: 0, uploadBytes: 0, deletions: 0, moves: 0, conflicts: 0, held: 0 }, "none", ""],
  [{ type: "phase", phase: "scanning" }, "none", ""],
];

test.each(rows)("logSink writes %o at level %s as: %s", (event, level, line) => {
  const lines: [string, string][] = [];
  const at = (l: string) => (...args: unknown[]) => void lines.push([l, args.join(" ")]);
  const log: Log = { info: at("info"), warn: at("warn"), error: at("error"), debug: at("debug"), success: at("success") };
  logSink(log, () => 0)(event);
  expect(lines).toEqual(level === "none" ? [] : [[level, line]]);
});

test("logSink says the state once per change: what a burst moves, then up to date with the folder's size and the time it took", () => {
  const lines: string[] = [];
  const at = (l: string) => (...args: unknown[]) => void lines.push(`${l}: ${args.join(" ")}`);
  const log: Log = { info: at("info"), warn: at("warn"), error: at("error"), debug: at("debug"), success: at("success") };
  let now = 1_000_000;
  const sink = logSink(log, () => now);
  const planned = (uploads: number, downloads: number): SyncEvent => ({ type: "pass_planned", downloads, downloadBytes: downloads * 4096, uploads, uploadBytes: uploads * 4096, deletions: 0, moves: 0, conflicts: 0, held: 0 });
  sink({ type: "phase", phase: "scanning" });
  sink({ ...planned(500, 3), waiting: 19_500 } as SyncEvent);
  now += 5_000;
  sink(planned(500, 0));
  now += 9_200;
  sink({ type: "idle", files: 20_000, bytes: 78 * 2 ** 20 });
  sink({ type: "idle", files: 20_000, bytes: 78 * 2 ** 20 });
  now += 60_000;
  sink({ type: "phase", phase: "scanning" });
  now += 300;
  sink(planned(1, 0));
  now += 2_000;
  sink({ type: "idle", files: 20_001, bytes: 78 * 2 ** 20 + 100 });
  expect(lines).toEqual([
    "info: Downloading 3 files (12.0 KiB)…",
    "info: Uploading 500 files (2.0 MiB), and reading 19,500 more changed files…",
    "info: Up to date: 20,000 files (78.0 MiB) in 14.2 s",
    "debug: Idle: folder and server agree",
    "debug: Idle: folder and server agree",
    "info: Uploading 1 file (4.0 KiB)…",
    "info: Up to date: 20,001 files (78.0 MiB) in 2.3 s",
    "debug: Idle: folder and server agree",
  ]);
});

test("logSink says up to date once after a start that found nothing to do, counting from the start", () => {
  const lines: string[] = [];
  const info = (...args: unknown[]) => void lines.push(args.join(" "));
  let now = 0;
  const sink = logSink({ info, warn: info, error: info, debug: () => {}, success: info }, () => now);
  now = 1_500;
  sink({ type: "phase", phase: "scanning" });
  sink({ type: "pass_planned", downloads: 0, downloadBytes: 0, uploads: 0, uploadBytes: 0, deletions: 0, moves: 0, conflicts: 0, held: 0 });
  sink({ type: "idle", files: 1, bytes: 10 });
  sink({ type: "idle", files: 1, bytes: 10 });
  expect(lines).toEqual(["Up to date: 1 file (10 bytes) in 1.5 s"]);
});
