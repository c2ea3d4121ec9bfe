import { encodeFrame, FrameType } from "../protocol/frame-codec.ts";
import { encodeMessage, type MessageOf, type ServerMessage } from "../protocol/messages.ts";
import type { BlockStore } from "../store/block-store.ts";
import type { CommitNotice, JournalFeed } from "../store/journal-feed.ts";
import type { MetaStore } from "../store/meta-store.ts";
import type { StoreSet } from "../store/open.ts";

/** A commit as sessions push it: the `changed` frame, and when this process first had it. */
export interface Push {
  frame: Uint8Array;
  /** `performance.now()` when the frame was made: fan-out latency is measured from it. */
  since: number;
}

/** One share as sessions use it: its stores, and its journal feed bound to its name. */
export class Share {
  /**
   * Keyed by the notice object, which the feed hands to every subscriber: the frame is
   * encoded once however many sessions of the share receive it.
   */
  private readonly pushes = new WeakMap<CommitNotice, Push>();
  /** Sessions told of files other sessions are still uploading, by session. */
  private readonly streamListeners = new Map<object, (frame: Uint8Array) => void>();

  constructor(
    readonly name: string,
    readonly meta: MetaStore,
    readonly blocks: BlockStore,
    private readonly feed: JournalFeed,
  ) {}

  publish(notice: CommitNotice): void {
    this.feed.publish(this.name, notice);
  }

  /** Calls `listener` for each later commit whose head is past `afterSeq`; returns the unsubscribe function. */
  subscribe(afterSeq: number, listener: (notice: CommitNotice) => void): () => void {
    return this.feed.subscribe(this.name, afterSeq, listener);
  }

  /**
   * Calls `listener` with the frame of each `incoming` another session announces; returns
   * the unsubscribe function. Only this process's sessions are told: streaming lets a client
   * start early, the commit still reaches every session through the feed.
   */
  listenStreaming(session: object, listener: (frame: Uint8Array) => void): () => void {
    this.streamListeners.set(session, listener);
    return () => this.streamListeners.delete(session);
  }

  /** Tells every listening session but `from` of `message`, encoded once. */
  announce(from: object, message: MessageOf<ServerMessage, "incoming">): void {
    if (this.streamListeners.size <= 1) return;
    const frame = encodeFrame(FrameType.control, encodeMessage(message));
    for (const [session, listener] of this.streamListeners) if (session !== from) listener(frame);
  }

  pushOf(notice: CommitNotice): Push {
    let push = this.pushes.get(notice);
    if (!push) {
      const { from, head, entries } = notice;
      push = { frame: encodeFrame(FrameType.control, encodeMessage({ type: "changed", from, head, entries })), since: performance.now() };
      this.pushes.set(notice, push);
    }
    return push;
  }
}

/** Maps share names to their stores and feed, as the store set opened them; shares come and go while the server runs. */
export class ShareRegistry {
  private readonly shares = new Map<string, Share>();

  constructor(private readonly stores: StoreSet) {}

  names(): string[] {
    return this.stores.shareNames();
  }

  /** Opens a share created while the server runs (its files made if missing). */
  async open(name: string): Promise<Share> {
    await this.stores.openShare(name);
    return this.get(name)!;
  }

  /** Closes a removed share's stores; its sessions are closed by then (their tokens were revoked with it). */
  async close(name: string): Promise<void> {
    this.shares.delete(name);
    await this.stores.closeShare(name);
  }

  get(name: string): Share | undefined {
    let share = this.shares.get(name);
    if (!share) {
      const stores = this.stores.share(name);
      if (!stores) return undefined;
      share = new Share(name, stores.meta, stores.blocks, this.stores.feed);
      this.shares.set(name, share);
    }
    return share;
  }
}
