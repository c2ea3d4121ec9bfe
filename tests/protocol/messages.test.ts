import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { DropsimError, type ErrorCode } from "../../src/core/errors.ts";
import {
  clientMessages,
  decodeMessage,
  encodeMessage,
  MAX_LIST,
  PROTOCOL_VERSION,
  salvageId,
  serverMessages,
  type ClientMessage,
  type ServerMessage,
} from "../../src/protocol/messages.ts";

const H1 = "a".repeat(64);
const H2 = "0123456789abcdef".repeat(4);
const text = (s: string) => new TextEncoder().encode(s);
const json = (v: unknown) => text(JSON.stringify(v));

const fileEntry = {
  path: "docs/report.pdf",
  kind: "file",
  size: 10,
  mode: 0o644,
  hash: H2,
  blocks: [[H1, 10]],
  version: 7,
  deleted: false,
  mtime: 1_700_000_000_000,
};
const movedEntry = { ...fileEntry, path: "new/report.pdf", movedFrom: "docs/report.pdf", version: 8 };
const linkEntry = { path: "docs/latest", kind: "symlink", size: 10, mode: 0o777, hash: H1, blocks: [], version: 10, deleted: false, mtime: 0, target: "report.pdf" };
const taggedEntry = { ...fileEntry, path: "docs/tagged.pdf", version: 12, xattrs: [["user.color", "cmVk"], ["user.xdg.tags", ""]] };
const linkTomb = { path: "docs/old", kind: "symlink", size: 0, mode: 0o777, hash: "", blocks: [], version: 11, deleted: true, mtime: 0 };
const dirTomb = { path: "docs", kind: "dir", size: 0, mode: 0o755, hash: "", blocks: [], version: 9, deleted: true, mtime: 0 };

const validClient: ClientMessage[] = [
  { type: "hello", id: 1, protocol: PROTOCOL_VERSION, clientId: "c-1" },
  { type: "hello", id: 2, protocol: 1, clientId: "c-1", host: "laptop" },
  { type: "changes", id: 3, since: 0 },
  { type: "changes", id: 4, since: 42, limit: 500 },
  { type: "has_blocks", id: 5, hashes: [H1, H2] },
  { type: "has_blocks", id: 6, hashes: [] },
  { type: "get_blocks", id: 7, hashes: [H1] },
  {
    type: "apply",
    id: 8,
    ops: [
      { op: "put", path: "a/b.txt", kind: "file", baseVersion: 0, size: 10, mode: 0o644, hash: H2, blocks: [[H1, 10]], mtime: 1 },
      { op: "put", path: "a", kind: "dir", baseVersion: 3, size: 0, mode: 0o755, hash: "", blocks: [], mtime: 0 },
      { op: "delete", path: "old.txt", baseVersion: 4 },
      { op: "move", from: "x", to: "y/x", baseVersion: 5 },
      { op: "put", path: "a/up", kind: "symlink", baseVersion: 0, size: 5, mode: 0o777, hash: H1, mtime: 1, target: "../../etc" },
      { op: "put", path: "a/abs", kind: "symlink", baseVersion: 0, size: 4, mode: 0o777, hash: H1, blocks: [], mtime: 1, target: "/etc" },
      { op: "put", path: "a/t.txt", kind: "file", baseVersion: 2, size: 10, mode: 0o644, hash: H2, splice: { base: 2, at: 0, drop: 0, insert: [] }, mtime: 1, xattrs: [["com.apple.metadata:_kMDItemUserTags", "YnBsaXN0"], ["user.color", "cmVk"]] },
    ],
  },
  { type: "bye" },
  { type: "ping", id: 9 },
  { type: "streaming", path: "big.bin", size: 3, from: 0, blocks: [[H1, 3]] },
  { type: "history", id: 10, path: "a/b.txt", below: false },
  { type: "history", id: 11, path: "", below: true, before: 40, limit: 1000 },
  { type: "trash", id: 12, path: "" },
  { type: "restore", id: 13, path: "a", at: 1_700_000_000_000, seen: 41, dryRun: true },
  { type: "restore", id: 14, path: "a/b.txt", version: 3, seen: 41, dryRun: false },
];

