import { afterEach, describe, expect, test } from "bun:test";
import { hashBlock, hashBlockList } from "../../src/core/block-hash.ts";
import type { BlockRef } from "../../src/core/entry.ts";
import { encodeFrame, FrameType } from "../../src/protocol/frame-codec.ts";
import { PROTOCOL_VERSION, type PutOp, type ServerMessage } from "../../src/protocol/messages.ts";
import { Admission, DEFAULT_LIMITS } from "../../src/server/admission.ts";
import { AccessWatch } from "../../src/server/access-watch.ts";
import { parseMetrics } from "../helpers/metrics.ts";
import { waitFor } from "../helpers/wait-for.ts";
import { addToken, closeRig, connect, limits, openRig, type Request, type Rig, silent } from "./_session-rig.ts";

// Sessions driven over in-memory connections: no sockets, no processes. Each client is a real
// protocol Peer, so what is tested is what a client sees on the wire.

let rig: Rig | undefined;

afterEach(async () => {
  await closeRig(rig);
  rig = undefined;
});

async function server(): Promise<Rig> {
  rig = await openRig();
  return rig;
}

const bytes = new TextEncoder().encode("hello, world");
const block: BlockRef = [hashBlock(bytes), bytes.length];
const putFile = (path: string, baseVersion = 0): PutOp => ({
  op: "put",
  path,
  kind: "file",
  baseVersion,
  size: bytes.length,
  mode: 0o644,
  hash: hashBlockList([block[0]]),
  blocks: [block],
  mtime: 5,
});

describe("Session states", () => {
  test("hello makes a session ready with its share and principal, and the welcome tells the share's journal", async () => {
    const r = await server();
    const c = connect(r);
    expect(c.session.state).toBe("greeting");
    const welcome = await c.hello();
    const meta = r.shares.get("default")!.meta;
    expect(welcome).toMatchObject({ type: "welcome", protocol: PROTOCOL_VERSION, serverId: meta.serverId, head: 0 });
    expect(c.session.state).toBe("ready");
    expect(c.session.principal).toMatchObject({ share: "default", scope: "read_write", expires: null, clientId: "client-a", host: "laptop" });
  });

  test.each<[string, Request]>([
    ["changes", { type: "changes", since: 0 }],
    ["has_blocks", { type: "has_blocks", hashes: [block[0]] }],
    ["get_blocks", { type: "get_blocks", hashes: [block[0]] }],
    ["apply", { type: "apply", ops: [putFile("f")] }],
  ])("%s before hello is refused with not_ready, and the session stays greeting", async (_name, message) => {
    const r = await server();
    const c = connect(r);
    await expect(c.request(message)).rejects.toMatchObject({ code: "not_ready" });
    expect(c.session.state).toBe("greeting");
    expect(await c.request<"pong">({ type: "ping" })).toMatchObject({ type: "pong" });
  });

  test("a block before hello is refused with not_ready and not stored", async () => {
    const r = await server();
    const c = connect(r);
    c.peer.sendBlock(block[0], bytes);
    await waitFor("an error push", () => c.pushes.length > 0 || "nothing yet");
    expect(c.pushes).toEqual([{ type: "error", code: "not_ready", message: "Send hello before anything else" }]);
    expect(await r.shares.get("default")!.blocks.missing([block[0]])).toEqual([block[0]]);
  });

  test("a second hello is refused: who a session acts for is settled once", async () => {
    const r = await server();
    const c = connect(r);
    await c.hello("first");
    await expect(c.hello("second")).rejects.toMatchObject({ code: "bad_message" });
    expect(c.session.principal?.clientId).toBe("first");
  });

  test("a hello in another protocol is refused and leaves the session greeting", async () => {
    const r = await server();
    const c = connect(r);
    await expect(c.request({ type: "hello", protocol: PROTOCOL_VERSION + 1, clientId: "x" })).rejects.toMatchObject({ code: "protocol_mismatch" });
    expect(c.session.state).toBe("greeting");
  });

  test("a session whose connection closes ends once, closed", async () => {
    const r = await server();
    const c = connect(r);
    await c.hello();
    c.conn.close();
    await waitFor("the session to end", () => r.ended.length > 0 || "still open");
    expect(c.session.state).toBe("closed");
    expect(r.ended).toEqual([c.session]);
  });
});

