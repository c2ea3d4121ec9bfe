import type { Log } from "../core/log.ts";
import { formatBytes, formatDuration } from "../core/units.ts";
import type { EventOf, SyncEvent } from "./events.ts";
import { foldSummary, initialSummary } from "./summary.ts";

/**
 * Turns the client's events into log lines: the only place the sync client's wording lives.
 * Tests and users wait for these lines, so their text does not change with the events' shape.
 * Events nobody reads in a log (progress, commits of files queued) print nothing; plans and
 * idleness say the state lines of client/summary.ts, once per change. `clock`: ms since the epoch.
 */
export function logSink(log: Log, clock: () => number = Date.now): (event: SyncEvent) => void {
  let summary = initialSummary(clock());
  return (e) => {
    let lines: string[];
    [summary, lines] = foldSummary(summary, e, clock());
    for (const line of lines) log.info(line);
    switch (e.type) {
      case "connected":
        return log.info(`${e.reconnected ? "Reconnected" : "Connected"} to ${e.server}${e.offlineForMs === undefined ? "" : ` after ${formatDuration(e.offlineForMs)} offline`}`);
      case "disconnected":
        return log.warn(`Lost connection to ${e.server}: ${e.reason}; reconnecting`);
      // One warning when the trouble starts, a reminder every few minutes, each attempt at debug level.
      case "unreachable":
        if (e.offlineForMs !== undefined) return log.warn(`still cannot reach ${e.server}: offline for ${formatDuration(e.offlineForMs)}`);
        if (e.firstAttempt) return log.warn(`${_naming(e.server, e.reason)} — retrying every ${(e.retryEveryMs ?? e.retryInMs) / 1000} s`);
        return log.debug(`${_naming(e.server, e.reason)}; retrying in ${formatDuration(e.retryInMs)}`);
      case "server_said":
        return log.warn(`Server reported: ${e.message}`);
      case "server_invalid":
        return log.warn(`Server sent something invalid: ${e.reason}`);
      case "stopped":
        return log.error(stoppedLine(e));
      case "pass_failed":
        return log.error(`Sync pass failed: ${e.reason}; will retry in ${_seconds(e.retryInMs)} s`);
      case "idle":
        return log.debug("Idle: folder and server agree");
      case "file_started":
        if ((e.resumedFrom ?? 0) > 0) log.info(`Resuming "${e.path}": ${formatBytes(e.resumedFrom!)} of ${formatBytes(e.bytes)} kept from an earlier attempt`);
        return;
      case "file_done":
        if (e.direction === "download") log.debug(`Downloaded "${e.path}" (${formatBytes(e.bytes)})`);
        return;
      case "file_failed":
        if (e.direction === "download") log.warn(`Cannot write "${e.path}": ${e.reason}`);
        return;
      case "committed":
        return log.debug(`Uploaded ${e.op} "${e.path}" → version ${e.version ?? "-"}`);
      case "moved":
        return log.debug(`Moved "${e.from}" to "${e.to}"`);
      case "linked":
        return log.debug(`Linked "${e.path}" to "${e.target}"`);
      case "conflict":
        if (e.side === "local") return log.warn(`Conflict on "${e.path}": kept your version as "${e.copy}"`);
        return log.warn(`Conflict: "${e.path}" holds the version ${e.host} kept of a file changed on two replicas at once`);
      case "case_conflict":
        if (e.clash !== undefined) return log.warn(`Case conflict: "${e.path}" and "${e.clash}" are one name on this disk; kept "${e.path}" as "${e.placedAs}"`);
        return log.debug(`Wrote "${e.path}" as "${e.placedAs}", in the case-conflict folder made for a folder above it`);
      case "problem":
        return log.warn(`Not syncing "${e.path}": ${e.reason}. Everything else keeps syncing.`);
      case "problem_cleared":
        if (!e.gone) log.info(`"${e.path}" syncs again`);
        return;
      case "note":
        return log.warn(`"${e.path}": ${e.reason}`);
      case "waiting_for_space":
        if (e.again) return log.debug(`Still no room for "${e.path}" (${formatBytes(e.bytes)}): ${formatBytes(e.free)} free`);
        return log.warn(`Not downloading "${e.path}" (${formatBytes(e.bytes)}): only ${formatBytes(Math.max(0, e.free))} free on the disk, keeping ${e.keep} free; it is retried when space frees up`);
      case "xattrs_unsupported":
        return log.debug(`"${e.path}" is written without its extended attributes: this file system keeps none`);
      case "not_uploaded":
        return log.warn(`"${e.path}": not uploaded: ${e.reason}`);
      case "refused":
        return log.warn(`Server refused ${e.op} of "${e.path}": ${e.message}${e.retry ? "; will retry" : ""}`);
      case "held_deletions":
        return log.warn(
          `Holding ${e.count} local deletions (more than half of the folder): not deleting them on the server. ` +
            `If they are intended, stop this client and run: dropsim sync ${e.root} --confirm-deletes`,
        );
      case "confirmed_deletions":
        return log.info(`Sending the ${e.count} deletions held by the last run, as confirmed`);
      case "rebase":
        return log.warn(`Not trusting what this folder last synced: ${e.why}. Nothing here is deleted or overwritten because of it; what the server lacks is uploaded again.`);
      case "ignore_rules":
        return log.info(`Ignore rules changed: ${e.rules} ${e.rules === 1 ? "rule" : "rules"} from ${e.file}`);
      case "warning":
        return log.warn(e.message);
      case "paused":
        return log.info("Paused: nothing syncs until dropsim resume");
      case "resumed":
        return log.info("Resumed");
      case "excluded":
        if (e.keptChanged.length > 0) {
          return log.warn(`Excluded "${e.path}": kept here because ${e.keptChanged.length} ${e.keptChanged.length === 1 ? "path in it" : "paths in it"} changed (e.g. "${e.keptChanged[0]}"); not uploaded while excluded`);
        }
        return log.info(`Excluded "${e.path}": ${e.removed ? "removed here; it stays on the server" : "it stays on the server and is not downloaded"}`);
      case "included":
        return log.info(`Included "${e.path}" again: it downloads`);
      case "limits":
        return log.info(`Bandwidth limits: up ${_rate(e.limits.up)}, down ${_rate(e.limits.down)}`);
      case "pass_planned":
      case "phase":
      case "file_progress":
      case "not_uploaded_cleared":
        return;
    }
  };
}

