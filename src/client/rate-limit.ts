import { TokenBucket } from "../core/rate.ts";
import type { Direction } from "./events.ts";
import type { RateLimits } from "../core/rate.ts";

/** What a transfer step throws while the client is paused: the pass stops there, nothing is lost. */
export class PausedError extends Error {
  override readonly name = "PausedError";
  constructor() {
    super("Paused (dropsim resume to sync again)");
  }
}

/**
 * The gate every block sent or fetched passes: pauses (`dropsim pause`) and bandwidth limits
 * (`--limit-up`, `--limit-down`, `dropsim limit`). Changing either wakes the transfers waiting
 * here, so a new limit or a pause applies at once, not after a wait the old limit set.
 */
export class Throttle {
  private buckets: Record<Direction, TokenBucket | undefined> = { upload: undefined, download: undefined };
  private current: RateLimits = { up: null, down: null };
  private paused = false;
  private closed = false;
  private readonly sleepers = new Set<() => void>();

  constructor(
    limits: RateLimits,
    private readonly clock: () => number = () => performance.now(),
  ) {
    this.setLimits(limits);
  }

  get limits(): RateLimits {
    return this.current;
  }

  get isPaused(): boolean {
    return this.paused;
  }

  setLimits(limits: RateLimits): void {
    this.current = { ...limits };
    const now = this.clock();
    this.buckets = {
      upload: limits.up === null ? undefined : new TokenBucket(limits.up, now),
      download: limits.down === null ? undefined : new TokenBucket(limits.down, now),
    };
    this.wakeAll();
  }

  setPaused(paused: boolean): void {
    this.paused = paused;
    this.wakeAll();
  }

  /** Transfers waiting here end (as paused) so that a closing client does not wait for them. */
  close(): void {
    this.closed = true;
    this.wakeAll();
  }

  /**
   * Resolves when `bytes` may travel `direction`; throws PausedError while paused (or closed),
   * also when the pause comes during the wait.
   */
  async take(direction: Direction, bytes: number): Promise<void> {
    if (this.paused || this.closed) throw new PausedError();
    const bucket = this.buckets[direction];
    const wait = bucket?.take(bytes, this.clock()) ?? 0;
    if (wait <= 0) return;
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.sleepers.delete(done);
        resolve();
      };
      const timer = setTimeout(done, wait);
      this.sleepers.add(done);
    });
    if (this.paused || this.closed) throw new PausedError();
  }

  private wakeAll(): void {
    for (const wake of [...this.sleepers]) wake();
  }
}
