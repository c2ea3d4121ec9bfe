import { expect, test } from "bun:test";
import { conflictOriginal } from "../../src/cli/conflicts.ts";
import { type FolderView, folderExit, renderFolder } from "../../src/cli/status.ts";
import { initialStatus, type StatusSnapshot } from "../../src/client/status.ts";
import { conflictName } from "../../src/core/conflict-name.ts";

const NOW = Date.UTC(2026, 11, 2, 12, 0, 0);

function running(s: Partial<StatusSnapshot>, extra: Partial<Extract<FolderView, { running: true }>> = {}): FolderView {
  return { running: true, folder: "/home/u/Team", status: { ...initialStatus(), connected: true, server: "127.0.0.1:7070", since: NOW - 60_000, ...s }, conflicts: [], ...extra };
}

const copy = { path: "a.txt", copy: "a (conflicted copy from pc 2026-12-02 11.00.00 3f2a9c).txt", host: "pc" };

test.each<[string, FolderView, number]>([
  ["up to date", running({ upToDate: true }), 0],
  ["syncing", running({ upToDate: false, toUpload: { files: 3, bytes: 300 } }), 1],
  ["not connected", running({ connected: false, whyNot: "connection refused" }), 1],
  ["paused", running({ paused: true }), 1],
  ["up to date but a conflicted copy in the folder", running({ upToDate: true }, { conflicts: [copy] }), 3],
  ["an entry that cannot sync", running({ upToDate: true, problems: [{ path: "p", reason: "it is a fifo, which is not synced" }] }), 3],
  ["a change a read-only share does not take", running({ upToDate: true, notUploaded: [{ path: "n", reason: "read-only" }] }), 3],
  ["waiting for disk space", running({ waitingForSpace: ["big.iso"] }), 3],
  ["held deletions", running({ upToDate: true, heldDeletions: 12 }), 3],
  ["--wait agreed, a change since", running({ upToDate: false }, { inSync: true }), 0],
  ["--wait timed out, an earlier pass agreed", running({ upToDate: true }, { inSync: false }), 1],
  ["not running", { running: false, folder: "/f", files: 10, cursor: 4, conflicts: [] }, 1],
  ["not running, a conflicted copy", { running: false, folder: "/f", files: 10, cursor: 4, conflicts: [copy] }, 3],
])("status exit code: %s", (_name, view, exit) => {
  expect(folderExit(view)).toBe(exit);
});

test("status text says where the client stands in human units, and lists what needs the user", () => {
  const view = running({
    upToDate: false,
    toUpload: { files: 2, bytes: 3 * 1024 * 1024 },
    toDownload: { files: 1, bytes: 1024 },
    transfer: { path: "big.bin", direction: "upload", done: 512 * 1024 * 1024, bytes: 1024 * 1024 * 1024 },
    problems: [{ path: "x", reason: "cannot read it now (EACCES)" }],
    heldDeletions: 5,
    lastSync: NOW - 3_600_000,
    limits: { up: 1024 * 1024, down: null },
  }, { conflicts: [copy] });
  const text = renderFolder(view, NOW).join("\n");
  expect(text).toContain("connected to 127.0.0.1:7070 since ");
  expect(text).toContain("(1 min ago)");
  expect(text).toContain("State:      syncing: 2 files (3.0 MiB) to upload, 1 file (1.0 KiB) to download");
  expect(text).toContain("Transfer:   uploading big.bin: 512.0 MiB of 1.0 GiB (50 %)");
  expect(text).toContain("(1 h ago)");
  expect(text).toContain(`Conflicts (1):\n  ${copy.copy} (conflicts with a.txt)`);
  expect(text).toContain("Cannot sync (1):\n  x: cannot read it now (EACCES)");
  expect(text).toContain("5 local deletions, not sent (dropsim sync /home/u/Team --confirm-deletes sends them)");
  expect(text).toContain("Limits:     up 1.0 MiB/s, down none");
  expect(text).not.toMatch(/\d{7,}/);
});

test("status text for a stopped connection says why, and for a client not running says so", () => {
  const down = renderFolder(running({ connected: false, since: NOW - 5000, whyNot: "cannot reach 127.0.0.1:7070: connection refused" }), NOW).join("\n");
  expect(down).toContain("not connected to 127.0.0.1:7070 since");
  expect(down).toContain("(5.0 s ago): cannot reach 127.0.0.1:7070: connection refused");
  const off = renderFolder({ running: false, folder: "/f", files: 1, cursor: 0, conflicts: [] }, NOW).join("\n");
  expect(off).toContain("Client:     not running (start it with dropsim sync /f)");
  expect(off).toContain("Synced:     1 entry");
  expect(off).toContain("Last sync:  never");
});

test.each([
  ["a.txt", "a.txt"],
  ["docs/report.pdf", "docs/report.pdf"],
  ["no-extension", "no-extension"],
  ["dir.with.dots/archive.tar.gz", "dir.with.dots/archive.tar.gz"],
])("a conflicted copy of %s names the file it conflicts with", (original) => {
  const copyName = conflictName(original, { host: "lap(top)", clientId: "3f2a9c00-1111", date: new Date(NOW) });
  expect(conflictOriginal(copyName)).toEqual({ path: original, copy: copyName, host: "lap_top_" });
});

test("names that are not conflicted copies are not listed", () => {
  expect(conflictOriginal("a (copy).txt")).toBeUndefined();
  expect(conflictOriginal("a (conflicted copy).txt")).toBeUndefined();
  expect(conflictOriginal("plain.txt")).toBeUndefined();
});
