import * as path from "node:path";
import { DropsimError } from "../core/errors.ts";
import { type LocalListener, listenLocal, localAddress, requestLocal } from "../runtime/local-socket.ts";
import type { Session } from "./session.ts";
import type { ShareRegistry } from "./share-registry.ts";

/*
 * The running server's local control socket, DATA/control.sock (owner-only; a named pipe on
 * Windows): `dropsim status --data DATA` reads the shares and the clients connected now.
 * One request ({"cmd":"status"}), one reply, as the sync client's control socket.
 */

const SOCKET = "control.sock";
const TIMEOUT_MS = 10_000;

export interface ServerStatus {
  /** The address clients connect to. */
  address: string;
  shares: { name: string; head: number }[];
  clients: ConnectedClient[];
}

export interface ConnectedClient {
  clientId: string;
  host: string;
  share: string;
  /** Where the connection comes from. */
  remote: string;
  /** When it authenticated (ms since the epoch). */
  since: number;
  bytesIn: number;
  bytesOut: number;
}

type Reply = { ok: true; server: ServerStatus } | { ok: false; code: string; message: string };

/** Serves the status of the server whose data dir is `dataDir`; the caller holds the data dir's serve.lock. */
export function serveServerControl(dataDir: string, status: () => Promise<ServerStatus>): Promise<LocalListener> {
  return listenLocal(localAddress(dataDir, path.join(dataDir, SOCKET)), async (request): Promise<Reply> => {
    if ((request as { cmd?: unknown } | null)?.cmd !== "status") throw new DropsimError("bad_message", 'Invalid control request: the server answers only {"cmd":"status"}');
    return { ok: true, server: await status() };
  });
}

/** The status of the server running on `dataDir`; undefined when none runs there. */
export async function askServerStatus(dataDir: string): Promise<ServerStatus | undefined> {
  const reply = (await requestLocal(localAddress(dataDir, path.join(dataDir, SOCKET)), { cmd: "status" }, TIMEOUT_MS, `The server on ${dataDir}`)) as Reply | undefined;
  if (reply === undefined) return undefined;
  if (!reply.ok) throw new DropsimError("internal", `The server on ${dataDir} refused its status: ${reply.message}`);
  return reply.server;
}

/** Where each session came from and when: the server records it as connections open. */
export type SessionOrigins = WeakMap<Session, { remote: string; at: number }>;

/** The status as the server sees it now: every share's journal head, every authenticated session. */
export async function describeServer(address: string, shares: ShareRegistry, sessions: Iterable<Session>, origins: SessionOrigins): Promise<ServerStatus> {
  const heads = await Promise.all(shares.names().map(async (name) => ({ name, head: (await shares.get(name)?.meta.head()) ?? 0 })));
  const clients = [...sessions].flatMap((s): ConnectedClient[] => {
    const p = s.principal;
    const origin = origins.get(s);
    if (!p || !origin) return [];
    return [{ clientId: p.clientId, host: p.host ?? "", share: p.share, remote: origin.remote, since: origin.at, bytesIn: s.peer.bytesIn, bytesOut: s.peer.bytesOut }];
  });
  return { address, shares: heads, clients };
}
