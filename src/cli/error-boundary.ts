import { DropsimError } from "../core/errors.ts";
import { exitCodeFor } from "./exit-codes.ts";

/**
 * The one error boundary: an expected failure (a DropsimError, thrown or rejected, now or later
 * in a long-running command) is its one line and the exit code cli/exit-codes.ts gives its code;
 * anything else is a bug, said in one line, with the stack only when DROPSIM_DEBUG=1.
 */
export function fail(e: unknown): never {
  if (e instanceof DropsimError) process.stderr.write(`${e.message}\n`);
  else if (process.env.DROPSIM_DEBUG) process.stderr.write(`dropsim: internal error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  else process.stderr.write(`dropsim: internal error: ${e instanceof Error ? e.message : String(e)} (set DROPSIM_DEBUG=1 for details)\n`);
  process.exit(exitCodeFor(e));
}

