import type { Session } from "./session.ts";
import type { ShareRegistry } from "./share-registry.ts";

/*
 * What a running server tells `dropsim status --data DATA` through DATA/control.sock: its
 * shares with their journal heads and the clients connected now. cli/server-control.ts serves
 * it (cli/ owns the data dir's files, as it takes its lock; the server reaches its disk only
 * through store/).
 */

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
  /** When it connected (ms since the epoch). */
  since: number;
  bytesIn: number;
  bytesOut: number;
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
