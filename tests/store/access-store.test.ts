import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { hashSecret, mintToken } from "../../src/core/access-token.ts";
import { openBunDatabase } from "../../src/runtime/sqlite-bun.ts";
import type { AccessStore } from "../../src/store/access-store.ts";
import { createShareFiles, MEMORY_LOCATION, openAccessStore } from "../../src/store/open.ts";
import { SqlAccessStore } from "../../src/store/sql-access-store.ts";
import { type TempDir, tempDir } from "../helpers/temp-dir.ts";

const runtime = { openDatabase: openBunDatabase };
let scratch: TempDir;
beforeEach(async () => {
  scratch = await tempDir("dropsim-access-");
});
afterEach(() => scratch.remove());

const backends: [string, () => Promise<AccessStore>][] = [
  ["memory", () => openAccessStore(MEMORY_LOCATION, runtime, 1)],
  ["sqlite", () => openAccessStore(scratch.join("data"), runtime, 1)],
];

describe.each(backends)("access store (%s)", (_, open) => {
  test("a new store has the share default and no tokens", async () => {
    const access = await open();
    expect(access.shares()).toEqual([{ name: "default", quota: null, created: 1, keepDays: 30 }]);
    expect(access.tokens()).toEqual([]);
    access.close();
  });

  test("shares are added once, with a safe name, and their quota changed", async () => {
    const access = await open();
    access.addShare("team", 50 * 2 ** 30, 2);
    expect(() => access.addShare("team", null, 3)).toThrow('Cannot create share "team": it exists already');
    for (const bad of ["../x", ".hidden", "a/b", "", "x".repeat(65)]) expect(() => access.addShare(bad, null, 3)).toThrow(/Invalid share name/);
    expect(access.setQuota("team", null)).toBe(true);
    expect(access.setQuota("nope", 1)).toBe(false);
    expect(access.share("team")).toEqual({ name: "team", quota: null, created: 2, keepDays: 30 });
    access.close();
  });

  test("a share's retention is set at creation or later", async () => {
    const access = await open();
    access.addShare("scratch", null, 2, 0);
    expect(access.share("scratch")!.keepDays).toBe(0);
    expect(access.setKeepDays("default", -1)).toBe(true);
    expect(access.setKeepDays("nope", 3)).toBe(false);
    expect(access.shares().map((s) => [s.name, s.keepDays])).toEqual([["default", -1], ["scratch", 0]]);
    access.close();
  });

  test("a GC request waits until its result is written back", async () => {
    const access = await open();
    const first = access.requestGc({ dryRun: true, grace: 5 }, 2);
    const second = access.requestGc({ dryRun: false, grace: 6 }, 3);
    expect(access.pendingGc()).toEqual([
      { id: first, dryRun: true, grace: 5, requested: 2 },
      { id: second, dryRun: false, grace: 6, requested: 3 },
    ]);
    expect(access.gcResult(first)).toBeUndefined();
    access.finishGc(first, '{"shares":[]}', 4);
    expect(access.gcResult(first)).toBe('{"shares":[]}');
    expect(access.pendingGc().map((r) => r.id)).toEqual([second]);
    expect(access.gcResult(99)).toBeUndefined();
    access.close();
  });

  test("a token keeps only the hash of its secret, and revoking it or removing its share marks it revoked", async () => {
    const access = await open();
    access.addShare("team", null, 2);
    const t = mintToken();
    const record = access.addToken({ id: t.id, secretHash: t.secretHash, share: "team", scope: "read_only", label: "laptop", expires: 99 }, 3);
    expect(record).toEqual({ id: t.id, share: "team", scope: "read_only", label: "laptop", created: 3, lastUsed: null, expires: 99, revoked: null });
    expect(JSON.stringify(access.tokens())).not.toContain(t.token.slice(-43));
    expect(access.token(t.id)!.secretHash).toBe(hashSecret(t.token.slice(-43)));
    access.touchToken(t.id, 4);
    expect(access.tokens("team")[0]!.lastUsed).toBe(4);
    expect(access.tokens("default")).toEqual([]);
    const u = mintToken();
    access.addToken({ id: u.id, secretHash: u.secretHash, share: "team", scope: "read_write", label: null, expires: null }, 3);
    expect(access.revokeToken(t.id, 5)).toBe(true);
    expect(access.revokeToken(t.id, 6)).toBe(true);
    expect(access.token(t.id)!.revoked).toBe(5);
    expect(access.revokeToken("000000000000", 5)).toBe(false);
    expect(access.removeShare("team", 7)).toBe(true);
    expect(access.token(u.id)!.revoked).toBe(7);
    expect(() => access.addToken({ id: "111111111111", secretHash: u.secretHash, share: "team", scope: "read_write", label: null, expires: null }, 8)).toThrow('Cannot find share "team"');
    access.close();
  });

  test("the address and fingerprint the server listens on are kept", async () => {
    const access = await open();
    expect(access.listening()).toBeUndefined();
    access.setListening({ address: "example.org:7070", fingerprint: `SHA256:${"a".repeat(64)}` });
    access.setListening({ address: "127.0.0.1:7070", fingerprint: null });
    expect(access.listening()).toEqual({ address: "127.0.0.1:7070", fingerprint: null });
    access.close();
  });
});

test("another connection's change moves data_version, one's own does not", async () => {
  const root = scratch.join("data");
  const server = await openAccessStore(root, runtime);
  const cli = SqlAccessStore.open(`${root}/access.db`, openBunDatabase);
  const before = server.dataVersion();
  server.touchToken("x", 1);
  expect(server.dataVersion()).toBe(before);
  cli.addShare("new", null, 1);
  expect(server.dataVersion()).not.toBe(before);
  expect(server.share("new")).toBeDefined();
  cli.close();
  server.close();
});

test("an access.db from before retention gives its shares 30 days", async () => {
  const file = scratch.join("access.db");
  const db = openBunDatabase(file);
  db.exec(`CREATE TABLE shares (name TEXT PRIMARY KEY, quota INTEGER, created INTEGER NOT NULL);
    CREATE TABLE tokens (id TEXT PRIMARY KEY, secret_hash TEXT NOT NULL, share TEXT NOT NULL, scope TEXT NOT NULL, label TEXT, created INTEGER NOT NULL, last_used INTEGER, expires INTEGER, revoked INTEGER);
    CREATE TABLE server (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    INSERT INTO shares VALUES ('old', NULL, 1);
    PRAGMA user_version = 1;`);
  db.close();
  const access = SqlAccessStore.open(file, openBunDatabase);
  expect(access.shares()).toEqual([{ name: "old", quota: null, created: 1, keepDays: 30 }]);
  access.close();
});

test("a data dir that has shares already lists them on the access store's first opening", async () => {
  const root = scratch.join("data");
  await createShareFiles(root, "photos", runtime);
  const access = await openAccessStore(root, runtime, 1);
  expect(access.shares().map((s) => s.name)).toEqual(["default", "photos"]);
  access.close();
});
