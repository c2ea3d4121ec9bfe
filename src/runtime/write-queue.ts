/**
 * The bookkeeping every TCP adapter needs: bytes the kernel has not taken yet, and the
 * promises waiting for that backlog to shrink. `send` is the adapter's raw write and returns
 * how many bytes were taken.
 */
export class WriteQueue {
  private queue: Uint8Array[] = [];
  private queued = 0;
  private waiters: { below: number; resolve: () => void }[] = [];
  private ended = false;

  constructor(private readonly send: (bytes: Uint8Array) => number) {}

  get bytes(): number {
    return this.queued;
  }

  write(bytes: Uint8Array): void {
    if (this.ended || bytes.length === 0) return;
    if (this.queue.length === 0) {
      const n = this.send(bytes);
      if (n < 0) return this.end();
      if (n === bytes.length) return;
      bytes = bytes.subarray(n);
    }
    this.queue.push(bytes);
    this.queued += bytes.length;
  }

  /** Called by the adapter when the kernel can take more. */
  flush(): void {
    while (this.queue.length > 0) {
      const head = this.queue[0]!;
      const n = this.send(head);
      if (n < 0) return this.end();
      this.queued -= n;
      if (n < head.length) {
        this.queue[0] = head.subarray(n);
        break;
      }
      this.queue.shift();
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
