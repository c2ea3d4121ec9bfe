import type { RateLimits } from "../core/rate.ts";
import type { StatusSnapshot } from "./status.ts";

/*
 * The local control channel of a running sync client (issue 13): `dropsim status`, `pause`,
 * `resume`, `exclude`, `include` and `limit` talk to the client of a folder through it. One JSON
 * request per connection, one JSON reply, each a line. It is owner-only and local: a Unix socket
 * in the folder's .dropsim/ (a named pipe on Windows).
 */

/** What excluding a path did to its local copy. */
export interface ExcludeOutcome {
  /** Removed here: nothing in it had changed since it was last synced. */
  removed: boolean;
  /** Kept here because these paths inside changed locally (they are reported, never uploaded while excluded). */
  keptChanged: string[];
}

export type ControlRequest =
  | { cmd: "status" }
  | { cmd: "flush"; timeoutMs: number }
  | { cmd: "pause" }
  | { cmd: "resume" }
  | { cmd: "exclude"; path: string }
  | { cmd: "include"; path: string }
  | { cmd: "limits"; limits: RateLimits };

export type ControlReply =
  | { ok: true; status: StatusSnapshot; inSync?: boolean; excluded?: ExcludeOutcome }
  | { ok: false; code: string; message: string };