describe("Session commits and pushes", () => {
  /** Uploads the test block and applies `ops`. */
  async function commit(c: ReturnType<typeof connect>, ops: PutOp[]) {
    expect(await c.request<"missing">({ type: "has_blocks", hashes: [block[0]] })).toMatchObject({ hashes: [block[0]] });
    c.peer.sendBlock(block[0], bytes);
    return c.request<"applied">({ type: "apply", ops });
  }

  test("an apply commits, and every ready session of the share, the committer included, gets the same push", async () => {
    const r = await server();
    const a = connect(r);
    const b = connect(r, { chunk: 7 });
    await a.hello("client-a");
    await b.hello("client-b");
    const applied = await commit(a, [putFile("docs/f.txt")]);
    expect(applied).toMatchObject({ head: 2, results: [{ status: "ok" }] });
    await waitFor("both pushes", () => (a.pushes.length > 0 && b.pushes.length > 0) || `a: ${a.pushes.length}, b: ${b.pushes.length}`);
    const push = { type: "changed", from: 0, head: 2, entries: [expect.objectContaining({ path: "docs", version: 1 }), expect.objectContaining({ path: "docs/f.txt", version: 2 })] } as unknown as ServerMessage;
    expect(a.pushes).toEqual([push]);
    expect(b.pushes).toEqual([push]);
    expect(await b.request<"changes_result">({ type: "changes", since: 0 })).toMatchObject({ head: 2, more: false });
  });

  test("a session that ended gets no more pushes", async () => {
    const r = await server();
    const a = connect(r);
    const b = connect(r);
    await a.hello("client-a");
    await b.hello("client-b");
    b.conn.close();
    await waitFor("b's session to end", () => b.session.state === "closed" || b.session.state);
    await commit(a, [putFile("f")]);
    await waitFor("a's push", () => a.pushes.length > 0 || "none yet");
    expect(b.pushes).toEqual([]);
    expect(b.isClosed()).toBe(true);
  });

  test("has_blocks answers the missing ones, and an apply of a file whose blocks never came is refused", async () => {
    const r = await server();
    const c = connect(r);
    await c.hello();
    const other = hashBlock(new TextEncoder().encode("never sent"));
    expect(await c.request<"missing">({ type: "has_blocks", hashes: [block[0], other] })).toMatchObject({ hashes: [block[0], other] });
    const refused = await c.request<"applied">({ type: "apply", ops: [putFile("f")] });
    expect(refused).toMatchObject({ head: 0, results: [{ status: "error", code: "missing_blocks" }] });
    expect(c.pushes).toEqual([]);
  });

  test("a change of a big file is pushed as a splice of the version it replaced", async () => {
    const r = await server();
    const c = connect(r);
    await c.hello();
    const chunks = Array.from({ length: 8 }, (_, i) => new TextEncoder().encode(`block ${i}`));
    const refs = chunks.map((b): BlockRef => [hashBlock(b), b.length]);
    for (const [i, b] of chunks.entries()) c.peer.sendBlock(refs[i]![0], b);
    const file = (list: BlockRef[], baseVersion: number): PutOp => ({
      ...putFile("big", baseVersion),
      size: list.reduce((n, [, s]) => n + s, 0),
      hash: hashBlockList(list.map(([h]) => h)),
      blocks: list,
    });
    await c.request<"applied">({ type: "apply", ops: [file(refs, 0)] });
    const edited = [...refs.slice(0, 7), block];
    c.peer.sendBlock(block[0], bytes);
    const applied = await c.request<"applied">({ type: "apply", ops: [file(edited, 1)] });
    expect(applied.results[0]).toMatchObject({ status: "ok", entries: [{ path: "big", version: 2, splice: { base: 1, at: 7, drop: 1, insert: [block] } }] });
    await waitFor("two pushes", () => c.pushes.length === 2 || `${c.pushes.length}`);
    expect(c.pushes[1]).toMatchObject({ type: "changed", from: 1, head: 2, entries: [{ splice: { base: 1, at: 7, drop: 1 } }] });
  });
});

