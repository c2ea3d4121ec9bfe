const encoder = new TextEncoder();

/**
 * A set of paths kept end to end in one buffer of UTF-8, not as one string each, and found
 * through an open-addressing table of their indexes: a rescan that passes over 100,000
 * unchanged files remembers which in ~3 MiB, where a Set of their strings held ~15 (W7's
 * restart). A path UTF-8 cannot hold exactly (a lone surrogate, which readdir on Windows may
 * return) goes to a plain Set instead.
 */
export class PathSet {
  // Small to begin with: a pass makes one for every dirty path, most of them a single file.
  private bytes = new Uint8Array(256);
  private used = 0;
  /** Where the i-th path starts in `bytes`; `starts[count]` is where the next one will. */
  private starts = new Uint32Array(8);
  private count = 0;
  /** 1 + the index of a path, at the first free slot from its hash on; 0 for a free slot. */
  private slots = new Uint32Array(8);
  private readonly odd = new Set<string>();

  get size(): number {
    return this.count + this.odd.size;
  }

  add(path: string): void {
    if (!path.isWellFormed()) {
      this.odd.add(path);
      return;
    }
    const length = this.put(path);
    const slot = this.find(length);
    if (this.slots[slot] !== 0) return;
    if (this.count + 2 > this.starts.length) this.starts = grown(this.starts, this.count + 2);
    this.used += length;
    this.starts[this.count + 1] = this.used;
    this.slots[slot] = ++this.count;
    // At most half full, so that a search for a path not held soon meets a free slot.
    if (2 * this.count > this.slots.length) this.rehash();
  }

  has(path: string): boolean {
    if (!path.isWellFormed()) return this.odd.has(path);
    return this.slots[this.find(this.put(path))] !== 0;
  }

  /** Writes `path` in UTF-8 after the last path held, without adding it; returns its length in bytes. */
  private put(path: string): number {
    // A code unit takes at most 3 bytes.
    if (this.used + 3 * path.length > this.bytes.length) this.bytes = grown(this.bytes, this.used + 3 * path.length);
    return encoder.encodeInto(path, this.bytes.subarray(this.used)).written;
  }

  /** The slot of the `length` bytes written after the last path: where they are held, or the free slot they would take. */
  private find(length: number): number {
    const mask = this.slots.length - 1;
    for (let slot = this.hash(this.used, length) & mask; ; slot = (slot + 1) & mask) {
      const held = this.slots[slot]!;
      if (held === 0 || this.equal(this.used, length, held - 1)) return slot;
    }
  }

  private rehash(): void {
    const slots = new Uint32Array(2 * this.slots.length);
    const mask = slots.length - 1;
    for (let i = 0; i < this.count; i++) {
      let slot = this.hash(this.starts[i]!, this.starts[i + 1]! - this.starts[i]!) & mask;
      while (slots[slot] !== 0) slot = (slot + 1) & mask;
      slots[slot] = i + 1;
    }
    this.slots = slots;
  }

  /** FNV-1a of `length` bytes at `at`. */
  private hash(at: number, length: number): number {
    let h = 0x811c9dc5;
    for (let k = 0; k < length; k++) h = Math.imul(h ^ this.bytes[at + k]!, 0x01000193);
    return h >>> 0;
  }

  private equal(at: number, length: number, i: number): boolean {
    const start = this.starts[i]!;
    if (this.starts[i + 1]! - start !== length) return false;
    for (let k = 0; k < length; k++) if (this.bytes[at + k] !== this.bytes[start + k]) return false;
    return true;
  }
}

function grown<T extends Uint8Array | Uint32Array>(array: T, atLeast: number): T {
  const bigger = new (array.constructor as new (length: number) => T)(Math.max(atLeast, 2 * array.length));
  bigger.set(array);
  return bigger;
}
