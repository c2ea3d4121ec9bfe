import * as path from "node:path";
import { DropsimError } from "../core/errors.ts";
import { type LocalListener, listenLocal, localAddress, requestLocal } from "../fsutil/local-socket.ts";
import type { ServerStatus } from "../server/control-server.ts";

/*
 * A running server's local control socket, DATA/control.sock (owner-only; a named pipe on
 * Windows): one request ({"cmd":"status"}), one reply, as a sync client's control socket.
 */

const SOCKET = "control.sock";
const TIMEOUT_MS = 10_000;

type Reply = { ok: true; server: ServerStatus } | { ok: false; code: string; message: string };

function _address(dataDir: string): string {
  return localAddress(dataDir, path.join(dataDir, SOCKET));
}

/** Serves `status` for the server on `dataDir`; the caller holds the data dir's serve.lock. */
export function serveServerControl(dataDir: string, status: () => Promise<ServerStatus>): Promise<LocalListener> {
  return listenLocal(_address(dataDir), async (request): Promise<Reply> => {
    if ((request as { cmd?: unknown } | null)?.cmd !== "status") throw new DropsimError("bad_message", 'Invalid control request: the server answers only {"cmd":"status"}');
    return { ok: true, server: await status() };
  });
}

/** The status of the server running on `dataDir`; undefined when none runs there. */
export async function askServerStatus(dataDir: string): Promise<ServerStatus | undefined> {
  const reply = (await requestLocal(_address(dataDir), { cmd: "status" }, TIMEOUT_MS, `The server on ${dataDir}`)) as Reply | undefined;
  if (reply === undefined) return undefined;
  if (!reply.ok) throw new DropsimError("internal", `The server on ${dataDir} refused its status: ${reply.message}`);
  return reply.server;
}
