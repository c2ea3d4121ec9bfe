import { formatBytes, formatCount, formatDuration } from "../core/units.ts";
import type { SyncEvent } from "./events.ts";

/**
 * The state lines a user reads at the default level: said once per change of state
 * (busy → up to date, nothing → downloading), never once per pass or per file.
 */
export interface SummaryState {
  /** When the client started (ms since the epoch): the first "Up to date" counts from here. */
  startedAt: number;
  /** When the pass that found work started this burst; undefined while up to date. */
  busySince?: number;
  /** When the current pass started looking at the folder. */
  passSince?: number;
  /** Said "Up to date" since the last burst (or at all). */
  said: boolean;
  /** Directions announced in this burst. */
  announced: { upload: boolean; download: boolean };
}

export function initialSummary(now: number): SummaryState {
  return { startedAt: now, said: false, announced: { upload: false, download: false } };
}

/** The state after `e` at `now` (ms since the epoch), and the lines to say for it. Pure. */
export function foldSummary(s: SummaryState, e: SyncEvent, now: number): [SummaryState, string[]] {
  switch (e.type) {
    case "phase":
      return [e.phase === "scanning" ? { ...s, passSince: now } : s, []];
    case "pass_planned": {
      const work = e.uploads + e.downloads + e.deletions + e.moves + e.conflicts > 0;
      if (!work) return [s, []];
      const lines: string[] = [];
      const announced = { ...s.announced };
      if (e.downloads > 0 && !announced.download) {
        announced.download = true;
        lines.push(`Downloading ${formatCount(e.downloads, "file")} (${formatBytes(e.downloadBytes)})…`);
      }
      if (e.uploads > 0 && !announced.upload) {
        announced.upload = true;
        const more = e.waiting ? `, and reading ${formatCount(e.waiting)} more changed ${e.waiting === 1 ? "file" : "files"}` : "";
        lines.push(`Uploading ${formatCount(e.uploads, "file")} (${formatBytes(e.uploadBytes)})${more}…`);
      }
      return [{ ...s, busySince: s.busySince ?? s.passSince ?? now, announced }, lines];
    }
    case "idle": {
      if (s.said && s.busySince === undefined) return [s, []];
      const held = e.files === undefined ? "" : `: ${formatCount(e.files, "file")} (${formatBytes(e.bytes ?? 0)})`;
      const line = `Up to date${held} in ${formatDuration(now - (s.said ? (s.busySince ?? now) : s.startedAt))}`;
      return [{ ...s, busySince: undefined, said: true, announced: { upload: false, download: false } }, [line]];
    }
    default:
      return [s, []];
  }
}
