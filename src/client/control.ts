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

/** What a control request may ask of a running client: the part of RunningClient (sync-client.ts) it serves. */
export interface Controlled {
  /** Where the client stands now, folded from its events. */
  status(): StatusSnapshot;
  /**
   * Looks at the whole folder now (a file written just before counts), then resolves true once
   * the folder and the server agree, or false when `timeoutMs` passed first (`status --wait`).
   */
  flush(timeoutMs: number): Promise<boolean>;
  /** Stops passes and transfers until `resume`; remembered in state.db across restarts. */
  pause(): void;
  resume(): void;
  /** Selective sync: `path` (relative to the root, "/"-separated) is no longer downloaded. */
  exclude(path: string): Promise<ExcludeOutcome>;
  include(path: string): Promise<void>;
  /** Bandwidth limits in bytes per second (null: none), applied at once to transfers in flight. */
  setLimits(limits: RateLimits): void;
}
