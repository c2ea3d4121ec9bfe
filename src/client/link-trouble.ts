import { DropsimError, describeError } from "../core/errors.ts";
import { formatAddress } from "./credentials.ts";

/**
 * How connection trouble is worded and when it is said. Pure: the server link passes the errors
 * it met and the clock. A client offline for a day must neither shout every 4 s nor fall silent.
 */

/** While offline, a reminder this often: the attempts themselves are debug lines. */
export const REMIND_EVERY_MS = 5 * 60_000;

/** Connect and socket failures by errno (Bun and node:net both set `code`), as a person reads them. */
const ERRNO_WORDING: Record<string, (host: string) => string> = {
  ECONNREFUSED: () => `connection refused (is "dropsim serve" running there?)`,
  ETIMEDOUT: () => "no answer (is the host up, and the port open in its firewall?)",
  EHOSTUNREACH: () => "no route to the host (is the network up?)",
  ENETUNREACH: () => "no route to the host (is the network up?)",
  ENOTFOUND: (host) => `cannot resolve "${host}" (check the name, and the network)`,
  EAI_AGAIN: (host) => `cannot resolve "${host}" now (is the network up?)`,
  ECONNRESET: () => "the connection was reset (a firewall, or a server that dropped it)",
  EPIPE: () => "the connection was reset (a firewall, or a server that dropped it)",
};

function _errno(e: unknown): string | undefined {
  const code = (e as { code?: unknown } | undefined)?.code;
  return typeof code === "string" && code in ERRNO_WORDING ? code : undefined;
}

/** What went wrong, in words: the errno's wording, else the error's own message. */
export function troubleReason(host: string, e: unknown): string {
  const errno = _errno(e);
  return errno === undefined ? describeError(e) : ERRNO_WORDING[errno]!(host);
}

/** A failed connect as one sentence naming the server (`cannot reach 127.0.0.1:7099: connection refused (…)`); other errors as they are. */
export function connectFailure(address: { host: string; port: number }, e: unknown): unknown {
  if (_errno(e) === undefined) return e;
  return new DropsimError("unreachable", `cannot reach ${formatAddress(address)}: ${troubleReason(address.host, e)}`, { cause: e });
}

/** What one failed attempt calls for: a warning (the first of a stretch offline), a reminder, or a debug line. */
export type Notice = { say: "warning" | "debug" } | { say: "reminder"; offlineForMs: number };

/** When the link is offline and what it has said about it. */
export class OfflineClock {
  /** When the link last went offline; undefined while connected (or before the first attempt). */
  private since: number | undefined;
  /** When the last warning or reminder was said. */
  private saidAt = 0;

  constructor(private readonly remindEveryMs = REMIND_EVERY_MS) {}

  /** Connected at `now`: how long it was offline, if it was. */
  online(now: number): number | undefined {
    const offlineFor = this.since === undefined ? undefined : now - this.since;
    this.since = undefined;
    return offlineFor;
  }

  /** The connection dropped at `now`: the one warning about it is the disconnect's own. */
  dropped(now: number): void {
    this.since = now;
    this.saidAt = now;
  }

  failed(now: number): Notice {
    if (this.since === undefined) {
      this.since = now;
      this.saidAt = now;
      return { say: "warning" };
    }
    if (now - this.saidAt < this.remindEveryMs) return { say: "debug" };
    this.saidAt = now;
    return { say: "reminder", offlineForMs: now - this.since };
  }
}
