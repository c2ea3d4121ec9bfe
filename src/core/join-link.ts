import { DropsimError } from "./errors.ts";
import { parseFingerprint } from "./fingerprint.ts";

/**
 * Everything a client needs to sync a share, in one line a server admin can hand over:
 * `dropsim://HOST:PORT/SHARE?token=TOKEN&fp=SHA256:HEX`. The fingerprint is optional (without
 * it the client trusts the first certificate it sees); the token is not.
 */
export interface JoinLink {
  host: string;
  port: number;
  share: string;
  token: string;
  /** `SHA256:` + 64 lowercase hex digits (core/fingerprint.ts), when the link pins one. */
  fingerprint?: string;
}

const SCHEME = "dropsim://";
const SHAPE = `${SCHEME}HOST:PORT/SHARE?token=TOKEN`;
const LINK = /^dropsim:\/\/(?:\[([0-9a-fA-F:.]+)\]|([^/:?#[\]@\s]+)):(\d{1,5})\/([^/?#\s]+)(?:\?([^#\s]*))?$/i;
const KEYS = new Set(["token", "fp"]);

export function formatJoinLink(link: JoinLink): string {
  const host = link.host.includes(":") ? `[${link.host}]` : link.host;
  const fp = link.fingerprint === undefined ? "" : `&fp=${parseFingerprint(link.fingerprint)}`;
  return `${SCHEME}${host}:${link.port}/${encodeURIComponent(link.share)}?token=${encodeURIComponent(link.token)}${fp}`;
}

/** Throws a one-sentence `bad_message` naming what is wrong; the message never repeats the token. */
export function parseJoinLink(text: string): JoinLink {
  const value = text.trim();
  const fail = (detail: string) => new DropsimError("bad_message", `Invalid join link "${redactJoinLink(value)}": ${detail}`);
  if (!value.toLowerCase().startsWith(SCHEME)) throw fail(`expected ${SHAPE}`);
  const m = LINK.exec(value);
  if (!m) throw fail(`expected ${SHAPE}`);
  const port = Number(m[3]);
  if (port < 1 || port > 65535) throw fail(`port ${m[3]} is not from 1 to 65535`);
  const share = decode(m[4]!, () => fail("the share name is not valid percent-encoding"));
  const params = new Map<string, string>();
  for (const pair of (m[5] ?? "").split("&").filter((p) => p !== "")) {
    const eq = pair.indexOf("=");
    const key = eq < 0 ? pair : pair.slice(0, eq);
    if (!KEYS.has(key)) throw fail(`unknown parameter "${key}" (expected token and optionally fp)`);
    if (params.has(key)) throw fail(`"${key}" is given twice`);
    params.set(key, decode(eq < 0 ? "" : pair.slice(eq + 1), () => fail(`"${key}" is not valid percent-encoding`)));
  }
  const token = params.get("token");
  if (!token) throw fail("it carries no token");
  const fp = params.get("fp");
  let fingerprint: string | undefined;
  if (fp !== undefined) {
    try {
      fingerprint = parseFingerprint(fp);
    } catch {
      throw fail("fp is not SHA256: followed by 64 hex digits");
    }
  }
  const link: JoinLink = { host: m[1] ?? m[2]!, port, share, token };
  return fingerprint === undefined ? link : { ...link, fingerprint };
}

/** The link with its token blanked out: what may be shown in an error or a log line. */
export function redactJoinLink(text: string): string {
  return text.replace(/([?&]token=)[^&#\s]*/gi, "$1…");
}

function decode(text: string, fail: () => Error): string {
  try {
    return decodeURIComponent(text);
  } catch {
    throw fail();
  }
}
