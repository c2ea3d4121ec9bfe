/**
 * Waiting on a condition, never on time. A check returns `true` when the condition holds,
 * or a description of the state it saw instead; the last description becomes the failure
 * message, so a timeout says *what* never happened and what was there instead.
 */
export const DEFAULT_DEADLINE_MS = 25_000;
const POLL_MS = 40;

export type CheckResult = true | string;

export interface WaitOptions {
  /** How long to keep trying, in milliseconds. */
  timeout?: number;
  /** Called on each round; a string ends the wait at once with that reason (e.g. "client A exited"). */
  abortIf?: () => string | undefined;
}

export class WaitTimeoutError extends Error {
  override readonly name = "WaitTimeoutError";
}

/** Polls `check` until it returns `true`; throws with the last state it described otherwise. */
export async function waitFor(what: string, check: () => CheckResult | Promise<CheckResult>, opts: WaitOptions = {}): Promise<void> {
  const timeout = opts.timeout ?? DEFAULT_DEADLINE_MS;
  const started = performance.now();
  const deadline = started + timeout;
  let last = "(the condition was never checked)";
  let rounds = 0;
  for (;;) {
    rounds++;
    try {
      const result = await check();
      if (result === true) return;
      last = result;
    } catch (e) {
      last = `check threw: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`;
    }
    const abort = opts.abortIf?.();
    if (abort) throw new WaitTimeoutError(`Stopped waiting for ${what}: ${abort}\nLast state:\n${indent(last)}`);
    if (performance.now() >= deadline) {
      const secs = ((performance.now() - started) / 1000).toFixed(1);
      throw new WaitTimeoutError(`Timed out after ${secs}s (${rounds} checks) waiting for ${what}\nLast state:\n${indent(last)}`);
    }
    await Bun.sleep(POLL_MS);
  }
}

/** `waitFor` for a plain predicate; `describe` explains the state when it is false. */
export function waitUntil(
  what: string,
  predicate: () => boolean | Promise<boolean>,
  describe: () => string | Promise<string> = () => "the condition was false",
  opts: WaitOptions = {},
): Promise<void> {
  return waitFor(what, async () => ((await predicate()) ? true : await describe()), opts);
}

function indent(text: string): string {
  return text
    .split("\n")
    .map((l) => `  ${l}`)
    .join("\n");
}