describe("Session and history", () => {
  test("hello records the client's host name for history", async () => {
    const r = await server();
    await connect(r).hello("client-a");
    expect(await r.shares.get("default")!.meta.clientHosts(["client-a", "unknown"])).toEqual(new Map([["client-a", "laptop"]]));
  });

  test("changes from a cursor inside history that retention removed is refused cursor_expired; from 0 or past it, served", async () => {
    const r = await server();
    const c = connect(r);
    await c.hello();
    c.peer.sendBlock(block[0], bytes);
    await c.request({ type: "apply", ops: [putFile("a"), putFile("b")] });
    await c.request({ type: "apply", ops: [{ op: "delete", path: "a", baseVersion: 1 }] });
    const meta = r.shares.get("default")!.meta;
    await meta.transaction({ clientId: "gc", at: Date.now() }, (tx) => tx.drop([3]));
    expect(await meta.prunedThrough()).toBe(3);
    await expect(c.request({ type: "changes", since: 2 })).rejects.toMatchObject({
      code: "cursor_expired",
      message: "This folder's cursor (change 2) is older than the share's retained history (changes up to 3 were removed): resyncing from the current tree",
    });
    expect(await c.request<"changes_result">({ type: "changes", since: 0 })).toMatchObject({ head: 3, entries: [expect.objectContaining({ path: "b" })] });
    expect(await c.request<"changes_result">({ type: "changes", since: 3 })).toMatchObject({ head: 3, entries: [] });
  });
});

describe("Session bad input", () => {
  test("a control frame that is not JSON is answered bad_message, and the session goes on", async () => {
    const r = await server();
    const c = connect(r);
    c.conn.write(encodeFrame(FrameType.control, new TextEncoder().encode("{not json")));
    await waitFor("an error push", () => c.pushes.length > 0 || "nothing yet");
    expect(c.pushes[0]).toMatchObject({ type: "error", code: "bad_message" });
    expect(await c.hello()).toMatchObject({ type: "welcome" });
  });

  test("an unknown message type is answered unknown_type with its request id", async () => {
    const r = await server();
    const c = connect(r);
    await c.hello();
    await expect(c.request({ type: "format_disk" } as never)).rejects.toMatchObject({ code: "unknown_type" });
  });

  test("a block whose bytes do not match its hash is refused with bad_block", async () => {
    const r = await server();
    const c = connect(r);
    await c.hello();
    c.peer.sendBlock(hashBlock(new TextEncoder().encode("other")), bytes);
    await waitFor("an error push", () => c.pushes.length > 0 || "nothing yet");
    expect(c.pushes[0]).toMatchObject({ type: "error", code: "bad_block" });
  });
});

describe("Session metrics", () => {
  test("sessions, commits, ops, errors and bytes per client are counted, the bytes past a disconnect", async () => {
    const r = await server();
    const a = connect(r);
    await a.hello("client-a");
    await a.request({ type: "changes", since: 0 }).catch(() => {});
    a.peer.sendBlock(block[0], bytes);
    await a.request({ type: "apply", ops: [putFile("f"), { ...putFile("f", 99), mode: 0o755 }, { op: "delete", path: "../x", baseVersion: 1 }] });
    const value = (name: string, labels: Record<string, string> = {}) =>
      parseMetrics(r.metrics.render()).find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;
    expect(value("dropsim_sessions_connected")).toBe(1);
    expect(value("dropsim_commits_total", { share: "default" })).toBe(1);
    expect(value("dropsim_ops_total", { op: "put", result: "ok" })).toBe(1);
    expect(value("dropsim_ops_total", { op: "put", result: "conflict" })).toBe(1);
    expect(value("dropsim_conflicts_total", { share: "default" })).toBe(1);
    expect(value("dropsim_errors_total", { code: "bad_path" })).toBe(1);
    expect(value("dropsim_blocks_stored_total", { share: "default" })).toBe(1);
    expect(value("dropsim_journal_head", { share: "default" })).toBeUndefined(); // followed by the server, not by sessions
    expect(value("dropsim_commit_duration_seconds_count", { share: "default" })).toBe(1);
    await waitFor("the push", () => a.pushes.length > 0 || "none yet");
    expect(value("dropsim_push_fanout_seconds_count", { share: "default" })).toBe(1);

    expect(value("dropsim_session_bytes_received_total", { client: "client-a" })).toBe(a.session.peer.bytesIn);
    expect(value("dropsim_session_bytes_sent_total", { client: "client-a" })).toBe(a.session.peer.bytesOut);
    // Bytes after the last render are counted when the session ends, still for its client.
    await a.request({ type: "ping" });
    a.conn.close();
    await waitFor("the session to end", () => a.session.state === "closed" || a.session.state);
    const received = a.session.peer.bytesIn;
    const sent = a.session.peer.bytesOut;
    expect(value("dropsim_sessions_connected")).toBe(0);
    expect(value("dropsim_session_bytes_received_total", { client: "client-a" })).toBe(received);
    expect(value("dropsim_session_bytes_sent_total", { client: "client-a" })).toBe(sent);
    const b = connect(r);
    await b.hello("client-a");
    expect(value("dropsim_sessions_connected")).toBe(1);
    expect(value("dropsim_session_bytes_received_total", { client: "client-a" })).toBe(received + b.session.peer.bytesIn);
    expect(value("dropsim_bytes_received_total")).toBe(received + b.session.peer.bytesIn);
    expect(value("dropsim_bytes_sent_total")).toBe(sent + b.session.peer.bytesOut);
  });
});

