import { describe, expect, test } from "bun:test";
import { hashBlock, hashBlockList } from "../../src/core/block-hash.ts";
import type { BlockRef } from "../../src/core/entry.ts";
import type { Op, PutOp } from "../../src/protocol/messages.ts";
import { applyOps } from "../../src/server/commit.ts";
import { MemoryMetaStore } from "../../src/store/memory-meta-store.ts";

// The rule of issue 9: one op never fails a whole batch. A name another system cannot hold
// (a backslash is legal on Linux) must cost that one op, not every upload of the client.
// That such ops get past the frame decoder is tested in tests/protocol/messages.test.ts.

const NOW = 1_700_000_000_000;
const bytes = new TextEncoder().encode("hello");
const block: BlockRef = [hashBlock(bytes), bytes.length];
const putFile = (path: string): PutOp => ({
  op: "put",
  path,
  kind: "file",
  baseVersion: 0,
  size: bytes.length,
  mode: 0o644,
  hash: hashBlockList([block[0]]),
  blocks: [block],
  mtime: 5,
});


describe("an apply batch with bad paths", () => {
  const bad: [string, Op][] = [
    ["a backslash in a put", putFile("dir\\name.txt")],
    ["a traversal in a put", putFile("../escape.txt")],
    ["a folder put inside .dropsim", { ...putFile(".dropsim/x"), kind: "dir", hash: "", blocks: [] }],
    ["an absolute delete", { op: "delete", path: "/etc/passwd", baseVersion: 1 }],
    ["a move to a NUL name", { op: "move", from: "good.txt", to: "a\0b", baseVersion: 1 }],
    ["a move from an empty name", { op: "move", from: "", to: "stolen.txt", baseVersion: 1 }],
    ["a put of an over-long name", putFile("x".repeat(300))],
  ];

  test.each(bad)("%s gets its own bad_path error while the ops around it commit", async (_name, op) => {
    const store = new MemoryMetaStore();
    const { results } = await applyOps(store, [putFile("good.txt"), op, putFile("also good.txt")], async () => new Set(), { clientId: "test-client", at: NOW });
    const [before, refused, after] = results;
    expect(before?.status).toBe("ok");
    expect(after?.status).toBe("ok");
    expect(refused).toMatchObject({ status: "error", code: "bad_path" });
    expect((refused as { message: string }).message).toMatch(/^Invalid path ".*": /);
    expect((await store.get("good.txt"))?.deleted).toBe(false);
    expect((await store.get("also good.txt"))?.deleted).toBe(false);
    expect((await store.changesSince(0, 100)).map((e) => e.path)).toEqual(["good.txt", "also good.txt"]);
  });
});