const validServer: ServerMessage[] = [
  { type: "welcome", id: 1, protocol: PROTOCOL_VERSION, serverId: "s-1", head: 0, share: "default", scope: "read_write" },
  { type: "changes_result", id: 2, head: 9, entries: [fileEntry, movedEntry, dirTomb, linkEntry, linkTomb, taggedEntry] as never, more: false },
  { type: "missing", id: 3, hashes: [H1] },
  { type: "blocks_done", id: 4, missing: [] },
  {
    type: "applied",
    id: 5,
    head: 10,
    results: [
      { status: "ok", entries: [fileEntry] as never },
      { status: "conflict", current: fileEntry as never },
      { status: "conflict", current: null },
      { status: "error", code: "missing_blocks", message: "Cannot commit" },
    ],
  },
  { type: "changed", from: 8, head: 9, entries: [movedEntry] as never },
  { type: "incoming", path: "big.bin", size: 3, from: 2, blocks: [[H1, 3]] },
  { type: "pong", id: 9 },
  { type: "error", code: "bad_message", message: "Received an invalid message" },
  { type: "error", id: 12, code: "not_found", message: "No such path" },
  {
    type: "history_result",
    id: 13,
    rows: [
      { seq: 4, path: "a/b.txt", kind: "file", change: "edit", size: 10, at: 1_700_000_000_000, clientId: "c-1", host: "laptop" },
      { seq: 3, path: "a/c.txt", kind: "file", change: "move", size: 10, at: null, clientId: null, host: null, movedFrom: "a/b.txt" },
    ],
    more: true,
  },
  { type: "trash_result", id: 14, items: [{ path: "old.txt", kind: "file", seq: 9, version: 7, size: 3, at: 1_700_000_000_000, clientId: "c-1", host: null }], more: false },
  {
    type: "restore_result",
    id: 15,
    head: 12,
    target: 7,
    changes: [
      { path: "old.txt", action: "restore", kind: "file", size: 3 },
      { path: "old (conflicted copy from laptop 2026-12-01 14.00.00 c1).txt", action: "conflict_copy", kind: "file", size: 3, of: "old.txt" },
    ],
    more: false,
    counts: { restore: 1, remove: 0, conflict_copy: 1 },
  },
];

function decodeError(schemas: Record<string, unknown>, body: Uint8Array): DropsimError {
  try {
    decodeMessage(schemas as typeof clientMessages, body);
  } catch (e) {
    expect(e).toBeInstanceOf(DropsimError);
    return e as DropsimError;
  }
  throw new Error(`expected decoding ${new TextDecoder().decode(body)} to fail`);
}

describe("decodeMessage accepts", () => {
  test("every client message type has a valid example here", () => {
    expect(new Set<string>(validClient.map((m) => m.type))).toEqual(new Set(Object.keys(clientMessages)));
    expect(new Set<string>(validServer.map((m) => m.type))).toEqual(new Set(Object.keys(serverMessages)));
  });

  test.each(validClient.map((m) => [m.type, m] as const))("decodeMessage accepts a valid client %s message", (_type, m) => {
    expect(decodeMessage(clientMessages, text(encodeMessage(m)))).toEqual(m);
  });

  test.each(validServer.map((m) => [m.type, m] as const))("decodeMessage accepts a valid server %s message", (_type, m) => {
    expect(decodeMessage(serverMessages, text(encodeMessage(m)))).toEqual(m);
  });

  test("decodeMessage accepts a message with a leading byte-order mark and whitespace", () => {
    const body = new Uint8Array([0xef, 0xbb, 0xbf, ...text(' \n{"type":"bye"} ')]);
    expect(decodeMessage(clientMessages, body)).toEqual({ type: "bye" });
  });

  test("decodeMessage accepts non-ASCII paths", () => {
    const m = { type: "apply", id: 1, ops: [{ op: "delete", path: "café/日本語 🎉.txt", baseVersion: 1 }] };
    expect(decodeMessage(clientMessages, json(m))).toEqual(m as never);
  });

  test("decodeMessage accepts lists at the cap", () => {
    const m = { type: "has_blocks", id: 1, hashes: Array.from({ length: MAX_LIST }, () => H1) };
    expect(decodeMessage(clientMessages, json(m))).toEqual(m as never);
  });
});

