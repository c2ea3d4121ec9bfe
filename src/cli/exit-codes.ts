import { DropsimError } from "../core/errors.ts";

/*
 * One exit code per kind of failure, for every command, so a script can tell them apart
 * without reading the line (README, "Exit codes"):
 * 0 ok (status: in sync); 1 a failure, or status: still syncing; 2 a usage error (unknown flag,
 * bad value, not a synced folder); 3 a problem needs the user (the server refused the token);
 * 4 the server is not the one the folder trusts, or cannot be spoken to as asked.
 */
export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;
export const EXIT_REFUSED = 3;
export const EXIT_IDENTITY = 4;

const BY_CODE: Readonly<Record<string, number>> = {
  bad_message: EXIT_USAGE,
  bad_path: EXIT_USAGE,
  not_found: EXIT_USAGE,
  no_token: EXIT_REFUSED,
  unknown_token: EXIT_REFUSED,
  revoked: EXIT_REFUSED,
  expired: EXIT_REFUSED,
  wrong_share: EXIT_REFUSED,
  read_only: EXIT_REFUSED,
  fingerprint_mismatch: EXIT_IDENTITY,
  tls_required: EXIT_IDENTITY,
  protocol_mismatch: EXIT_IDENTITY,
  not_dropsim: EXIT_IDENTITY,
};

/** The exit code for an error a command ended with: by its code, else 1. */
export function exitCodeFor(e: unknown): number {
  return e instanceof DropsimError ? (BY_CODE[e.code] ?? EXIT_FAILURE) : EXIT_FAILURE;
}
