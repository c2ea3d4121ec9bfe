import * as net from "node:net";
import { prng } from "../crash/_lib.ts";

/**
 * A TCP proxy for fault injection: clients connect to it on 127.0.0.1 (port 0), it forwards to
 * the target, and on the way it adds latency, stalls (holds every byte of a connection, both
 * ways, for a while, the socket staying open) and cuts connections after a random number of
 * bytes, so a cut can fall anywhere, inside a frame's length prefix or its body included.
 *
 * Every choice comes from a PRNG seeded by `seed` and the connection's number, so the same
 * seed makes the same choices: the byte a connection is cut at by `cutEveryBytes` depends only
 * on that; a `cutChance` cut, a stall or a delay also on which chunk it falls (chunk boundaries
 * are the OS's; with real processes a replay is as close as their timing allows).
 *
 * Node's `node:net` (not Bun.listen) so that it runs under Bun and Deno alike; it is test code.
 */
export interface FaultProxyOptions {
  /** `host:port` to forward to. */
  target: string;
  seed: number;
  /** Added to every chunk in both directions; bytes never overtake each other. Default 0. */
  latencyMs?: number;
  /** Up to this much more per chunk, at random. Default 0. */
  jitterMs?: number;
  /**
   * Mean number of bytes (both directions together) a connection carries before it is cut.
   * Exponentially distributed, so short and long connections both occur. Default: never cut.
   */
  cutEveryBytes?: number;
  /**
   * Chance, for each chunk received, that the connection is cut inside it, after a random number
   * of its bytes: cuts at random moments, so small control traffic meets them too, while a long
   * transfer still gets through now and then. Default 0.
   */
  cutChance?: number;
  /** Chance, for each chunk received, that the connection stalls. Default 0. */
  stallChance?: number;
  /** A stall lasts a random time up to this. Default 1000. */
  stallMaxMs?: number;
}

/** What the proxy did so far. */
export interface FaultCounters {
  connections: number;
  cuts: number;
  stalls: number;
  /** Bytes forwarded, both directions. */
  bytes: number;
}

/** Bytes waiting in one direction beyond which the sender is paused (backpressure). */
const HIGH_WATER = 1024 * 1024;

export class FaultProxy implements AsyncDisposable {
  readonly counters: FaultCounters = { connections: 0, cuts: 0, stalls: 0, bytes: 0 };
  private readonly links = new Set<Link>();
  /** Shared with every link: while `held`, nothing is forwarded either way (see `blackhole`). */
  private readonly gate: Gate = { held: false };

  private constructor(
    private readonly server: net.Server,
    readonly options: FaultProxyOptions,
  ) {}

  static async start(options: FaultProxyOptions): Promise<FaultProxy> {
    const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true });
    const proxy = new FaultProxy(server, options);
    server.on("connection", (socket) => proxy.accept(socket));
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(0, "127.0.0.1", () => resolve());
    });
    return proxy;
  }

  get port(): number {
    return (this.server.address() as net.AddressInfo).port;
  }

  /** `host:port` for clients, as `dropsim sync --server` wants it. */
  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** Connections open right now. */
  get open(): number {
    return this.links.size;
  }

  /**
   * A network gone silent (a laptop asleep, a changed network, a NAT that forgot the
   * connection): from now on every connection, open or new, keeps its sockets open and its
   * bytes held, both ways, with no FIN or RST, until `restore`.
   */
  blackhole(): void {
    this.gate.held = true;
  }

  /** The network is back: what was held flows on, in order, and new bytes flow again. */
  restore(): void {
    this.gate.held = false;
    for (const link of this.links) link.release();
  }

  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const link of this.links) link.destroy();
    await closed;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  private accept(client: net.Socket): void {
    const n = ++this.counters.connections;
    const { host, port } = splitAddress(this.options.target);
    const upstream = net.connect({ host, port, allowHalfOpen: true });
    // Mixing the connection number in keeps each connection's choices independent of how much
    // randomness earlier connections used up.
    const rnd = prng((this.options.seed ^ Math.imul(n, 0x9e3779b1)) >>> 0);
    const link = new Link(client, upstream, rnd, this.options, this.counters, this.gate, () => this.links.delete(link));
    this.links.add(link);
    // Listening for data starts the flow; the client waits until there is somewhere to send it.
    client.pause();
    upstream.once("connect", () => client.resume());
  }
}

function splitAddress(address: string): { host: string; port: number } {
  const i = address.lastIndexOf(":");
  const port = Number(address.slice(i + 1));
  if (i < 0 || !Number.isInteger(port)) throw new Error(`Cannot proxy to "${address}": expected host:port`);
  return { host: address.slice(0, i), port };
}

interface Gate {
  held: boolean;
}

interface Chunk {
  bytes: Uint8Array;
  /** When it may be written (ms, performance.now()). */
  at: number;
  /** The connection is cut right after this chunk. */
  cut: boolean;
}

