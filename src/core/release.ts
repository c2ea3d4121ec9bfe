/**
 * Gives the memory of `buffer` back now instead of at the next collection: bulk buffers (socket
 * reads, runs of frames, received blocks) are what a transfer leaves behind by the hundred MiB,
 * and JavaScriptCore paces its collector by heap growth, not by them. Detaching is how
 * JavaScript frees a buffer (ArrayBuffer.prototype.transfer, ES2024): every view of it reads
 * as empty afterwards, so the caller must own the whole buffer and be done with it.
 */
export function release(buffer: ArrayBufferLike): void {
  const b = buffer as ArrayBuffer & { transfer?: (length: number) => ArrayBuffer };
  if (typeof b.transfer === "function" && !b.detached) b.transfer(0);
}

/** True when `bytes` is the whole of its buffer (no other view can share it by offset). */
export function wholeBuffer(bytes: Uint8Array): boolean {
  return bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength;
}
