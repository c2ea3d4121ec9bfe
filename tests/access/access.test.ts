import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { createHash, X509Certificate } from "node:crypto";
import * as fs from "node:fs";
import { PROTOCOL_VERSION } from "../../src/protocol/messages.ts";
import { RawConnection } from "../helpers/raw-client.ts";
import { dropsimCommand, dumpLogs, type ServerProcess, startServer } from "../helpers/spawn-dropsim.ts";
import { type TempDir, tempDir } from "../helpers/temp-dir.ts";
import { waitFor } from "../helpers/wait-for.ts";
import { FRAME_BLOCK, frame } from "../helpers/wire-frames.ts";

// Shares and tokens with real processes: the CLI beside a running server, and what the server
// lets each token do. Every connection comes from 127.0.0.1, so refused attempts slow the next
// hello down (200 ms, doubling): `hello` waits out a `busy` as a client would.

setDefaultTimeout(120_000);

let root: TempDir;
let server: ServerProcess;
let data: string;

beforeAll(async () => {
  root = await tempDir("dropsim-access-");
  data = root.join("data");
  server = await startServer({ dataDir: data, store: "dir" });
}, 60_000);

afterAll(async () => {
  await server?.stop();
  await root?.remove();
});

async function cli(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const proc = Bun.spawn(dropsimCommand([...args, "--data", data]), { stdin: "ignore", stdout: "pipe", stderr: "pipe", env: { ...process.env, NO_COLOR: "1" } });
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code, out, err };
}

async function json<T>(...args: string[]): Promise<T> {
  const r = await cli(...args, "--json");
  if (r.code !== 0) throw new Error(`dropsim ${args.join(" ")} failed: ${r.err}`);
  return JSON.parse(r.out) as T;
}

interface Created {
  id: string;
  token: string;
  join: string | null;
  share: string;
  scope: string;
  expires: string | null;
}

const token = (share: string, ...extra: string[]) => json<Created>("token", "create", "--share", share, ...extra);

/** A connection that said hello with `token`: the reply (welcome or error) and the connection. */
async function hello(tokenText: string | undefined, share: string): Promise<{ conn: RawConnection; reply: Record<string, unknown> }> {
  let answered: { conn: RawConnection; reply: Record<string, unknown> } | undefined;
  // Earlier tests' refused tokens hold this address back (200 ms, doubling): `busy` until that passes.
  await waitFor(
    "a hello not refused as busy",
    async () => {
      const conn = await RawConnection.open("127.0.0.1", server.port);
      const reply = await conn.request({ type: "hello", id: 1, protocol: PROTOCOL_VERSION, clientId: `access-${crypto.randomUUID()}`, share, ...(tokenText ? { token: tokenText } : {}) });
      if (reply.code !== "busy") {
        answered = { conn, reply };
        return true;
      }
      conn.close();
      return `busy: ${String(reply.message)}`;
    },
    { timeout: 30_000 },
  );
  return answered!;
}

function blockFrame(bytes: Uint8Array): { hash: string; frame: Uint8Array } {
  const hash = createHash("sha256").update(bytes).digest("hex");
  const body = new Uint8Array(32 + bytes.length);
  body.set(Buffer.from(hash, "hex"), 0);
  body.set(bytes, 32);
  return { hash, frame: frame(FRAME_BLOCK, body) };
}

function putOp(path: string, bytes: Uint8Array) {
  const { hash } = blockFrame(bytes);
  const listHash = createHash("sha256").update(Buffer.from(hash, "hex")).digest("hex");
  return { op: "put", path, kind: "file", baseVersion: 0, size: bytes.length, mode: 0o644, hash: listHash, blocks: [[hash, bytes.length]], mtime: 1 };
}

const dump = <T>(fn: () => Promise<T>) => async () => {
  try {
    await fn();
  } catch (e) {
    dumpLogs([server]);
    throw e;
  }
};