describe("decodeMessage rejects", () => {
  const bad: [string, Uint8Array, ErrorCode, RegExp][] = [
    ["invalid UTF-8", new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]), "bad_message", /not valid UTF-8/],
    ["a lone surrogate half in UTF-8", new Uint8Array([...text('{"type":"'), 0xed, 0xa0, 0x80, ...text('"}')]), "bad_message", /not valid UTF-8/],
    ["an empty body", new Uint8Array(0), "bad_message", /not valid JSON/],
    ["invalid JSON", text('{"type": "bye"'), "bad_message", /not valid JSON/],
    ["JSON with a trailing comma", text('{"type":"bye",}'), "bad_message", /not valid JSON/],
    ["a JSON array", json([{ type: "bye" }]), "bad_message", /not a JSON object/],
    ["a JSON string", json("bye"), "bad_message", /not a JSON object/],
    ["a JSON number", text("1"), "bad_message", /not a JSON object/],
    ["JSON null", text("null"), "bad_message", /not a JSON object/],
    ["a missing type", json({ id: 1 }), "bad_message", /without a string "type" field/],
    ["a numeric type", json({ type: 1 }), "bad_message", /without a string "type" field/],
    ["a null type", json({ type: null }), "bad_message", /without a string "type" field/],
    ["an unknown type", json({ type: "launch_missiles", id: 1 }), "unknown_type", /unknown type "launch_missiles"/],
    ["a prototype key as type", json({ type: "__proto__" }), "unknown_type", /unknown type "__proto__"/],
    ["toString as type", json({ type: "toString" }), "unknown_type", /unknown type "toString"/],
    ["constructor as type", json({ type: "constructor" }), "unknown_type", /unknown type/],
    ["a server message sent by a client", json({ type: "welcome", id: 1, protocol: 1, serverId: "s", head: 0 }), "unknown_type", /unknown type "welcome"/],
    ["a missing field", json({ type: "hello", id: 1, protocol: 1 }), "bad_message", /invalid "hello" message at clientId/],
    ["a missing id", json({ type: "changes", since: 0 }), "bad_message", /invalid "changes" message at id/],
    ["a streaming file outside the folder", json({ type: "streaming", path: "../x", size: 3, from: 0, blocks: [[H1, 3]] }), "bad_message", /invalid "streaming" message at path: invalid path/],
    ["a streaming message without blocks", json({ type: "streaming", path: "x", size: 3, from: 0, blocks: [] }), "bad_message", /invalid "streaming" message at blocks/],
    ["a streaming message with too many blocks", json({ type: "streaming", path: "x", size: 3, from: 0, blocks: Array.from({ length: MAX_LIST + 1 }, () => [H1, 3]) }), "bad_message", /at blocks: expected 1–10000 blocks, got 10001/],
    ["a block list that is not a list", json({ type: "streaming", path: "x", size: 3, from: 0, blocks: { 0: [H1, 3] } }), "bad_message", /at blocks: expected a list of \[hash, size\] pairs/],
    ["a block that is no pair", json({ type: "streaming", path: "x", size: 3, from: 0, blocks: [[H1, 3], [H1]] }), "bad_message", /at blocks\.1: expected a \[hash, size\] pair/],
    ["a block of fractional size", json({ type: "streaming", path: "x", size: 3, from: 0, blocks: [[H1, 1.5]] }), "bad_message", /at blocks\.0\.1: expected a positive integer/],
    ["an extra field", json({ type: "bye", extra: 1 }), "bad_message", /invalid "bye" message.*extra/],
    ["an extra field in an op", json({ type: "apply", id: 1, ops: [{ op: "delete", path: "a", baseVersion: 1, force: true }] }), "bad_message", /at ops\.0.*force/],
    ["a string id", json({ type: "changes", id: "1", since: 0 }), "bad_message", /at id/],
    ["a negative id", json({ type: "changes", id: -1, since: 0 }), "bad_message", /at id/],
    ["a fractional id", json({ type: "changes", id: 1.5, since: 0 }), "bad_message", /at id/],
    ["a negative cursor", json({ type: "changes", id: 1, since: -5 }), "bad_message", /at since/],
    ["a limit over the cap", json({ type: "changes", id: 1, since: 0, limit: MAX_LIST + 1 }), "bad_message", /at limit/],
    ["a zero limit", json({ type: "changes", id: 1, since: 0, limit: 0 }), "bad_message", /at limit/],
    ["an empty client id", json({ type: "hello", id: 1, protocol: 1, clientId: "" }), "bad_message", /at clientId/],
    ["hashes that are not a list", json({ type: "has_blocks", id: 1, hashes: H1 }), "bad_message", /at hashes/],
    ["too many hashes", json({ type: "has_blocks", id: 1, hashes: Array.from({ length: MAX_LIST + 1 }, () => H1) }), "bad_message", /at hashes/],
    ["an upper-case hash", json({ type: "get_blocks", id: 1, hashes: [H1.toUpperCase()] }), "bad_message", /at hashes\.0: expected a 64-digit lowercase hex SHA-256/],
    ["a short hash", json({ type: "get_blocks", id: 1, hashes: ["abc"] }), "bad_message", /64-digit/],
    ["a hash with a non-hex digit", json({ type: "get_blocks", id: 1, hashes: [`${"a".repeat(63)}g`] }), "bad_message", /64-digit/],
    ["a hash with a trailing newline", json({ type: "get_blocks", id: 1, hashes: [`${H1}\n`] }), "bad_message", /64-digit/],
    ["an empty op list", json({ type: "apply", id: 1, ops: [] }), "bad_message", /at ops/],
    ["an unknown op", json({ type: "apply", id: 1, ops: [{ op: "chmod", path: "a" }] }), "bad_message", /at ops\.0/],
    [
      "a block of size 0",
      json({ type: "apply", id: 1, ops: [{ op: "put", path: "a", kind: "file", baseVersion: 0, size: 0, mode: 420, hash: H2, blocks: [[H1, 0]], mtime: 0 }] }),
      "bad_message",
      /at ops\.0\.blocks\.0\.1/,
    ],
    [
      "a block with a bad hash",
      json({ type: "apply", id: 1, ops: [{ op: "put", path: "a", kind: "file", baseVersion: 0, size: 1, mode: 420, hash: H2, blocks: [["x", 1]], mtime: 0 }] }),
      "bad_message",
      /at ops\.0\.blocks\.0\.0/,
    ],
    ["a symlink without its target", json({ type: "apply", id: 1, ops: [{ op: "put", path: "a", kind: "symlink", baseVersion: 0, size: 1, mode: 0o777, hash: H1, mtime: 0, target: undefined }] }), "bad_message", /at ops\.0\.target: a symlink needs its target/],
    ["a target on a file", json({ type: "apply", id: 1, ops: [{ op: "put", path: "a", kind: "file", baseVersion: 0, size: 0, mode: 420, hash: H2, blocks: [], mtime: 0, target: "b" }] }), "bad_message", /at ops\.0\.target: only a symlink/],
    ["a symlink with blocks", json({ type: "apply", id: 1, ops: [{ op: "put", path: "a", kind: "symlink", baseVersion: 0, size: 1, mode: 0o777, hash: H1, mtime: 0, target: "b", blocks: [[H1, 1]] }] }), "bad_message", /at ops\.0\.blocks: a symlink has no blocks/],
    ["a symlink with a splice", json({ type: "apply", id: 1, ops: [{ op: "put", path: "a", kind: "symlink", baseVersion: 0, size: 1, mode: 0o777, hash: H1, mtime: 0, target: "b", splice: { base: 1, at: 0, drop: 0, insert: [] } }] }), "bad_message", /at ops\.0\.blocks: a symlink has no blocks/],
    ["an empty symlink target", json({ type: "apply", id: 1, ops: [{ op: "put", path: "a", kind: "symlink", baseVersion: 0, size: 1, mode: 0o777, hash: H1, mtime: 0, target: "" }] }), "bad_message", /at ops\.0\.target: invalid symlink target: it is empty/],
    ["a symlink target with a NUL", json({ type: "apply", id: 1, ops: [{ op: "put", path: "a", kind: "symlink", baseVersion: 0, size: 1, mode: 0o777, hash: H1, mtime: 0, target: "a\u0000b" }] }), "bad_message", /at ops\.0\.target: invalid symlink target: it contains a NUL/],
    ["a symlink target over 4096 bytes", json({ type: "apply", id: 1, ops: [{ op: "put", path: "a", kind: "symlink", baseVersion: 0, size: 1, mode: 0o777, hash: H1, mtime: 0, target: "é".repeat(2049) }] }), "bad_message", /at ops\.0\.target: invalid symlink target: it is 4098 bytes/],
    ["attributes on a folder", json({ type: "apply", id: 1, ops: [{ op: "put", path: "a", kind: "dir", baseVersion: 0, size: 0, mode: 493, hash: "", blocks: [], mtime: 0, xattrs: [["user.a", ""]] }] }), "bad_message", /at ops\.0\.xattrs: only a file has extended attributes/],
    ["attributes on a symlink", json({ type: "apply", id: 1, ops: [{ op: "put", path: "a", kind: "symlink", baseVersion: 0, size: 1, mode: 0o777, hash: H1, mtime: 0, target: "b", xattrs: [["user.a", ""]] }] }), "bad_message", /at ops\.0\.xattrs: only a file has extended attributes/],
    ["an empty set of attributes", json({ type: "apply", id: 1, ops: [{ op: "put", path: "a", kind: "file", baseVersion: 0, size: 0, mode: 420, hash: H2, blocks: [], mtime: 0, xattrs: [] }] }), "bad_message", /at ops\.0\.xattrs/],
    ["attributes out of order", json({ type: "apply", id: 1, ops: [{ op: "put", path: "a", kind: "file", baseVersion: 0, size: 0, mode: 420, hash: H2, blocks: [], mtime: 0, xattrs: [["user.b", ""], ["user.a", ""]] }] }), "bad_message", /at ops\.0\.xattrs: invalid extended attributes: Attribute "user\.a" is out of order or repeated/],
    ["an attribute named twice", json({ type: "apply", id: 1, ops: [{ op: "put", path: "a", kind: "file", baseVersion: 0, size: 0, mode: 420, hash: H2, blocks: [], mtime: 0, xattrs: [["user.a", ""], ["user.a", "MQ=="]] }] }), "bad_message", /out of order or repeated/],
    ["an attribute with an empty name", json({ type: "apply", id: 1, ops: [{ op: "put", path: "a", kind: "file", baseVersion: 0, size: 0, mode: 420, hash: H2, blocks: [], mtime: 0, xattrs: [["", "MQ=="]] }] }), "bad_message", /at ops\.0\.xattrs/],
    ["an attribute name with a NUL", json({ type: "apply", id: 1, ops: [{ op: "put", path: "a", kind: "file", baseVersion: 0, size: 0, mode: 420, hash: H2, blocks: [], mtime: 0, xattrs: [["user.a\u0000b", ""]] }] }), "bad_message", /empty or holds a NUL/],
    ["an attribute value not in base64", json({ type: "apply", id: 1, ops: [{ op: "put", path: "a", kind: "file", baseVersion: 0, size: 0, mode: 420, hash: H2, blocks: [], mtime: 0, xattrs: [["user.a", "not base64!"]] }] }), "bad_message", /not base64/],
    ["an attribute value in non-canonical base64", json({ type: "apply", id: 1, ops: [{ op: "put", path: "a", kind: "file", baseVersion: 0, size: 0, mode: 420, hash: H2, blocks: [], mtime: 0, xattrs: [["user.a", "MR=="]] }] }), "bad_message", /not in canonical base64/],
    ["an attribute that is no pair", json({ type: "apply", id: 1, ops: [{ op: "put", path: "a", kind: "file", baseVersion: 0, size: 0, mode: 420, hash: H2, blocks: [], mtime: 0, xattrs: [["user.a"]] }] }), "bad_message", /at ops\.0\.xattrs\.0/],
    ["attributes over 64 KiB in all", json({ type: "apply", id: 1, ops: [{ op: "put", path: "a", kind: "file", baseVersion: 0, size: 0, mode: 420, hash: H2, blocks: [], mtime: 0, xattrs: [["user.a", "A".repeat(43_692)], ["user.b", "A".repeat(43_692)]] }] }), "bad_message", /Attributes total 65550 bytes: more than the limit of 65536/],
    ["a symlink target over 4096 characters", json({ type: "apply", id: 1, ops: [{ op: "put", path: "a", kind: "symlink", baseVersion: 0, size: 1, mode: 0o777, hash: H1, mtime: 0, target: "x".repeat(4097) }] }), "bad_message", /at ops\.0\.target/],
    [
      "a mode over 0o7777",
      json({ type: "apply", id: 1, ops: [{ op: "put", path: "a", kind: "dir", baseVersion: 0, size: 0, mode: 0o10000, hash: "", blocks: [], mtime: 0 }] }),
      "bad_message",
      /at ops\.0\.mode/,
    ],
  ];

  test.each(bad)("decodeMessage rejects %s", (_name, body, code, why) => {
    const err = decodeError(clientMessages, body);
    expect(err.code).toBe(code);
    expect(err.message).toMatch(why);
  });

  // The server checks them op by op (tests/server/apply-batch.test.ts): one bad name must not
  // cost the whole batch. Entries, which the server sends, are still checked here.
  test.each([
    ["a path escaping the share", { op: "delete", path: "../etc/passwd", baseVersion: 1 }],
    ["an absolute path", { op: "delete", path: "/etc/passwd", baseVersion: 1 }],
    ["a path in the state folder", { op: "move", from: "a", to: ".dropsim/state.db", baseVersion: 1 }],
    ["a path with NUL", { op: "delete", path: "a\0b", baseVersion: 1 }],
    ["an empty path", { op: "delete", path: "", baseVersion: 1 }],
    ["a backslash path", { op: "delete", path: "C:\\x", baseVersion: 1 }],
  ])("decodeMessage leaves %s in an op to the server's per-op check", (_name, op) => {
    const m = { type: "apply", id: 1, ops: [op] };
    expect(decodeMessage(clientMessages, json(m))).toEqual(m as never);
  });

  test("decodeMessage rejects server messages with bad entries", () => {
    const cases: [unknown, RegExp][] = [
      [{ type: "changed", from: 0, head: 1, entries: [{ ...fileEntry, path: "a//b" }] }, /at entries\.0\.path: invalid path: it has an empty segment/],
      [{ type: "changed", from: 0, head: 1, entries: [{ ...fileEntry, path: "../etc/passwd" }] }, /at entries\.0\.path: invalid path: it has a "\.\." segment/],
      [{ type: "changed", from: 0, head: 1, entries: [{ ...fileEntry, path: "C:\\x" }] }, /at entries\.0\.path: invalid path: it contains a backslash/],
      [{ type: "changed", from: 0, head: 1, entries: [{ ...fileEntry, path: ".dropsim/state.db" }] }, /at entries\.0\.path: invalid path: it is inside \.dropsim/],
      [{ type: "changed", from: 0, head: 1, entries: [{ ...fileEntry, deleted: "no" }] }, /at entries\.0\.deleted/],
      [{ type: "changed", from: 0, head: 1, entries: [{ ...fileEntry, secret: 1 }] }, /at entries\.0/],
      [{ type: "changed", from: 0, head: 1, entries: [{ ...fileEntry, movedFrom: "../x" }] }, /at entries\.0\.movedFrom/],
      [{ type: "changed", from: 0, head: 1, entries: [{ ...fileEntry, hash: "XYZ" }] }, /at entries\.0\.hash/],
      [{ type: "changed", from: 0, head: 1, entries: [{ ...linkEntry, target: undefined }] }, /at entries\.0\.target: a symlink needs its target/],
      [{ type: "changed", from: 0, head: 1, entries: [{ ...linkEntry, blocks: [[H1, 10]] }] }, /at entries\.0\.blocks: a symlink has no blocks/],
      [{ type: "changed", from: 0, head: 1, entries: [{ ...linkTomb, target: "x" }] }, /at entries\.0\.target: only a symlink/],
      [{ type: "changed", from: 0, head: 1, entries: [{ ...fileEntry, target: "x" }] }, /at entries\.0\.target: only a symlink/],
      [{ type: "applied", id: 1, head: 1, results: [{ status: "maybe" }] }, /at results\.0/],
      [{ type: "error", code: "x".repeat(65), message: "m" }, /at code/],
      [{ type: "welcome", id: 1, protocol: 1, serverId: "s" }, /at head/],
    ];
    for (const [m, why] of cases) {
      const err = decodeError(serverMessages, json(m));
      expect(err.code).toBe("bad_message");
      expect(err.message).toMatch(why);
    }
  });

  test("decodeMessage quotes only the start of a very long unknown type", () => {
    const err = decodeError(clientMessages, json({ type: "x".repeat(10_000) }));
    expect(err.code).toBe("unknown_type");
    expect(err.message.length).toBeLessThan(200);
  });
});

