import type { Direction, Emit } from "./events.ts";

/**
 * Progress is told after at least this many more bytes of a file: a file smaller than this
 * tells only its start and end, so a batch of thousands of small files costs two events each.
 */
const PROGRESS_BYTES = 256 * 1024;

/**
 * Tells that one file's transfer starts now; the returned progress tells its bytes as they
 * land. `resumedFrom`: bytes an earlier attempt left, which this one does not carry again.
 */
export function startTransfer(emit: Emit, path: string, direction: Direction, bytes: number, resumedFrom?: number): TransferProgress {
  emit({ type: "file_started", path, direction, bytes, resumedFrom });
  return new TransferProgress(emit, path, direction, bytes, resumedFrom ?? 0);
}

export class TransferProgress {
  constructor(
    private readonly emit: Emit,
    private readonly path: string,
    private readonly direction: Direction,
    private readonly bytes: number,
    private told: number,
  ) {}

  /** The first `done` bytes of the file have landed. */
  at(done: number): void {
    if (done - this.told < PROGRESS_BYTES) return;
    this.told = done;
    this.emit({ type: "file_progress", path: this.path, direction: this.direction, done, bytes: this.bytes });
  }
}
