/**
 * Waiting on conditions, never on time. A check returns `true` when the condition holds, or a
 * description of what it saw instead; on timeout that description says what never happened.
 */
export type CheckResult = true | string;

export interface WaitOptions {
  timeout: number;
  /** Milliseconds between checks (default 20). */
  interval?: number;
  /** A string ends the wait at once with that reason (e.g. "client A exited"). */
  abortIf?: () => string | undefined;
}

export class BenchTimeoutError extends Error {
  override readonly name = "BenchTimeoutError";
}

/** Polls `check` until it returns `true`; resolves with the `performance.now()` of that check. */
export async function waitFor(what: string, check: () => CheckResult | Promise<CheckResult>, opts: WaitOptions): Promise<number> {
  const interval = opts.interval ?? 20;
  const started = performance.now();
  const deadline = started + opts.timeout;
  let last = "(never checked)";
  for (;;) {
    const at = performance.now();
    const result = await check();
    if (result === true) return at;
    last = result;
    const abort = opts.abortIf?.();
    if (abort) throw new BenchTimeoutError(`Stopped waiting for ${what}: ${abort} (last state: ${last})`);
    if (performance.now() >= deadline) {
      throw new BenchTimeoutError(`Timed out after ${((performance.now() - started) / 1000).toFixed(1)} s waiting for ${what} (last state: ${last})`);
    }
    await Bun.sleep(interval);
  }
}

/** `promise`, or an error naming `what` once `ms` have passed. */
export async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: Timer | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`Timed out after ${ms / 1000} s waiting for ${what}`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