describe("salvageId", () => {
  test.each([
    ['{"type":"changes","id":7,"since":"bad"}', 7],
    ['{"id":0}', 0],
    ['{"type":"nope","id":123456}', 123456],
  ])("salvageId finds the id of %s", (body, id) => {
    expect(salvageId(text(body))).toBe(id);
  });

  test.each([
    ["invalid JSON", text('{"id":7')],
    ["invalid UTF-8", new Uint8Array([0x7b, 0xff, 0x7d])],
    ["JSON null", text("null")],
    ["a number", text("7")],
    ["no id", text('{"type":"bye"}')],
    ["a string id", text('{"id":"7"}')],
    ["a negative id", text('{"id":-1}')],
    ["a fractional id", text('{"id":1.5}')],
    ["an unsafe integer id", text('{"id":9007199254740993}')],
    ["an empty body", new Uint8Array(0)],
  ])("salvageId gives undefined for %s", (_name, body) => {
    expect(salvageId(body)).toBeUndefined();
  });
});

describe("decodeMessage fuzz", () => {
  function onlyDropsimErrors(schemas: Record<string, unknown>, body: Uint8Array): void {
    try {
      decodeMessage(schemas as typeof clientMessages, body);
    } catch (e) {
      if (!(e instanceof DropsimError)) throw e;
      expect(["bad_message", "unknown_type"]).toContain(e.code);
    }
    const id = salvageId(body);
    if (id !== undefined) expect(Number.isSafeInteger(id) && id >= 0).toBe(true);
  }

  test("decodeMessage of arbitrary bytes throws nothing but DropsimError", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        onlyDropsimErrors(clientMessages, bytes);
        onlyDropsimErrors(serverMessages, bytes);
      }),
      { numRuns: 500 },
    );
  });

  test("decodeMessage of arbitrary JSON values throws nothing but DropsimError", () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 4 }), (value) => {
        onlyDropsimErrors(clientMessages, json(value));
        onlyDropsimErrors(serverMessages, json(value));
      }),
      { numRuns: 500 },
    );
  });

  const types = [...Object.keys(clientMessages), ...Object.keys(serverMessages), "__proto__", "constructor"];
  test("decodeMessage of arbitrary objects with a known type throws nothing but DropsimError", () => {
    fc.assert(
      fc.property(fc.constantFrom(...types), fc.dictionary(fc.constantFrom("id", "ops", "hashes", "since", "entries", "path", "results", "x"), fc.jsonValue({ maxDepth: 3 })), (type, rest) => {
        const body = json({ ...rest, type });
        onlyDropsimErrors(clientMessages, body);
        onlyDropsimErrors(serverMessages, body);
      }),
      { numRuns: 500 },
    );
  });

  test("decodeMessage survives deeply nested JSON", () => {
    const deep = text(`{"type":"apply","id":1,"ops":${"[".repeat(100_000)}${"]".repeat(100_000)}}`);
    onlyDropsimErrors(clientMessages, deep);
    expect(decodeError(clientMessages, deep).code).toBe("bad_message");
  });
});
