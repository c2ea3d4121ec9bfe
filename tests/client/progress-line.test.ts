import { expect, test } from "bun:test";
import type { SyncEvent } from "../../src/client/events.ts";
import { batchLine, foldProgress, idleProgress, type Progress, ProgressDisplay, rate, renderProgress, statsLine } from "../../src/client/progress-line.ts";
import type { Log } from "../../src/core/log.ts";

const MiB = 2 ** 20;
const planned = (uploads: number, uploadBytes: number, downloads = 0, downloadBytes = 0): SyncEvent => ({ type: "pass_planned", uploads, uploadBytes, downloads, downloadBytes, deletions: 0, moves: 0, conflicts: 0, held: 0 });

/** Folds `[ms, event]` pairs; returns the progress and the batch lines said on the way. */
function run(events: [number, SyncEvent][]): { p: Progress; batches: string[] } {
  let p = idleProgress();
  const batches: string[] = [];
  for (const [now, e] of events) {
    const { next, batch } = foldProgress(p, e, now);
    p = next;
    if (batch) batches.push(batchLine(batch, now));
  }
  return { p, batches };
}

test.each<[string, [number, SyncEvent][], number, string]>([
  ["scanning", [[0, { type: "phase", phase: "scanning" }]], 500, "Scanning the folder"],
  ["hashing", [[0, { type: "phase", phase: "hashing", files: 500, bytes: 3 * MiB }]], 500, "Hashing 500 files (3.0 MiB)"],
  [
    "a big upload halfway, with rate and ETA",
    [
      [0, planned(2, 100 * MiB)],
      [0, { type: "file_started", path: "big.bin", direction: "upload", bytes: 90 * MiB }],
      [5000, { type: "file_progress", path: "big.bin", direction: "upload", done: 50 * MiB, bytes: 90 * MiB }],
    ],
    5000,
    "Uploading 50.0 MiB / 100.0 MiB (50%) · 0 / 2 files · 10.0 MiB/s · ETA 5.0 s · big.bin",
  ],
  [
    "downloads of several files, one done",
    [
      [0, planned(0, 0, 3, 12 * 1024)],
      [0, { type: "file_started", path: "a", direction: "download", bytes: 4096 }],
      [10, { type: "file_done", path: "a", direction: "download", bytes: 4096, version: 1 }],
      [20, { type: "file_started", path: "dir/b", direction: "download", bytes: 4096 }],
    ],
    500,
    "Downloading 4.0 KiB / 12.0 KiB (33%) · 1 / 3 files · dir/b",
  ],
])("renderProgress while %s", (_name, events, now, line) => {
  expect(renderProgress(run(events).p, now, 200)).toBe(line);
});

test("files found and not read yet count in the total, without a percentage or an ETA that would leave them out", () => {
  const { p } = run([
    [0, { ...planned(500, 5 * MiB), waiting: 19_500 } as SyncEvent],
    [0, { type: "file_started", path: "a", direction: "upload", bytes: MiB }],
    [2000, { type: "file_done", path: "a", direction: "upload", bytes: MiB, version: 1 }],
  ]);
  expect(renderProgress(p, 2000, 200)).toBe("Uploading 1.0 MiB / 5.0 MiB · 1 / 500 files (+19,500 to read) · 512.0 KiB/s");
  expect(statsLine(p, 2000)).toBe("Syncing: 1 of 500 files (and 19,500 more to read), 1.0 MiB of 5.0 MiB, 512.0 KiB/s, 2.0 s so far");
});

test("renderProgress fits the terminal's width: the path keeps its end, then goes, then the line is cut", () => {
  const { p } = run([[0, planned(1, MiB)], [0, { type: "file_started", path: `${"d/".repeat(100)}name.bin`, direction: "upload", bytes: MiB }]]);
  const head = "Uploading 0 bytes / 1.0 MiB (0%) · 0 / 1 file";
  expect(renderProgress(p, 100, 70)).toBe(`${head} · …${"/d".repeat(6)}/name.bin`);
  expect(renderProgress(p, 100, 70)).toHaveLength(70);
  expect(renderProgress(p, 100, 50)).toBe(head);
  expect(renderProgress(p, 100, 30)).toBe(`${head.slice(0, 29)}…`);
});

test("a pass that plans again what failed does not count it twice", () => {
  const { p } = run([[0, planned(300, 3 * MiB)], [10, { type: "pass_failed", reason: "x", retryInMs: 200 }], [300, planned(300, 3 * MiB)]]);
  expect(p.total).toEqual({ files: 300, bytes: 3 * MiB });
});

