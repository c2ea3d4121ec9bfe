import { DropsimError } from "./errors.ts";

/*
 * Bandwidth limits (issue 13): rates as users write them, and the token bucket that paces
 * transfers to them. Pure: the caller passes the clock.
 */

/** Bandwidth limits in bytes per second; null: no limit. */
export interface RateLimits {
  up: number | null;
  down: number | null;
}

const RATE_UNITS: Record<string, number> = {
  b: 1,
  k: 2 ** 10,
  m: 2 ** 20,
  g: 2 ** 30,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  kib: 2 ** 10,
  mib: 2 ** 20,
  gib: 2 ** 30,
};

/**
 * "1MiB", "500KiB", "2MB", "1.5M" (optionally "/s") → bytes per second; "0" or "none" → null
 * (no limit). A bare number is KiB, as rsync's --bwlimit reads it; K, M and G alone are
 * binary, as there too.
 */
export function parseRate(value: string): number | null {
  const text = value.trim().toLowerCase();
  if (text === "none" || text === "0") return null;
  const m = /^(\d+(?:\.\d+)?)\s*(b|[kmg](?:i?b)?)?(?:\/s)?$/.exec(text);
  const bytes = m ? Math.round(Number(m[1]) * RATE_UNITS[m[2] ?? "k"]!) : NaN;
  if (!(bytes >= 1)) {
    throw new DropsimError("bad_message", `Invalid rate "${value}": expected bytes per second such as 1MiB, 500KiB or 2MB, or none (0) for no limit`);
  }
  return bytes;
}

/**
 * Tokens (bytes) that build up while idle: a quarter of a second's worth, so a transfer that
 * starts after a quiet spell is not sent at many times the rate at first.
 */
const BURST_SECONDS = 0.25;
const MIN_BURST = 16 * 1024;

/**
 * A token bucket that may go into debt: a block bigger than the bucket is taken whole, and the
 * wait it returns pays the debt off at `rate`, so the long-run rate holds whatever the block size.
 */
export class TokenBucket {
  private tokens: number;
  private readonly burst: number;

  constructor(
    readonly rate: number,
    private last: number,
  ) {
    this.burst = Math.max(MIN_BURST, rate * BURST_SECONDS);
    this.tokens = this.burst;
  }

  /** Takes `bytes` at `now` (ms); returns how many ms to wait before sending them (0: at once). */
  take(bytes: number, now: number): number {
    this.tokens = Math.min(this.burst, this.tokens + (Math.max(0, now - this.last) * this.rate) / 1000);
    this.last = Math.max(this.last, now);
    this.tokens -= bytes;
    return this.tokens >= 0 ? 0 : (-this.tokens / this.rate) * 1000;
  }
}
