import { describe, expect, test } from "bun:test";
import { WriteQueue } from "../../src/runtime/write-queue.ts";

/** A queue over a fake kernel that takes at most `room` bytes per call, recording what it took. */
function rig(room: number) {
  const taken: number[] = [];
  const kernel = { room };
  const queue = new WriteQueue((bytes) => {
    const n = Math.min(kernel.room, bytes.length);
    for (const b of bytes.subarray(0, n)) taken.push(b);
    kernel.room -= n;
    return n;
  });
  return { queue, taken, kernel };
}

describe("WriteQueue", () => {
  test("frees a transient buffer once the kernel has every byte of it, and never a buffer the caller keeps", () => {
    const { queue, taken, kernel } = rig(3);
    const transient = new Uint8Array([1, 2, 3, 4, 5]);
    const kept = new Uint8Array([6, 7]);
    queue.write(transient, true);
    queue.write(kept);
    expect(transient.length).toBe(5);
    expect(queue.bytes).toBe(4);
    kernel.room = 100;
    queue.flush();
    expect(taken).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(transient.length).toBe(0);
    expect(kept).toEqual(new Uint8Array([6, 7]));
    const atOnce = new Uint8Array([8]);
    queue.write(atOnce, true);
    expect(atOnce.length).toBe(0);
  });

  test("leaves a transient view of a bigger buffer alone: other views may share it", () => {
    const { queue } = rig(100);
    const buffer = new Uint8Array([1, 2, 3, 4]);
    queue.write(buffer.subarray(0, 2), true);
    expect(buffer).toEqual(new Uint8Array([1, 2, 3, 4]));
  });
});