describe("share and token commands", () => {
  test(
    "shares are created, listed, given a quota and removed; remove off a terminal needs --yes",
    dump(async () => {
      expect((await cli("share", "create", "photos", "--quota", "1GiB")).code).toBe(0);
      expect((await cli("share", "create", "photos")).err).toContain('Cannot create share "photos": it exists already');
      // A bad name is a usage error: exit 2 (cli/exit-codes.ts).
      expect((await cli("share", "create", "../up")).code).toBe(2);
      const listed = await json<{ name: string; quota: number | null; created: string }[]>("share", "list");
      expect(listed.map((s) => [s.name, s.quota])).toEqual([
        ["default", null],
        ["photos", 2 ** 30],
      ]);
      expect(fs.existsSync(root.join("data", "shares", "photos", "meta.db"))).toBe(true);
      expect((await cli("share", "set", "photos", "--quota", "none")).code).toBe(0);
      expect((await json<{ quota: number | null }[]>("share", "list"))[1]!.quota).toBeNull();
      const refused = await cli("share", "remove", "photos");
      expect(refused.code).toBe(2);
      expect(refused.err).toContain("not on a terminal; pass --yes");
      expect(fs.existsSync(root.join("data", "shares", "photos"))).toBe(true);
      expect((await cli("share", "remove", "photos", "--yes")).code).toBe(0);
      expect(fs.existsSync(root.join("data", "shares", "photos"))).toBe(false);
      expect((await json<{ name: string }[]>("share", "list")).map((s) => s.name)).toEqual(["default"]);
    }),
  );

  test(
    "token create prints the token once with a join link to where the server listens; list shows no secret; revoke marks it",
    dump(async () => {
      const t = await token("default", "--read-only", "--label", "laptop", "--expires", "30d");
      expect(Object.keys(t).sort()).toEqual(["expires", "id", "join", "scope", "share", "token"]);
      expect(t.token).toMatch(new RegExp(`^dst_${t.id}_[A-Za-z0-9_-]{43}$`));
      expect(t.join).toStartWith(`dropsim://127.0.0.1:${server.port}/default?token=${t.token}`);
      expect(t).toMatchObject({ share: "default", scope: "read_only" });
      expect(Date.parse(t.expires!) - Date.now()).toBeGreaterThan(29 * 86_400_000);
      const other = await token("default", "--address", "files.example.org:7443");
      expect(other.join).toStartWith(`dropsim://files.example.org:7443/default?token=${other.token}`);
      const list = await cli("token", "list", "--json");
      expect(list.out).not.toContain(t.token.slice(-43));
      const row = (JSON.parse(list.out) as Record<string, unknown>[]).find((r) => r.id === t.id)!;
      expect(Object.keys(row).sort()).toEqual(["created", "expires", "id", "label", "lastUsed", "revoked", "scope", "share"]);
      expect(row).toMatchObject({ label: "laptop", scope: "read_only", share: "default", revoked: null });
      expect((await cli("token", "revoke", t.id)).code).toBe(0);
      expect((await json<{ id: string; revoked: string | null }[]>("token", "list")).find((r) => r.id === t.id)!.revoked).not.toBeNull();
      expect((await cli("token", "revoke", "ffffffffffff")).err).toContain('Cannot revoke token "ffffffffffff": there is no such token');
      expect((await cli("token", "create", "--share", "nope")).err).toContain('Cannot find share "nope"');
    }),
  );
});

test("token create before any server has started links to --address with the fingerprint of the data dir's own certificate", async () => {
  const fresh = root.join("fresh");
  const proc = Bun.spawn(dropsimCommand(["token", "create", "--data", fresh, "--share", "default", "--address", "files.example.org:7443", "--json"]), { stdout: "pipe", stderr: "pipe" });
  const [out, code] = await Promise.all([new Response(proc.stdout).text(), proc.exited]);
  expect(code).toBe(0);
  const cert = new X509Certificate(fs.readFileSync(root.join("fresh", "tls", "cert.pem")));
  const fp = `SHA256:${cert.fingerprint256.replaceAll(":", "").toLowerCase()}`;
  const created = JSON.parse(out) as Created;
  expect(created.join).toBe(`dropsim://files.example.org:7443/default?token=${created.token}&fp=${fp}`);
});

