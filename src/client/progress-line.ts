import type { Log } from "../core/log.ts";
import { formatBytes, formatCount, formatDuration } from "../core/units.ts";
import type { Direction, SyncEvent } from "./events.ts";

/**
 * The progress of a burst of work (from the first pass that scans or plans something to
 * "idle"), folded from the client's events: what the redrawn terminal line and the once-a-minute
 * summary show. Pure: the clock is passed in (ms since the epoch).
 */
export type Phase = "scanning" | "hashing" | "uploading" | "downloading";

export interface Amounts {
  files: number;
  bytes: number;
}

export interface Progress {
  /** When the burst started; undefined while idle. */
  since?: number;
  phase?: Phase;
  /** Files read this pass (hashing). */
  hashing?: Amounts;
  /** Finished in this burst, plus what its latest pass planned; and finished. */
  total: Amounts;
  /** Changed files found and not read yet: their bytes are not known, so no percentage is shown. */
  waiting: number;
  done: Amounts;
  current?: { path: string; direction: Direction; done: number; bytes: number };
  /** (time, bytes done) a few seconds back: the rate is measured over this window. */
  samples: [number, number][];
  /** What the current pass moved: said as one line when it ends, off a terminal. */
  batch: Batch;
}

/** One pass's transfers: it ends when every file it planned is done or failed (or at the next pass, or idle). */
export interface Batch {
  since: number;
  /** Files the pass planned to move; those failed. */
  planned: number;
  failed: number;
  upload: Amounts;
  download: Amounts;
}

/** The rate is the average over this long: steadier than per redraw, quick to show a stall. */
const RATE_WINDOW_MS = 10_000;
const SAMPLE_MS = 100;
const NONE: Amounts = { files: 0, bytes: 0 };

export function idleProgress(): Progress {
  return { total: NONE, done: NONE, waiting: 0, samples: [], batch: _batch(0, 0) };
}

/** Bytes finished plus those of the file in flight. */
export function bytesDone(p: Progress): number {
  return p.done.bytes + (p.current?.done ?? 0);
}

/**
 * The progress after `e`, and the batch that ended with it, if any: a pass's transfers end with
 * its last planned file, or when the next pass plans or the client is idle before that.
 */
export function foldProgress(p: Progress, e: SyncEvent, now: number): { next: Progress; batch?: Batch } {
  switch (e.type) {
    case "phase":
      return { next: { ..._busy(p, now), phase: e.phase, hashing: e.phase === "hashing" ? { files: e.files ?? 0, bytes: e.bytes ?? 0 } : undefined } };
    case "pass_planned": {
      const work = e.uploads + e.downloads > 0;
      const ended = _batchEnded(p);
      const base = work ? _busy(p, now) : p;
      const next: Progress = {
        ...base,
        hashing: undefined,
        waiting: e.waiting ?? 0,
        // What earlier passes left undone is planned again by this one: done so far plus this plan.
        total: { files: p.done.files + e.uploads + e.downloads, bytes: p.done.bytes + e.uploadBytes + e.downloadBytes },
        batch: _batch(now, e.uploads + e.downloads),
      };
      return { next, batch: ended };
    }
    case "file_started":
      return { next: _sample({ ..._busy(p, now), phase: e.direction === "upload" ? "uploading" : "downloading", current: { path: e.path, direction: e.direction, done: e.resumedFrom ?? 0, bytes: e.bytes } }, now) };
    case "file_progress":
      return { next: _sample({ ...p, current: { path: e.path, direction: e.direction, done: e.done, bytes: e.bytes } }, now) };
    case "file_done": {
      const batch = { ...p.batch, [e.direction]: _plus(p.batch[e.direction], e.bytes) };
      const current = p.current?.path === e.path ? undefined : p.current;
      return _endBatchIfDone(_sample({ ...p, current, done: _plus(p.done, e.bytes), batch }, now), now);
    }
    case "file_failed":
      return _endBatchIfDone({ ...p, current: p.current?.path === e.path ? undefined : p.current, batch: { ...p.batch, failed: p.batch.failed + 1 } }, now);
    case "pass_failed":
    case "disconnected":
    case "paused":
      return { next: { ...p, current: undefined } };
    case "idle":
      return { next: idleProgress(), batch: _batchEnded(p) };
    default:
      return { next: p };
  }
}

