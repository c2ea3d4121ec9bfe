import * as fs from "node:fs/promises";
import * as path from "node:path";
import { z } from "zod";
import { DropsimError, describeError } from "../core/errors.ts";
import { FINGERPRINT } from "../core/fingerprint.ts";
import type { JoinLink } from "../core/join-link.ts";

/**
 * What a folder needs to sync again with no flags, in `.dropsim/join.json`: the server, the
 * share, the token, and the server's pinned certificate fingerprint. The token is a password:
 * the file is 0600 in a 0700 `.dropsim/`, rewritten whole (temp file, fsync, rename), and its
 * contents never reach a log line.
 *
 *   {"format":1,"server":"host:7070","share":"team","token":"dst_…","fingerprint":"SHA256:…","insecure":false}
 */
export interface Credentials {
  server: { host: string; port: number };
  /** Unset until a server names the share it gave us (a bare --token is for whichever share it is). */
  share?: string;
  token: string;
  /** `SHA256:` + 64 lowercase hex; unset until the first TLS connection (trust on first use). */
  fingerprint?: string;
  /** Plain TCP to a loopback address, as the user asked once. */
  insecure: boolean;
}

export const CREDENTIALS_FILE = "join.json";
const FORMAT = 1;

const schema = z.strictObject({
  format: z.literal(FORMAT),
  server: z.string().regex(/^(?:\[[^\]]+\]|[^:[\]]+):\d{1,5}$/),
  share: z.string().min(1).optional(),
  token: z.string().min(1),
  fingerprint: z.string().regex(FINGERPRINT).optional(),
  insecure: z.boolean(),
});

/** What this run was given on the command line (and DROPSIM_TOKEN); every field is optional. */
export interface GivenCredentials {
  join?: JoinLink;
  server?: { host: string; port: number };
  share?: string;
  token?: string;
  /** --fingerprint or --accept-fingerprint: the identity to insist on from now on. */
  fingerprint?: string;
  insecure: boolean;
}

export const DEFAULT_SERVER = { host: "127.0.0.1", port: 7070 };

/**
 * The saved credentials overridden by what was given: a join link, then each flag on its own.
 * A join link is a new relationship: it brings its own pin, and keeps the saved one only for
 * the same address. A new --server alone keeps the pin: a server that moved keeps its
 * certificate, and one that did not is then refused, as it should be, until accepted on purpose.
 * Plain TCP is what this run asked for when it named a server, else what was saved.
 * Undefined when no token is known at all: the folder has not joined anything.
 */
export function mergeCredentials(saved: Credentials | undefined, given: GivenCredentials): Credentials | undefined {
  const { join } = given;
  const server = given.server ?? (join && { host: join.host, port: join.port }) ?? saved?.server ?? DEFAULT_SERVER;
  const token = given.token ?? join?.token ?? saved?.token;
  if (token === undefined) return undefined;
  const keepPin = !join || (saved !== undefined && sameAddress(saved.server, server));
  const pinned = join?.fingerprint ?? (keepPin ? saved?.fingerprint : undefined);
  const named = given.server !== undefined || join !== undefined;
  const merged: Credentials = {
    server,
    token,
    insecure: given.insecure || (!named && (saved?.insecure ?? false)),
  };
  const share = given.share ?? join?.share ?? saved?.share;
  const fingerprint = given.fingerprint ?? pinned;
  if (share !== undefined) merged.share = share;
  if (fingerprint !== undefined) merged.fingerprint = fingerprint;
  return merged;
}

export function sameAddress(a: { host: string; port: number }, b: { host: string; port: number }): boolean {
  return a.host.toLowerCase() === b.host.toLowerCase() && a.port === b.port;
}

export function formatAddress(a: { host: string; port: number }): string {
  return a.host.includes(":") ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}

/** The folder's saved credentials, or undefined when it never joined. */
export async function readCredentials(stateDir: string): Promise<Credentials | undefined> {
  const file = path.join(stateDir, CREDENTIALS_FILE);
  let text: string;
  try {
    text = await fs.readFile(file, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new DropsimError("io", `Cannot read ${file}: ${describeError(e)}`);
  }
  let saved: z.infer<typeof schema>;
  try {
    saved = schema.parse(JSON.parse(text));
  } catch {
    // The parser's detail could quote the token: say only which file.
    throw new DropsimError("io", `Cannot read ${file}: it is not a join file this dropsim wrote; join again with dropsim sync DIR --join LINK`);
  }
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(saved.server)!;
  const credentials: Credentials = { server: { host: m[1] ?? m[2]!, port: Number(m[3]) }, token: saved.token, insecure: saved.insecure };
  if (saved.share !== undefined) credentials.share = saved.share;
  if (saved.fingerprint !== undefined) credentials.fingerprint = saved.fingerprint;
  return credentials;
}

/**
 * Writes the credentials whole and durably (`syncDir`: the runtime's), readable by the owner
 * only, and closes `.dropsim/` to everyone else.
 */
export async function saveCredentials(stateDir: string, c: Credentials, syncDir: (dir: string) => Promise<void>): Promise<void> {
  await fs.chmod(stateDir, 0o700);
  const file = path.join(stateDir, CREDENTIALS_FILE);
  const temp = `${file}.${crypto.randomUUID()}.tmp`;
  const body = { format: FORMAT, server: formatAddress(c.server), share: c.share, token: c.token, fingerprint: c.fingerprint, insecure: c.insecure };
  // 0600 from the first byte: a file created wider and narrowed later is readable in between.
  const handle = await fs.open(temp, "wx", 0o600);
  try {
    await handle.writeFile(`${JSON.stringify(body)}\n`);
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await fs.rename(temp, file);
  } catch (e) {
    await fs.rm(temp, { force: true });
    throw e;
  }
  // The rename is durable only then, and `.dropsim/` (made at the first start) once the folder
  // holding it is synced: lost, the folder would not know its server after a power cut.
  await syncDir(stateDir);
  await syncDir(path.dirname(stateDir));
}
