import { expect, test } from "bun:test";
import { FrameDecoder } from "../../src/protocol/frame-codec.ts";
import { decodeMessage, serverMessages } from "../../src/protocol/messages.ts";
import { ShareRegistry } from "../../src/server/share-registry.ts";
import type { CommitNotice } from "../../src/store/journal-feed.ts";
import { openMemoryStores } from "../helpers/memory-stores.ts";

test("ShareRegistry gives the stores of the shares the store set holds, one Share object per name", async () => {
  await using stores = await openMemoryStores();
  const shares = new ShareRegistry(stores);
  expect(shares.names()).toEqual(["default"]);
  const share = shares.get("default")!;
  expect(share.meta).toBe(stores.share("default")!.meta);
  expect(share.blocks).toBe(stores.share("default")!.blocks);
  expect(shares.get("default")).toBe(share);
  expect(shares.get("nope")).toBeUndefined();
});

test("Share encodes a notice's changed frame once, however many sessions push it", async () => {
  await using stores = await openMemoryStores();
  const share = new ShareRegistry(stores).get("default")!;
  const notice: CommitNotice = { from: 3, head: 4, entries: [] };
  const first = share.pushOf(notice);
  expect(share.pushOf(notice)).toBe(first);
  expect(share.pushOf({ ...notice }).frame).not.toBe(first.frame);
  const [frame] = new FrameDecoder().push(first.frame);
  expect(decodeMessage(serverMessages, frame!.body)).toEqual({ type: "changed", from: 3, head: 4, entries: [] });
});

test("Share hands a published notice to its subscribers past their sequence number, and to no other share's", async () => {
  await using stores = await openMemoryStores();
  const share = new ShareRegistry(stores).get("default")!;
  const heard: number[] = [];
  const stop = share.subscribe(4, (n) => heard.push(n.head));
  const elsewhere: number[] = [];
  stores.feed.subscribe("other", 0, (n) => elsewhere.push(n.head));
  share.publish({ from: 3, head: 4, entries: [] });
  share.publish({ from: 4, head: 5, entries: [] });
  stop();
  share.publish({ from: 5, head: 6, entries: [] });
  expect(heard).toEqual([5]);
  expect(elsewhere).toEqual([]);
});