function _busy(p: Progress, now: number): Progress {
  return p.since === undefined ? { ...p, since: now, samples: [[now, bytesDone(p)]], batch: _batch(now, 0) } : p;
}

/**
 * At most one sample per SAMPLE_MS: a burst of small files is thousands of events a second,
 * and every event copied the whole window (36 % of the client's CPU in a first sync of 20,000 files).
 */
function _sample(p: Progress, now: number): Progress {
  const last = p.samples.at(-1);
  if (last && now - last[0] < SAMPLE_MS) return p;
  const samples = [...p.samples.filter(([t]) => t >= now - RATE_WINDOW_MS), [now, bytesDone(p)] as [number, number]];
  return { ...p, samples };
}

function _plus(a: Amounts, bytes: number): Amounts {
  return { files: a.files + 1, bytes: a.bytes + bytes };
}

function _batch(since: number, planned: number): Batch {
  return { since, planned, failed: 0, upload: NONE, download: NONE };
}

function _batchEnded(p: Progress): Batch | undefined {
  return p.batch.upload.files + p.batch.download.files > 0 ? p.batch : undefined;
}

function _endBatchIfDone(p: Progress, now: number): { next: Progress; batch?: Batch } {
  const b = p.batch;
  if (b.planned === 0 || b.upload.files + b.download.files + b.failed < b.planned) return { next: p };
  return { next: { ...p, batch: _batch(now, 0) }, batch: _batchEnded(p) };
}

/** Bytes per second over the last RATE_WINDOW_MS, or undefined before there is a second to measure. */
export function rate(p: Progress, now: number): number | undefined {
  const first = p.samples.find(([t]) => t >= now - RATE_WINDOW_MS) ?? p.samples.at(-1);
  if (!first || now - first[0] < 1000) return undefined;
  return Math.max(0, bytesDone(p) - first[1]) / ((now - first[0]) / 1000);
}

/** `Uploading 12.0 MiB / 78.0 MiB (15%) · 1,234 / 20,000 files · 5.1 MiB/s · ETA 13.0 s · photos/a.jpg`, cut to `width`. */
export function renderProgress(p: Progress, now: number, width: number): string {
  const parts: string[] = [];
  const phase = p.phase ?? "scanning";
  if (phase === "scanning" || phase === "hashing") {
    parts.push(phase === "scanning" ? "Scanning the folder" : `Hashing ${formatCount(p.hashing?.files ?? 0, "file")} (${formatBytes(p.hashing?.bytes ?? 0)})`);
  }
  if (p.total.files > 0) {
    const done = bytesDone(p);
    const pct = p.total.bytes > 0 && p.waiting === 0 ? ` (${Math.min(100, Math.floor((100 * done) / p.total.bytes))}%)` : "";
    const head = phase === "uploading" ? "Uploading " : phase === "downloading" ? "Downloading " : "";
    const more = p.waiting > 0 ? ` (+${formatCount(p.waiting)} to read)` : "";
    parts.push(`${head}${formatBytes(done)} / ${formatBytes(p.total.bytes)}${pct}`, `${formatCount(p.done.files)} / ${formatCount(p.total.files, "file")}${more}`);
    const r = rate(p, now);
    if (r !== undefined) {
      parts.push(`${formatBytes(r)}/s`);
      // The bytes of files not read yet are unknown: an ETA without them would be a promise broken.
      if (r > 0 && p.waiting === 0) parts.push(`ETA ${formatDuration((1000 * Math.max(0, p.total.bytes - done)) / r)}`);
    }
  }
  const line = parts.join(" · ");
  if (!p.current) return _fit(line, width);
  // The path gives way first, keeping its end (the file's name): a line that wraps cannot be redrawn.
  const room = width - line.length - 3;
  const path = p.current.path;
  if (room < Math.min(MIN_PATH, path.length)) return _fit(line, width);
  return `${line} · ${path.length <= room ? path : `…${path.slice(-(room - 1))}`}`;
}

/** Fewer characters of a path than this say nothing: the line goes without it. */
const MIN_PATH = 8;