describe("what a token lets a connection do", () => {
  test(
    "without a valid token every message type is refused and nothing is written or served",
    dump(async () => {
      const bytes = new TextEncoder().encode("never stored");
      const { hash, frame: block } = blockFrame(bytes);
      await using conn = await RawConnection.open("127.0.0.1", server.port);
      const before: Record<string, unknown>[] = [
        { type: "changes", id: 2, since: 0 },
        { type: "has_blocks", id: 3, hashes: [hash] },
        { type: "get_blocks", id: 4, hashes: [hash] },
        { type: "apply", id: 5, ops: [putOp("x.txt", bytes)] },
      ];
      conn.write(block);
      expect((await conn.nextFrame()).json).toMatchObject({ type: "error", code: "not_ready" });
      for (const m of before) expect(await conn.request(m as never)).toMatchObject({ type: "error", code: "not_ready" });
      for (const [tokenText, code] of [
        [undefined, "no_token"],
        ["dst_000000000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "unknown_token"],
      ] as const) {
        const { conn: c, reply } = await hello(tokenText, "default");
        expect(reply).toMatchObject({ type: "error", code });
        await c.waitClosed();
      }
      const { conn: ok, reply } = await hello(server.token, "default");
      expect(reply.type).toBe("welcome");
      expect(await ok.request({ type: "has_blocks", id: 2, hashes: [hash] })).toMatchObject({ hashes: [hash] });
      expect(await ok.request({ type: "changes", id: 3, since: 0 })).toMatchObject({ entries: [] });
      ok.close();
      expect(server.logs()).toMatch(/Refused 127\.0\.0\.1(:\d+)?: Cannot sync without a token/);
    }),
  );

  test(
    "a token for share A cannot read or write share B; B's own token can, and sees nothing of A",
    dump(async () => {
      expect((await cli("share", "create", "team")).code).toBe(0);
      const team = await token("team");
      const { conn: a, reply: wrong } = await hello(server.token, "team");
      expect(wrong).toMatchObject({ type: "error", code: "wrong_share" });
      await a.waitClosed();
      const { conn: b, reply: wrongB } = await hello(team.token, "default");
      expect(wrongB).toMatchObject({ code: "wrong_share" });
      await b.waitClosed();

      const bytes = new TextEncoder().encode("only in default");
      const { hash, frame: block } = blockFrame(bytes);
      const { conn: d } = await hello(server.token, "default");
      d.write(block);
      expect(await d.request({ type: "apply", id: 2, ops: [putOp("only-default.txt", bytes)] })).toMatchObject({ results: [{ status: "ok" }] });
      d.close();
      // Picked up within a poll of access.db: the share was made after the server started.
      const { conn: t, reply } = await hello(team.token, "team");
      expect(reply).toMatchObject({ type: "welcome", share: "team", scope: "read_write", head: 0 });
      expect(await t.request({ type: "changes", id: 2, since: 0 })).toMatchObject({ entries: [] });
      expect(await t.request({ type: "has_blocks", id: 3, hashes: [hash] })).toMatchObject({ hashes: [hash] });
      expect(await t.request({ type: "get_blocks", id: 4, hashes: [hash] })).toMatchObject({ type: "blocks_done", missing: [hash] });
      t.close();
    }),
  );

  test(
    "a read-only token reads, and the server refuses its puts, deletes, moves and blocks",
    dump(async () => {
      const ro = await token("default", "--read-only");
      const { conn, reply } = await hello(ro.token, "default");
      expect(reply).toMatchObject({ type: "welcome", scope: "read_only" });
      const entries = (await conn.request({ type: "changes", id: 2, since: 0 })).entries as { path: string; version: number }[];
      const existing = entries.find((e) => e.path === "only-default.txt")!;
      const bytes = new TextEncoder().encode("read-only upload");
      const ops = [putOp("ro.txt", bytes), { op: "delete", path: existing.path, baseVersion: existing.version }, { op: "move", from: existing.path, to: "moved.txt", baseVersion: existing.version }];
      for (const [i, op] of ops.entries()) expect(await conn.request({ type: "apply", id: 10 + i, ops: [op] })).toMatchObject({ type: "error", code: "read_only" });
      conn.write(blockFrame(bytes).frame);
      expect((await conn.nextFrame()).json).toMatchObject({ type: "error", code: "read_only" });
      const after = (await conn.request({ type: "changes", id: 20, since: 0 })).entries as { path: string }[];
      expect(after.map((e) => e.path).sort()).toEqual(entries.map((e) => e.path).sort());
      conn.close();
    }),
  );

  test(
    "a revoked token's live session is refused and closed within a second of token revoke returning",
    dump(async () => {
      const t = await token("default", "--label", "to-revoke");
      const { conn, reply } = await hello(t.token, "default");
      expect(reply.type).toBe("welcome");
      expect((await json<{ id: string; lastUsed: string | null }[]>("token", "list")).find((r) => r.id === t.id)!.lastUsed).not.toBeNull();
      const revoked = await cli("token", "revoke", t.id);
      const returned = performance.now();
      expect(revoked.code).toBe(0);
      await conn.waitClosed(5_000);
      const latency = performance.now() - returned;
      console.error(`[access] a revoked token's session was closed ${latency.toFixed(0)} ms after token revoke returned`);
      expect(latency).toBeLessThan(1_000);
      expect(conn.takeFrames().map((f) => f.json)).toContainEqual(expect.objectContaining({ type: "error", code: "revoked" }));
      const { reply: again } = await hello(t.token, "default");
      expect(again).toMatchObject({ code: "revoked" });
    }),
  );

  test(
    "removing a share beside the running server closes its sessions and deletes its files",
    dump(async () => {
      expect((await cli("share", "create", "gone")).code).toBe(0);
      const t = await token("gone");
      const { conn, reply } = await hello(t.token, "gone");
      expect(reply).toMatchObject({ type: "welcome", share: "gone" });
      expect((await cli("share", "remove", "gone", "--yes")).code).toBe(0);
      await conn.waitClosed(5_000);
      expect(conn.takeFrames().map((f) => f.json)).toContainEqual(expect.objectContaining({ type: "error", code: "revoked" }));
      expect(fs.existsSync(root.join("data", "shares", "gone"))).toBe(false);
      await server.waitForLine(/Share "gone" was removed/);
      expect(server.running).toBe(true);
    }),
  );

  test(
    "an expired token is refused, and a session whose token expires is closed",
    dump(async () => {
      // Past any hold from earlier refusals first, so the token is still young when used.
      (await hello(server.token, "default")).conn.close();
      const t = await token("default", "--expires", "3s");
      const { conn, reply } = await hello(t.token, "default");
      expect(reply.type).toBe("welcome");
      await conn.waitClosed(10_000);
      expect(conn.takeFrames().map((f) => f.json)).toContainEqual(expect.objectContaining({ type: "error", code: "expired" }));
      const { reply: again } = await hello(t.token, "default");
      expect(again).toMatchObject({ code: "expired" });
    }),
  );

  test(
    "a put past the share's quota is refused quota_exceeded and nothing of it is committed; the rest of the batch is",
    dump(async () => {
      expect((await cli("share", "create", "small", "--quota", "20")).code).toBe(0);
      const t = await token("small");
      const { conn, reply } = await hello(t.token, "small");
      expect(reply.type).toBe("welcome");
      const fits = new TextEncoder().encode("fits: 12 byt");
      const over = new TextEncoder().encode("does not fit");
      conn.write(blockFrame(fits).frame);
      conn.write(blockFrame(over).frame);
      const applied = await conn.request({ type: "apply", id: 2, ops: [putOp("fits.txt", fits), putOp("over.txt", over)] });
      expect(applied).toMatchObject({ results: [{ status: "ok" }, { status: "error", code: "quota_exceeded" }] });
      const entries = (await conn.request({ type: "changes", id: 3, since: 0 })).entries as { path: string }[];
      expect(entries.map((e) => e.path)).toEqual(["fits.txt"]);
      conn.close();
      expect((await cli("share", "set", "small", "--quota", "none")).code).toBe(0);
    }),
  );
});
