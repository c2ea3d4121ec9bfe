import { mintToken, type Scope } from "../../src/core/access-token.ts";
import { hashBlock, hashBlockList } from "../../src/core/block-hash.ts";
import type { Entry } from "../../src/core/entry.ts";
import { type ClientMessage, type MessageOf, type Op, PROTOCOL_VERSION, type PutOp, type ServerMessage, serverMessages } from "../../src/protocol/messages.ts";
import { Peer } from "../../src/protocol/peer.ts";
import { Admission, DEFAULT_LIMITS } from "../../src/server/admission.ts";
import { ServerMetrics } from "../../src/server/server-metrics.ts";
import { Session } from "../../src/server/session.ts";
import { ShareRegistry } from "../../src/server/share-registry.ts";
import type { AccessStore } from "../../src/store/access-store.ts";
import { MEMORY_LOCATION, openAccessStore, type StoreSet } from "../../src/store/open.ts";
import { openMemoryStores } from "../helpers/memory-stores.ts";
import { connectionPair } from "../helpers/memory-transport.ts";

// Sessions driven over in-memory connections: no sockets, no processes. Each client is a real
// protocol Peer, so what is tested is what a client sees on the wire.

export const limits = { ...DEFAULT_LIMITS, backoffFirstMs: 0 };
export const silent = { info() {}, warn() {}, error() {}, debug() {}, success() {} };

export type Reply<T extends ServerMessage["type"]> = MessageOf<ServerMessage, T>;
export type Request = ClientMessage extends infer M ? (M extends unknown ? Omit<M, "id"> : never) : never;

export interface Rig {
  stores: StoreSet;
  access: AccessStore;
  admission: Admission;
  /** A read-write token of the share default. */
  token: string;
  metrics: ServerMetrics;
  shares: ShareRegistry;
  sessions: Session[];
  ended: Session[];
}

/** A server's parts around `stores` (in memory unless given), with a read-write token of the share default. */
export async function openRig(stores?: StoreSet): Promise<Rig> {
  const s = stores ?? (await openMemoryStores());
  const access = await openAccessStore(MEMORY_LOCATION, { openDatabase: () => undefined as never });
  const admission = new Admission(limits);
  return { stores: s, access, admission, token: addToken(access, "default", "read_write"), metrics: new ServerMetrics(), shares: new ShareRegistry(s), sessions: [], ended: [] };
}

/** Closes every session's client side, then the stores. */
export async function closeRig(r: Rig | undefined): Promise<void> {
  for (const s of r?.sessions ?? []) s.peer.close();
  await r?.stores.close();
}

export function addToken(access: AccessStore, share: string, scope: Scope, expires: number | null = null): string {
  const t = mintToken();
  access.addToken({ id: t.id, secretHash: t.secretHash, share, scope, label: null, expires }, Date.now());
  return t.token;
}

export type Client = ReturnType<typeof connect>;

/** A client Peer connected to a new Session; `pushes` collects what the server sends unasked. */
export function connect(r: Rig, opts: { chunk?: number; token?: string; share?: string } = {}) {
  const [clientEnd, serverEnd] = connectionPair(opts);
  const host = { shares: r.shares, access: r.access, admission: r.admission, metrics: r.metrics, log: silent, used() {}, ended: (s: Session) => void r.ended.push(s) };
  const session = new Session(serverEnd.conn, host);
  serverEnd.attach(session.events);
  r.sessions.push(session);
  const pushes: ServerMessage[] = [];
  let closed = false;
  const peer = new Peer<ServerMessage, ClientMessage>(clientEnd.conn, serverMessages, {
    message: (m) => void pushes.push(m),
    block() {},
    protocolError(e) {
      throw e;
    },
    closed: () => {
      closed = true;
    },
  });
  clientEnd.attach(peer.events);
  const request = <T extends ServerMessage["type"]>(m: Request) => peer.request<Reply<T>>(m as never);
  const hello = (clientId = "client-a") =>
    request<"welcome">({ type: "hello", protocol: PROTOCOL_VERSION, clientId, host: "laptop", share: opts.share ?? "default", token: opts.token ?? r.token });
  return { session, peer, pushes, request, hello, conn: clientEnd.conn, isClosed: () => closed };
}

/** A file's put op for `text` as one block, and that block (to upload first). */
export function textPut(path: string, text: string, baseVersion = 0): { op: PutOp; hash: string; bytes: Uint8Array } {
  const bytes = new TextEncoder().encode(text);
  const hash = hashBlock(bytes);
  const op: PutOp = { op: "put", path, kind: "file", baseVersion, size: bytes.length, mode: 0o644, hash: hashBlockList([hash]), blocks: [[hash, bytes.length]], mtime: 5 };
  return { op, hash, bytes };
}

/** Uploads `text` and commits it at `path` through the session; the new entry of `path`. */
export async function writeText(c: Client, path: string, text: string, baseVersion = 0): Promise<Entry> {
  const { op, hash, bytes } = textPut(path, text, baseVersion);
  c.peer.sendBlock(hash, bytes);
  return onlyOk(await c.request<"applied">({ type: "apply", ops: [op] }), path);
}

/** Applies ops that must all succeed; the last entry of `path`. */
export async function applyOk(c: Client, ops: Op[], path: string): Promise<Entry> {
  return onlyOk(await c.request<"applied">({ type: "apply", ops }), path);
}

function onlyOk(applied: Reply<"applied">, path: string): Entry {
  const entries = applied.results.flatMap((r) => {
    if (r.status !== "ok") throw new Error(`expected ok, got ${JSON.stringify(r)}`);
    return r.entries;
  });
  return entries.findLast((e) => e.path === path) as Entry;
}
