import { release, wholeBuffer } from "../core/release.ts";

/**
 * The bookkeeping every TCP adapter needs: bytes the kernel has not taken yet, and the
 * promises waiting for that backlog to shrink. `send` is the adapter's raw write and returns
 * how many bytes were taken.
 */
export class WriteQueue {
  /** Bytes the kernel has not taken, each with the transient buffer it frees once taken whole. */
  private queue: { bytes: Uint8Array; frees?: ArrayBufferLike }[] = [];
  private queued = 0;
  private waiters: { below: number; resolve: () => void }[] = [];
  private ended = false;

  constructor(private readonly send: (bytes: Uint8Array) => number) {}

  get bytes(): number {
    return this.queued;
  }

  /** `transient`: nothing uses `bytes` again, so their buffer is freed once the kernel has them all. */
  write(bytes: Uint8Array, transient = false): void {
    if (this.ended || bytes.length === 0) return;
    const frees = transient && wholeBuffer(bytes) ? bytes.buffer : undefined;
    if (this.queue.length === 0) {
      const n = this.send(bytes);
      if (n < 0) return this.end();
      if (n === bytes.length) {
        if (frees) release(frees);
        return;
      }
      bytes = bytes.subarray(n);
    }
    this.queue.push({ bytes, frees });
    this.queued += bytes.length;
  }

  /** Called by the adapter when the kernel can take more. */
  flush(): void {
    while (this.queue.length > 0) {
      const head = this.queue[0]!;
      const n = this.send(head.bytes);
      if (n < 0) return this.end();
      this.queued -= n;
      if (n < head.bytes.length) {
        head.bytes = head.bytes.subarray(n);
        break;
      }
      this.queue.shift();
      if (head.frees) release(head.frees);
    }
    this.wake();
  }

  drained(below = 0): Promise<void> {
    if (this.ended || this.queued <= below) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ below, resolve }));
  }

  end(): void {
    this.ended = true;
    this.queue = [];
    this.queued = 0;
    this.wake();
  }

  private wake(): void {
    if (this.waiters.length === 0) return;
    const still: typeof this.waiters = [];
    for (const w of this.waiters) (this.queued <= w.below ? w.resolve() : still.push(w));
    this.waiters = still;
  }
}
