import { describe, expect, setDefaultTimeout, test } from "bun:test";
import * as fs from "node:fs/promises";
import { PROTOCOL_VERSION } from "../../src/protocol/messages.ts";
import { FakeServer, honest, withHandshake } from "../hostile/_fake-server.ts";
import { tempDir } from "../helpers/temp-dir.ts";
import { SyncProcess } from "./_sync-process.ts";

// A real `dropsim sync` against a fake server that refuses it: the client says why in one
// line and exits, having said hello once. Against the real server: tests/e2e (server side).

setDefaultTimeout(30_000);

const TOKEN = `dst_0123456789ab_${"S".repeat(43)}`;

describe("a refused token", () => {
  test.each([
    ["unknown_token", /^.*Cannot sync: the server at 127\.0\.0\.1:\d+ does not know this folder's token; ask for a new one and run dropsim sync \S+ --join LINK$/],
    ["revoked", /^.*Cannot sync: the server revoked this folder's token; ask for a new one and run dropsim sync \S+ --join LINK$/],
    ["expired", /^.*Cannot sync: this folder's token has expired; ask for a new one and run dropsim sync \S+ --join LINK$/],
    ["wrong_share", /^.*Cannot sync: this folder's token is not for the share "team"; ask for a join link to it and run dropsim sync \S+ --join LINK$/],
    ["no_token", /^.*Cannot sync: the server at 127\.0\.0\.1:\d+ needs a token for this folder; ask its admin for a join link and run dropsim sync \S+ --join LINK$/],
  ])("refused with %s, the client says why in one line and exits 3, after one hello", async (code, line) => {
    await using dir = await tempDir("dropsim-refused-");
    using fake = new FakeServer((conn, f) => {
      if (f.json?.type === "hello") conn.send({ type: "error", id: f.json.id, code, message: `Refused: ${code}` });
    });
    await using sync = new SyncProcess([dir.join("folder"), "--server", fake.address, "--share", "team", "--token", TOKEN]);
    expect(await sync.exitCode()).toBe(3);
    expect(sync.lines.filter((l) => line.test(l))).toHaveLength(1);
    expect(fake.messages("hello")).toHaveLength(1);
    expect(fake.messages("hello")[0]).toMatchObject({ share: "team", token: TOKEN, protocol: PROTOCOL_VERSION });
    expect(sync.output).not.toContain(TOKEN);
  });

  test("a token revoked during a session stops the client with the same line", async () => {
    await using dir = await tempDir("dropsim-refused-");
    using fake = new FakeServer(honest({ head: 0, entries: [], blocks: new Map() }));
    await using sync = new SyncProcess([dir.join("folder"), "--server", fake.address, "--token", TOKEN]);
    await sync.waitForLine(/Idle: folder and server agree/);
    const conn = fake.conns.at(-1)!;
    conn.send({ type: "error", code: "revoked", message: "This token was revoked" });
    conn.close();
    expect(await sync.exitCode()).toBe(3);
    expect(sync.output).toMatch(/Cannot sync: the server revoked this folder's token; ask for a new one and run dropsim sync \S+ --join LINK/);
    expect(fake.messages("hello")).toHaveLength(1);
  });

  test("a request refused as revoked stops the client too", async () => {
    await using dir = await tempDir("dropsim-refused-");
    await fs.mkdir(dir.join("folder"));
    using fake = new FakeServer(withHandshake(0, (conn, f) => {
      if (f.json?.id !== undefined) conn.send({ type: "error", id: f.json.id, code: "revoked", message: "This token was revoked" });
    }));
    await using sync = new SyncProcess([dir.join("folder"), "--server", fake.address, "--token", TOKEN]);
    expect(await sync.exitCode()).toBe(3);
    expect(sync.output).toMatch(/Cannot sync: the server revoked this folder's token/);
    expect(fake.messages("hello")).toHaveLength(1);
  });

  test("a TLS-only server's refusal of plaintext reads as such and exits 4", async () => {
    await using dir = await tempDir("dropsim-refused-");
    using fake = new FakeServer((conn, f) => {
      if (f.json?.type === "hello") conn.send({ type: "error", id: f.json.id, code: "tls_required", message: "This server speaks only TLS" });
    }, { tls: false });
    await using sync = new SyncProcess([dir.join("folder"), "--server", fake.address, "--token", TOKEN, "--insecure"]);
    expect(await sync.exitCode()).toBe(4);
    expect(sync.output).toMatch(/Cannot sync: the server at 127\.0\.0\.1:\d+ accepts only TLS connections; run dropsim sync \S+ without --insecure/);
  });

  test("the client keeps retrying a busy server: busy is not a refusal", async () => {
    await using dir = await tempDir("dropsim-refused-");
    let hellos = 0;
    using fake = new FakeServer((conn, f) => {
      if (f.json?.type !== "hello") return;
      if (++hellos < 3) return conn.send({ type: "error", id: f.json.id, code: "busy", message: "Too many connections" });
      conn.send({ type: "welcome", id: f.json.id, protocol: PROTOCOL_VERSION, serverId: "fake", head: 0, share: "default", scope: "read_write" });
    });
    await using sync = new SyncProcess([dir.join("folder"), "--server", fake.address, "--token", TOKEN]);
    await sync.waitForLine(/Connected to 127\.0\.0\.1/);
    expect(hellos).toBe(3);
  });
});

describe("starting", () => {
  test("a folder that never joined says how to join in one line and exits 2, without connecting", async () => {
    await using dir = await tempDir("dropsim-refused-");
    using fake = new FakeServer(() => {});
    await using sync = new SyncProcess([dir.join("folder"), "--server", fake.address]);
    expect(await sync.exitCode()).toBe(2);
    expect(sync.output).toMatch(/Cannot sync \S+: it has not joined a share; ask the server's admin for a join link and run dropsim sync \S+ --join LINK$/);
    expect(fake.conns).toEqual([]);
  });

  test("a bad join link is one line and exit 2, without the token", async () => {
    await using dir = await tempDir("dropsim-refused-");
    await using sync = new SyncProcess([dir.join("folder"), "--join", `dropsim://h/s?token=${TOKEN}`]);
    expect(await sync.exitCode()).toBe(2);
    expect(sync.output).toMatch(/Invalid join link "dropsim:\/\/h\/s\?token=…": expected dropsim:\/\/HOST:PORT\/SHARE\?token=TOKEN/);
    expect(sync.output).not.toContain(TOKEN);
  });

  test("--insecure to an address off loopback is refused in one sentence, exit 2", async () => {
    await using dir = await tempDir("dropsim-refused-");
    await using sync = new SyncProcess([dir.join("folder"), "--server", "192.0.2.1:7070", "--token", TOKEN, "--insecure"]);
    expect(await sync.exitCode()).toBe(2);
    expect(sync.output).toMatch(/Cannot sync with 192\.0\.2\.1:7070 over plain TCP: --insecure is allowed only to a loopback address such as 127\.0\.0\.1/);
  });
});

describe("joining", () => {
  test("a join link is kept in .dropsim/join.json (0600, .dropsim/ 0700): a restart needs no flags and sends the same hello", async () => {
    await using dir = await tempDir("dropsim-join-");
    using fake = new FakeServer(honest({ head: 0, entries: [], blocks: new Map() }));
    const folder = dir.join("folder");
    {
      await using sync = new SyncProcess([folder, "--join", `dropsim://127.0.0.1:${fake.port}/team?token=${TOKEN}`]);
      await sync.waitForLine(/Idle: folder and server agree/);
      expect(sync.output).not.toContain(TOKEN);
    }
    expect((await fs.stat(dir.join("folder", ".dropsim"))).mode & 0o777).toBe(0o700);
    expect((await fs.stat(dir.join("folder", ".dropsim", "join.json"))).mode & 0o777).toBe(0o600);
    await using again = new SyncProcess([folder]);
    await again.waitForLine(/Idle: folder and server agree/);
    const hellos = fake.messages("hello");
    expect(hellos).toHaveLength(2);
    for (const h of hellos) expect(h).toMatchObject({ share: "team", token: TOKEN });
  });

  test("a token given later replaces the saved one, and is saved", async () => {
    await using dir = await tempDir("dropsim-join-");
    using fake = new FakeServer(honest({ head: 0, entries: [], blocks: new Map() }));
    const folder = dir.join("folder");
    for (const args of [["--join", `dropsim://127.0.0.1:${fake.port}/team?token=${TOKEN}`], [], ["--token", "dst_ffffffffffff_new"], []]) {
      await using sync = new SyncProcess([folder, ...args]);
      await sync.waitForLine(/Idle: folder and server agree/);
    }
    expect(fake.messages("hello").map((h) => h.token)).toEqual([TOKEN, TOKEN, "dst_ffffffffffff_new", "dst_ffffffffffff_new"]);
    for (const h of fake.messages("hello")) expect(h.share).toBe("team");
  });
});