test("the total of a burst grows as its passes plan what earlier ones left, and idle ends it", () => {
  const events: [number, SyncEvent][] = [[0, planned(2, 2 * MiB)]];
  for (const [i, path] of ["a", "b"].entries()) {
    events.push([i * 100, { type: "file_started", path, direction: "upload", bytes: MiB }], [i * 100 + 100, { type: "file_done", path, direction: "upload", bytes: MiB, version: i + 1 }]);
  }
  events.push([1000, planned(1, MiB, 1, 512)]);
  const { p, batches } = run(events);
  expect(p.total).toEqual({ files: 4, bytes: 3 * MiB + 512 });
  expect(p.done).toEqual({ files: 2, bytes: 2 * MiB });
  // The batch ends with its last planned file, before the next pass plans.
  expect(batches).toEqual(["Uploaded 2 files (2.0 MiB) in 0.2 s"]);
  const end = run([...events, [1200, { type: "file_started", path: "c", direction: "download", bytes: 512 }], [1300, { type: "file_done", path: "c", direction: "download", bytes: 512, version: 3 }], [1400, { type: "idle" }]]);
  // The second pass's upload never finished: its batch ends at idle with what it moved.
  expect(end.batches).toEqual(["Uploaded 2 files (2.0 MiB) in 0.2 s", "Downloaded 1 file (512 bytes) in 0.4 s"]);
  expect(end.p.since).toBeUndefined();
});

test("rate is measured over the last seconds, falls to zero in a stall, and is unknown in the first second", () => {
  const { p } = run([[0, planned(1, 100 * MiB)], [0, { type: "file_started", path: "f", direction: "upload", bytes: 100 * MiB }], [2000, { type: "file_progress", path: "f", direction: "upload", done: 20 * MiB, bytes: 100 * MiB }]]);
  expect(rate(p, 2000)).toBe(10 * MiB);
  expect(rate(p, 13_000)).toBe(0);
  expect(rate(run([[0, planned(1, 1)]]).p, 500)).toBeUndefined();
  expect(statsLine(p, 2000)).toBe("Syncing: 0 of 1 file, 20.0 MiB of 100.0 MiB, 10.0 MiB/s, 2.0 s so far");
});

function fakeOutput(tty: boolean) {
  const written: string[] = [];
  const logged: string[] = [];
  const info = (...args: unknown[]) => void logged.push(args.join(" "));
  const log: Log = { info, warn: info, error: info, debug: info, success: info };
  return { written, logged, out: { tty, write: (t: string) => void written.push(t), columns: () => 80, log } };
}

test("ProgressDisplay on a terminal shows nothing in a burst's first second, then redraws in place and erases at idle", () => {
  let now = 0;
  const { written, out } = fakeOutput(true);
  const display = new ProgressDisplay(out, 60_000, () => now);
  display.onEvent(planned(1, 10 * MiB));
  display.onEvent({ type: "file_started", path: "f", direction: "upload", bytes: 10 * MiB });
  display.drawNow();
  expect(written).toEqual([]);
  now = 1500;
  display.onEvent({ type: "file_progress", path: "f", direction: "upload", done: 3 * MiB, bytes: 10 * MiB });
  display.drawNow();
  display.clear();
  display.drawNow();
  now = 2000;
  display.onEvent({ type: "idle" });
  display.close();
  expect(written).toEqual([
    "\r\x1b[2KUploading 3.0 MiB / 10.0 MiB (30%) · 0 / 1 file · 2.0 MiB/s · ETA 3.5 s · f",
    "\r\x1b[2K",
    "\r\x1b[2KUploading 3.0 MiB / 10.0 MiB (30%) · 0 / 1 file · 2.0 MiB/s · ETA 3.5 s · f",
    "\r\x1b[2K",
  ]);
});

test("ProgressDisplay off a terminal writes nothing in place and says one line per finished batch", () => {
  let now = 0;
  const { written, logged, out } = fakeOutput(false);
  const display = new ProgressDisplay(out, 60_000, () => now);
  display.onEvent(planned(1, 4096));
  display.onEvent({ type: "file_started", path: "f", direction: "upload", bytes: 4096 });
  now = 300;
  display.onEvent({ type: "file_done", path: "f", direction: "upload", bytes: 4096, version: 1 });
  display.onEvent({ type: "idle" });
  display.close();
  expect(written).toEqual([]);
  expect(logged).toEqual(["Uploaded 1 file (4.0 KiB) in 0.3 s"]);
});

test("a batch whose last planned file failed ends with it, saying what it moved", () => {
  const { batches } = run([
    [0, planned(2, 2 * MiB)],
    [100, { type: "file_done", path: "a", direction: "upload", bytes: MiB, version: 1 }],
    [300, { type: "file_failed", path: "b", direction: "upload", reason: "changed", retry: true }],
  ]);
  expect(batches).toEqual(["Uploaded 1 file (1.0 MiB) in 0.3 s"]);
});