function _rate(bytesPerSecond: number | null): string {
  return bytesPerSecond === null ? "none" : `${formatBytes(bytesPerSecond)}/s`;
}

/** One line: why the client stopped, and the command that gets it going again. */
export function stoppedLine(e: EventOf<"stopped">): string {
  const rejoin = `run dropsim sync ${shellWord(e.root)} --join LINK`;
  switch (e.code) {
    case "no_token":
      return `Cannot sync: the server at ${e.server} needs a token for this folder; ask its admin for a join link and ${rejoin}`;
    case "unknown_token":
      return `Cannot sync: the server at ${e.server} does not know this folder's token; ask for a new one and ${rejoin}`;
    case "revoked":
      return `Cannot sync: the server revoked this folder's token; ask for a new one and ${rejoin}`;
    case "expired":
      return `Cannot sync: this folder's token has expired; ask for a new one and ${rejoin}`;
    case "wrong_share":
      return `Cannot sync: this folder's token is not for the share ${e.share === undefined ? "it asked for" : `"${e.share}"`}; ask for a join link to it and ${rejoin}`;
    case "fingerprint_mismatch":
      return `Cannot sync: the server at ${e.server} is not the one this folder trusts (${e.reason}); if its certificate was changed on purpose, run dropsim sync ${shellWord(e.root)} --accept-fingerprint ${e.presented}`;
    case "tls_required":
      return `Cannot sync: the server at ${e.server} accepts only TLS connections; run dropsim sync ${shellWord(e.root)} without --insecure`;
    case "protocol_mismatch":
      return e.reason;
    default:
      return `Cannot sync: ${e.reason}`;
  }
}

/** A path as a shell reads it back: quoted only when it must be. */
export function shellWord(text: string): string {
  return /^[\w@%+=:,./-]+$/.test(text) ? text : `'${text.replaceAll("'", `'\\''`)}'`;
}

/** The link's reasons name the server; any other (a hang-up during the hello) is said as one that does. */
function _naming(server: string, reason: string): string {
  return reason.includes(server) ? reason : `cannot reach ${server}: ${reason}`;
}

function _seconds(ms: number): string {
  return (ms / 1000).toFixed(1);
}