/** The once-a-minute line off a terminal (rclone's --stats): files and bytes done of total, and the rate. */
export function statsLine(p: Progress, now: number): string {
  const r = rate(p, now);
  const speed = r === undefined ? "" : `, ${formatBytes(r)}/s`;
  const more = p.waiting > 0 ? ` (and ${formatCount(p.waiting)} more to read)` : "";
  return `Syncing: ${formatCount(p.done.files)} of ${formatCount(p.total.files, "file")}${more}, ${formatBytes(bytesDone(p))} of ${formatBytes(p.total.bytes)}${speed}, ${formatDuration(now - (p.since ?? now))} so far`;
}

/** What one pass moved: `Uploaded 500 files (2.0 MiB), downloaded 3 files (12.0 KiB) in 2.1 s`. */
export function batchLine(b: Batch, now: number): string {
  const said: string[] = [];
  if (b.upload.files > 0) said.push(`uploaded ${formatCount(b.upload.files, "file")} (${formatBytes(b.upload.bytes)})`);
  if (b.download.files > 0) said.push(`downloaded ${formatCount(b.download.files, "file")} (${formatBytes(b.download.bytes)})`);
  const text = `${said.join(", ")} in ${formatDuration(now - b.since)}`;
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/** Cut to the terminal's width: a line that wraps cannot be redrawn in place. */
function _fit(line: string, width: number): string {
  if (line.length <= width) return line;
  return width <= 1 ? "" : `${line.slice(0, width - 1)}…`;
}

/** Where the display writes: the terminal (stderr), or log lines off one. */
export interface ProgressOutput {
  /** Redraws the line in place (stderr is a terminal). */
  tty: boolean;
  write(text: string): void;
  columns(): number;
  log: Log;
}

/** At most this many redraws a second. */
const REDRAW_MS = 100;
/** A burst shorter than this shows no line at all: no flicker for a file saved now and then. */
const SHOW_AFTER_MS = 1000;

/**
 * Drives the progress from events: on a terminal one line redrawn (at most 10 times a second,
 * and twice a second while nothing happens, for the rate and ETA); off one, `statsEveryMs` a
 * summary line while work goes on and one line per finished batch.
 */
export class ProgressDisplay {
  private p = idleProgress();
  private shown = "";
  private redrawTimer: ReturnType<typeof setTimeout> | undefined;
  private lastDraw = 0;
  private readonly ticker: ReturnType<typeof setInterval>;

  constructor(
    private readonly out: ProgressOutput,
    statsEveryMs: number,
    private readonly clock: () => number = Date.now,
  ) {
    this.ticker = setInterval(() => (out.tty ? this.scheduleDraw() : this.stats()), out.tty ? 500 : statsEveryMs);
    this.ticker.unref?.();
  }

  readonly onEvent = (e: SyncEvent): void => {
    const now = this.clock();
    const { next, batch } = foldProgress(this.p, e, now);
    this.p = next;
    if (this.out.tty) {
      if (next.since === undefined) this.clear();
      else this.scheduleDraw();
    } else if (batch) this.out.log.info(batchLine(batch, now));
  };

  /** Erases the line (before a log line is written, and at the end). */
  clear(): void {
    if (this.shown === "") return;
    this.out.write("\r\x1b[2K");
    this.shown = "";
  }

  /**
   * Draws the line again after a log line, once the events of the moment are in: the line that
   * says "Up to date" comes before the event that ends the burst reaches this display.
   */
  draw(): void {
    this.scheduleDraw();
  }

  /** Draws the line now, if a burst has gone on long enough to show it. */
  drawNow(): void {
    const now = this.clock();
    if (this.p.since === undefined || now - this.p.since < SHOW_AFTER_MS) return;
    const line = renderProgress(this.p, now, Math.max(20, this.out.columns() - 1));
    this.lastDraw = now;
    if (line === this.shown) return;
    this.out.write(`\r\x1b[2K${line}`);
    this.shown = line;
  }

  close(): void {
    clearInterval(this.ticker);
    clearTimeout(this.redrawTimer);
    this.clear();
  }

  private scheduleDraw(): void {
    if (this.redrawTimer !== undefined) return;
    const wait = Math.max(0, this.lastDraw + REDRAW_MS - this.clock());
    this.redrawTimer = setTimeout(() => {
      this.redrawTimer = undefined;
      this.drawNow();
    }, wait);
    this.redrawTimer.unref?.();
  }

  private stats(): void {
    if (this.p.since !== undefined && this.p.total.files > 0) this.out.log.info(statsLine(this.p, this.clock()));
  }
}