const refusals = (r: Rig) =>
  Object.fromEntries(
    parseMetrics(r.metrics.render())
      .filter((m) => m.name === "dropsim_auth_refusals_total")
      .map((m) => [m.labels.reason, m.value]),
  );

describe("Session authentication", () => {
  const refusedHello = async (r: Rig, opts: { token?: string; share?: string }) => {
    const c = connect(r, opts);
    const error = await c.hello().catch((e) => e);
    await waitFor("the connection closed", () => c.isClosed() || "open");
    expect(c.session.state).toBe("closed");
    return error;
  };

  test("a hello without a token, with an unknown one, or with one for another share is refused and the connection closed", async () => {
    const r = await server();
    r.access.addShare("team", null, 1);
    const teamToken = addToken(r.access, "team", "read_write");
    const forged = `${r.token.slice(0, 17)}${"A".repeat(43)}`;
    const hello = (token: string | undefined, share = "default") => ({ type: "hello" as const, protocol: PROTOCOL_VERSION, clientId: "x", share, ...(token ? { token } : {}) });
    for (const [opts, code] of [
      [{ token: "" }, "no_token"],
      [{ token: "dst_nonsense" }, "unknown_token"],
      [{ token: forged }, "unknown_token"],
      [{ token: teamToken, share: "default" }, "wrong_share"],
      [{ token: r.token, share: "team" }, "wrong_share"],
    ] as const) {
      const c = connect(r);
      const error = await c.request(hello(opts.token || undefined, opts.share) as never).catch((e) => e);
      expect(error).toMatchObject({ code });
      expect(error.message).not.toContain(forged.slice(-43));
      await waitFor("the connection closed", () => c.isClosed() || "open");
    }
    expect(refusals(r)).toEqual({ no_token: 1, unknown_token: 2, wrong_share: 2 });
    expect(r.admission.pendingCount).toBe(0);
  });

  test("a revoked or expired token is refused", async () => {
    const r = await server();
    const old = addToken(r.access, "default", "read_write", Date.now() - 1);
    expect(await refusedHello(r, { token: old })).toMatchObject({ code: "expired" });
    r.access.revokeToken(r.token.slice(4, 16), Date.now());
    expect(await refusedHello(r, { token: r.token })).toMatchObject({ code: "revoked", message: `Token ${r.token.slice(4, 16)} was revoked` });
  });

  test("a token for share A reads and writes A only: B's blocks are not even known to exist", async () => {
    const r = await server();
    await r.shares.open("b");
    await r.shares.get("b")!.blocks.put(block[0], bytes);
    const a = connect(r);
    await a.hello();
    expect(await a.request<"missing">({ type: "has_blocks", hashes: [block[0]] })).toMatchObject({ hashes: [block[0]] });
    expect(await a.request<"blocks_done">({ type: "get_blocks", hashes: [block[0]] })).toMatchObject({ missing: [block[0]] });
  });

  test("a read-only token reads but cannot put, delete or move, nor upload a block", async () => {
    const r = await server();
    const c = connect(r, { token: addToken(r.access, "default", "read_only") });
    expect(await c.hello()).toMatchObject({ scope: "read_only" });
    for (const op of [putFile("f"), { op: "delete", path: "f", baseVersion: 1 }, { op: "move", from: "f", to: "g", baseVersion: 1 }]) {
      await expect(c.request({ type: "apply", ops: [op] } as never)).rejects.toMatchObject({ code: "read_only" });
    }
    c.peer.sendBlock(block[0], bytes);
    await waitFor("an error push", () => c.pushes.some((p) => p.type === "error") || "nothing yet");
    expect(c.pushes).toContainEqual(expect.objectContaining({ code: "read_only" }));
    expect(await r.shares.get("default")!.blocks.missing([block[0]])).toEqual([block[0]]);
    expect(await r.shares.get("default")!.meta.head()).toBe(0);
    expect(await c.request<"changes_result">({ type: "changes", since: 0 })).toMatchObject({ head: 0 });
  });

  test("a live session whose token is revoked is refused and closed at the next tick of the access watch", async () => {
    const r = await server();
    const c = connect(r);
    await c.hello();
    const watch = new AccessWatch(r.access, r.shares, () => r.sessions, r.metrics, silent);
    await watch.tick(Date.now());
    expect(c.session.state).toBe("ready");
    r.access.revokeToken(r.token.slice(4, 16), Date.now());
    await watch.tick(Date.now());
    await waitFor("the connection closed", () => c.isClosed() || "open");
    expect(c.pushes).toContainEqual(expect.objectContaining({ type: "error", code: "revoked" }));
  });

  test("a live session whose token expires is closed, with no change to the access store", async () => {
    const r = await server();
    const c = connect(r, { token: addToken(r.access, "default", "read_write", Date.now() + 60_000) });
    await c.hello();
    const watch = new AccessWatch(r.access, r.shares, () => r.sessions, r.metrics, silent);
    await watch.tick(Date.now());
    expect(c.session.state).toBe("ready");
    await watch.tick(Date.now() + 60_000);
    await waitFor("the connection closed", () => c.isClosed() || "open");
    expect(c.pushes).toContainEqual(expect.objectContaining({ type: "error", code: "expired" }));
  });

  test("a connection that has not authenticated in time is closed; one that has is not", async () => {
    const r = await server();
    r.admission = new Admission({ ...limits, authTimeoutMs: 50 });
    const silentOne = connect(r);
    const greeted = connect(r);
    await greeted.hello();
    await waitFor("the silent one closed", () => silentOne.isClosed() || "open");
    expect(silentOne.pushes).toContainEqual(expect.objectContaining({ type: "error", code: "timeout" }));
    await Bun.sleep(60);
    expect(greeted.isClosed()).toBe(false);
    expect(refusals(r)).toEqual({ timeout: 1 });
  });

  test("more bytes than the cap before authenticating close the connection", async () => {
    const r = await server();
    const c = connect(r);
    for (let i = 0; i < 40; i++) c.peer.send({ type: "has_blocks", id: i, hashes: Array(10).fill(block[0]) } as never);
    await waitFor("the connection closed", () => c.isClosed() || "open");
    expect(refusals(r)).toEqual({ pre_auth_bytes: 1 });
  });

  test("an IP with failed attempts is held back, and too many pending connections are refused busy", async () => {
    const r = await server();
    r.admission = new Admission({ ...DEFAULT_LIMITS, maxPendingPerIp: 2 });
    expect(await refusedHello(r, { token: "dst_bad" })).toMatchObject({ code: "unknown_token" });
    expect(await refusedHello(r, { token: r.token })).toMatchObject({ code: "busy" });
    connect(r);
    connect(r);
    const third = connect(r);
    await waitFor("the third closed", () => third.isClosed() || "open");
    expect(third.pushes).toContainEqual(expect.objectContaining({ code: "busy" }));
  });
});
