import { hashBlock } from "../core/block-hash.ts";
import { DropsimError } from "../core/errors.ts";
import type { BlockRef } from "../core/entry.ts";
import type { MessageOf, ServerMessage } from "../protocol/messages.ts";
import type { ServerPeer } from "./server-link.ts";

/** Bytes asked for but not yet consumed: bounds memory while keeping the pipe full (2 MiB is as fast as 4 on loopback). */
const WINDOW_BYTES = 2 * 1024 * 1024;
const REQUEST_BYTES = 1024 * 1024;

interface Waiter {
  owner: object;
  resolve(bytes: Uint8Array): void;
  reject(e: Error): void;
}

/**
 * Fetches blocks from the server with a window of requests in flight, yielding them in the
 * order asked. Block frames arrive unsolicited on the connection and are matched by hash.
 */
export class BlockFetcher {
  private waiting = new Map<string, Waiter[]>();

  /** Routes an incoming block frame; bytes that do not match their hash are refused. */
  deliver(hash: string, bytes: Uint8Array): void {
    const list = this.waiting.get(hash);
    if (!list?.length) return;
    const w = list.shift()!;
    if (list.length === 0) this.waiting.delete(hash);
    if (hashBlock(bytes) !== hash) w.reject(new DropsimError("bad_block", `Server sent block ${hash.slice(0, 12)}… with wrong bytes`));
    else w.resolve(bytes);
  }

  failAll(error: Error): void {
    for (const list of this.waiting.values()) for (const w of list) w.reject(error);
    this.waiting.clear();
  }

  private expect(hash: string, owner: object): Promise<Uint8Array> {
    const p = new Promise<Uint8Array>((resolve, reject) => {
      const list = this.waiting.get(hash) ?? [];
      list.push({ owner, resolve, reject });
      this.waiting.set(hash, list);
    });
    // Handled here so that a failure of a block nobody awaits yet is never "unhandled".
    p.catch(() => {});
    return p;
  }

  /** Forgets the waiters of an abandoned fetch, so they cannot swallow another fetch's blocks. */
  private release(owner: object): void {
    for (const [hash, list] of this.waiting) {
      const kept = list.filter((w) => w.owner !== owner);
      if (kept.length === 0) this.waiting.delete(hash);
      else this.waiting.set(hash, kept);
    }
  }

  /** Yields the bytes of each block in `refs`, in order. */
  async *fetch(peer: ServerPeer, refs: readonly BlockRef[]): AsyncGenerator<Uint8Array> {
    const groups: BlockRef[][] = [];
    let group: BlockRef[] = [];
    let groupBytes = 0;
    for (const ref of refs) {
      if (group.length > 0 && (groupBytes + ref[1] > REQUEST_BYTES || group.length >= 1000)) {
        groups.push(group);
        group = [];
        groupBytes = 0;
      }
      group.push(ref);
      groupBytes += ref[1];
    }
    if (group.length > 0) groups.push(group);

    const owner = {};
    const promises: Promise<Uint8Array>[] = [];
    let launched = 0;
    let inFlight = 0;
    const launch = () => {
      while (launched < groups.length && (inFlight === 0 || inFlight < WINDOW_BYTES)) {
        const g = groups[launched++]!;
        for (const [hash, size] of g) {
          promises.push(this.expect(hash, owner));
          inFlight += size;
        }
        const hashes = g.map(([h]) => h);
        peer.request<MessageOf<ServerMessage, "blocks_done">>({ type: "get_blocks", hashes }).then(
          (done) => {
            if (done.missing.length > 0) {
              this.failAll(new DropsimError("not_found", `Server is missing ${done.missing.length} block(s), e.g. ${done.missing[0]!.slice(0, 12)}…`));
            }
          },
          (e: Error) => this.failAll(e),
        );
      }
    };
    try {
      for (let i = 0; i < refs.length; i++) {
        launch();
        const bytes = await promises[i]!;
        promises[i] = undefined as never;
        inFlight -= refs[i]![1];
        yield bytes;
      }
    } finally {
      this.release(owner);
    }
  }
}
