import * as fs from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { DropsimError, describeError, type ErrorCode } from "../core/errors.ts";
import { assertWirePath, STATE_DIR } from "../core/wire-path.ts";
import { type ClientMessage, type ServerMessage, serverMessages } from "../protocol/messages.ts";
import { Peer } from "../protocol/peer.ts";
import type { Runtime } from "../runtime/types.ts";
import { type Credentials, formatAddress, readCredentials } from "./credentials.ts";
import { shellWord, stoppedLine } from "./log-sink.ts";
import { isFinal, openSession, type ServerPeer, type Welcome } from "./server-link.ts";

/*
 * One request from a command run inside a synced folder (history, trash, restore): the folder's
 * own credentials and pinned certificate, one session, one reply. The hello carries a fresh
 * client id, never the folder's: the folder's running client would otherwise take what this
 * session commits (a restore) for its own changes and not download them.
 */

export interface SyncedFolder {
  root: string;
  credentials: Credentials;
}

type Request = ClientMessage extends infer M ? (M extends { type: "history" | "trash" | "restore" } ? Omit<M, "id"> : never) : never;

/** The synced folder holding `target` (absolute): the nearest folder at or above it with `.dropsim/`. */
export async function findSyncedFolder(target: string): Promise<SyncedFolder> {
  for (let dir = target; ; dir = path.dirname(dir)) {
    const stateDir = path.join(dir, STATE_DIR);
    if (await _isDir(stateDir)) {
      const credentials = await readCredentials(stateDir);
      if (!credentials) throw _notJoined(dir, dir);
      return { root: dir, credentials };
    }
    if (path.dirname(dir) === dir) throw _notJoined(target, "DIR");
  }
}

/** `target` (absolute, inside `root`) as the share names it: "" for the root itself. */
export function wirePathIn(root: string, target: string): string {
  const rel = path.relative(root, target);
  if (rel === "") return "";
  if (rel.startsWith("..") || path.isAbsolute(rel)) throw new DropsimError("bad_path", `Cannot use ${target}: it is outside the synced folder ${root}`);
  return assertWirePath(rel.split(path.sep).join("/"));
}

/** One session with the folder's server: its welcome, and requests (a restore needs the head it saw). */
export interface OneShotSession {
  welcome: Welcome;
  ask<R extends ServerMessage>(request: Request): Promise<R>;
}

/**
 * Says hello to the folder's server, runs `fn` on the session, says bye and closes. Refusals of
 * the hello are one line, worded as the sync client words them.
 */
export async function withServer<T>(runtime: Runtime, folder: SyncedFolder, fn: (session: OneShotSession) => Promise<T>): Promise<T> {
  const { credentials: c, root } = folder;
  const server = formatAddress(c.server);
  let refusal: DropsimError | undefined;
  let presented: string | undefined;
  let opened: { peer: ServerPeer; welcome: Welcome };
  try {
    opened = await openSession(
      runtime,
      c.server,
      { clientId: crypto.randomUUID(), host: os.hostname(), share: c.share, token: c.token, tls: !c.insecure, fingerprint: c.fingerprint },
      (conn) =>
        new Peer(conn, serverMessages, {
          // A refusal the server sends on its own (TLS only) arrives before it hangs up.
          message: (m) => {
            const error = m.type === "error" ? new DropsimError(m.code as ErrorCode, m.message) : undefined;
            if (isFinal(error)) refusal = error;
          },
          block: () => {},
          protocolError: () => {},
          closed: () => {},
        }),
      (fingerprint) => (presented = fingerprint),
    );
  } catch (e) {
    const final = isFinal(e) ? e : refusal;
    if (final) throw new DropsimError(final.code, stoppedLine({ type: "stopped", code: final.code, reason: final.message, server, root, share: c.share, presented }));
    // The link's own sentences name the server already (unreachable, not a dropsim server, silent).
    if (e instanceof DropsimError && e.message.includes(server)) throw e;
    throw new DropsimError(e instanceof DropsimError ? e.code : "io", `Cannot reach the server at ${server}: ${describeError(e)}`);
  }
  const { peer, welcome } = opened;
  try {
    return await fn({ welcome, ask: (request) => peer.request(request) });
  } finally {
    if (!peer.isClosed) peer.send({ type: "bye" });
    peer.close();
  }
}

function _notJoined(target: string, dir: string): DropsimError {
  return new DropsimError("not_found", `${target} is not in a synced folder: run dropsim sync ${dir === "DIR" ? dir : shellWord(dir)} --join LINK first`);
}

async function _isDir(p: string): Promise<boolean> {
  try {
    return (await fs.stat(p)).isDirectory();
  } catch {
    return false;
  }
}