/** One direction of a link: what `from` sent, waiting for its time to be written to `to`. */
class Lane {
  readonly queue: Chunk[] = [];
  queued = 0;
  lastAt = 0;
  ended = false;
  timer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    readonly from: net.Socket,
    readonly to: net.Socket,
  ) {}
}

/** A client connection and its upstream twin. */
class Link {
  private readonly lanes: Lane[];
  /** Bytes left before the cut (Infinity: never). */
  private budget: number;
  private stalledUntil = 0;
  private cutting = false;
  private done = false;

  constructor(
    client: net.Socket,
    upstream: net.Socket,
    private readonly rnd: () => number,
    private readonly opts: FaultProxyOptions,
    private readonly counters: FaultCounters,
    private readonly gate: Gate,
    private readonly onGone: () => void,
  ) {
    const mean = opts.cutEveryBytes;
    this.budget = mean ? Math.max(1, Math.ceil(-Math.log(1 - rnd()) * mean)) : Number.POSITIVE_INFINITY;
    this.lanes = [new Lane(client, upstream), new Lane(upstream, client)];
    for (const lane of this.lanes) {
      lane.from.on("data", (data: Uint8Array) => this.receive(lane, data));
      lane.from.on("end", () => {
        lane.ended = true;
        this.flush(lane);
      });
      lane.to.on("drain", () => this.resumeIfRoom(lane));
      // An abrupt close (reset, refused, killed peer) is passed on abruptly: nothing more is
      // delivered either way, as after a real network failure.
      lane.from.on("error", () => this.destroy());
      lane.from.on("close", () => {
        if (this.lanes.every((l) => l.from.destroyed)) this.destroy();
      });
    }
  }

  destroy(): void {
    if (this.done) return;
    this.done = true;
    for (const lane of this.lanes) {
      clearTimeout(lane.timer);
      lane.from.destroy();
    }
    this.onGone();
  }

  /** Forwards what the gate held. */
  release(): void {
    for (const lane of this.lanes) this.flush(lane);
  }

  private receive(lane: Lane, data: Uint8Array): void {
    if (this.cutting || this.done) return;
    const now = performance.now();
    const { stallChance = 0, stallMaxMs = 1000, latencyMs = 0, jitterMs = 0, cutChance = 0 } = this.opts;
    if (cutChance > 0 && this.rnd() < cutChance) this.budget = Math.min(this.budget, Math.floor(this.rnd() * data.length));
    if (stallChance > 0 && this.rnd() < stallChance) {
      this.counters.stalls++;
      this.stalledUntil = Math.max(this.stalledUntil, now + this.rnd() * stallMaxMs);
    }
    let bytes = data;
    const cut = bytes.length >= this.budget;
    if (cut) {
      bytes = bytes.subarray(0, this.budget);
      this.cutting = true;
      for (const l of this.lanes) l.from.pause();
    }
    this.budget -= bytes.length;
    const at = Math.max(lane.lastAt, now + latencyMs + (jitterMs > 0 ? this.rnd() * jitterMs : 0));
    lane.lastAt = at;
    lane.queue.push({ bytes, at, cut });
    lane.queued += bytes.length;
    if (lane.queued > HIGH_WATER) lane.from.pause();
    this.flush(lane);
  }

  private flush(lane: Lane): void {
    clearTimeout(lane.timer);
    lane.timer = undefined;
    // `release` flushes again when the gate opens.
    if (this.done || this.gate.held) return;
    while (lane.queue.length > 0) {
      const next = lane.queue[0]!;
      const due = Math.max(next.at, this.stalledUntil) - performance.now();
      if (due > 0) {
        lane.timer = setTimeout(() => this.flush(lane), due);
        return;
      }
      lane.queue.shift();
      lane.queued -= next.bytes.length;
      this.counters.bytes += next.bytes.length;
      if (next.cut) return this.cut(lane, next.bytes);
      lane.to.write(next.bytes);
    }
    if (lane.ended && !this.cutting) lane.to.end();
    this.resumeIfRoom(lane);
  }

  /** Delivers the bytes before the cut point, then closes both sides. */
  private cut(lane: Lane, last: Uint8Array): void {
    this.counters.cuts++;
    const to = lane.to;
    // end() rather than destroy(): destroy would drop what is still buffered, the last bytes
    // before the cut included, and the cut would not fall where the seed put it.
    to.end(last, () => to.destroy());
    lane.from.destroy();
    this.done = true;
    for (const l of this.lanes) clearTimeout(l.timer);
    this.onGone();
  }

  private resumeIfRoom(lane: Lane): void {
    if (this.cutting || this.done || lane.ended) return;
    if (lane.queued <= HIGH_WATER && !lane.to.writableNeedDrain) lane.from.resume();
  }
}
