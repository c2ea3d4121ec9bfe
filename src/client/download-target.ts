import type { Entry } from "../core/entry.ts";
import { TempFile } from "../fsutil/atomic-write.ts";
import type { LocalStat } from "../fsutil/scan.ts";
import { RESUME_MIN_BYTES, type Resumable } from "../fsutil/temp-dirs.ts";
import type { Download } from "./apply-remote.ts";
import type { SyncContext } from "./context.ts";
import type { Synced } from "./local-index.ts";
import { openPatchedCopy } from "./patched-copy.ts";

/**
 * A temp file to fill; `kept` marks the blocks a copy of the old version (stat `old`) already
 * holds in place. `resumed` is set for a partial file kept when cut short: how many blocks at
 * its front an earlier attempt left intact.
 */
export interface Target {
  tmp: TempFile;
  kept?: boolean[];
  old?: LocalStat;
  resumed?: number;
}

/** A download resuming from (or starting) its partial file, and the entry it builds. */
export interface Resume extends Resumable {
  entry: Entry;
}

function fileMode(entry: Entry): number {
  return entry.mode & 0o111 ? 0o755 : 0o644;
}

/**
 * Opens the temp file for a download: a patched copy of the version it replaces when that
 * pays (patched-copy.ts), else, for a big download (`resume`), its resumable partial file,
 * from where an earlier attempt stopped; else a new temp file.
 */
export async function openTarget(ctx: SyncContext, d: Download, old: Synced | undefined, resume: Resume | undefined): Promise<Target> {
  const mode = fileMode(d.entry);
  if (!resume?.blocks) {
    const copy = await openPatchedCopy(ctx, d, old, mode);
    if (copy) return copy;
  }
  if (resume) return { tmp: await TempFile.reopen(resume.path, mode, resume.bytes, d.entry.size), resumed: resume.blocks };
  return { tmp: await TempFile.create(ctx.tmpDirs.next(), mode, d.entry.size) };
}

/** Stops filling `target`: a resumable partial file stays for a later attempt, any other goes. */
export function drop({ tmp, resumed }: Target): Promise<void> {
  return resumed === undefined ? tmp.abort() : tmp.keep();
}

/**
 * The partial files this batch's big downloads write, each with what an earlier attempt left
 * intact in it (re-hashed here, before the fetch list is made). One download per content:
 * another file with the same bytes copies them from the first.
 */
export async function claimPartials(ctx: SyncContext, pending: Download[]): Promise<Map<Download, Resume>> {
  const resumes = new Map<Download, Resume>();
  const claimed = new Set<string>();
  for (const d of pending) {
    const { entry } = d;
    if (entry.size < RESUME_MIN_BYTES || claimed.has(entry.hash)) continue;
    claimed.add(entry.hash);
    // Streamed ahead of the commit (prefetch.ts), else kept from an earlier attempt.
    const streamed = await ctx.prefetcher?.claim(entry);
    resumes.set(d, { ...(streamed ?? (await ctx.tmpDirs.resumable(entry))), entry });
  }
  return resumes;
}
