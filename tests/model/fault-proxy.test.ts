import { expect, test } from "bun:test";
import * as net from "node:net";
import { concatBytes } from "../helpers/bytes.ts";
import { FaultProxy, type FaultProxyOptions } from "../helpers/fault-proxy.ts";
import { waitFor } from "../helpers/wait-for.ts";

// The fault proxy the convergence test runs through (tests/helpers/fault-proxy.ts), against a
// plain TCP server: what it forwards, where it cuts, how it delays.

/** A TCP server that keeps what each connection sent and, if `echo`, sends it back. */
class Target implements AsyncDisposable {
  readonly received: Uint8Array[][] = [];
  readonly closed: boolean[] = [];
  private readonly sockets = new Set<net.Socket>();

  private constructor(private readonly server: net.Server) {}

  static async start(echo: boolean): Promise<Target> {
    const server = net.createServer({ allowHalfOpen: true });
    const target = new Target(server);
    server.on("connection", (socket) => {
      const n = target.received.push([]) - 1;
      target.closed.push(false);
      target.sockets.add(socket);
      socket.on("data", (d: Uint8Array) => {
        target.received[n]!.push(new Uint8Array(d));
        if (echo) socket.write(d);
      });
      socket.on("end", () => socket.end());
      socket.on("error", () => {});
      socket.on("close", () => {
        target.closed[n] = true;
        target.sockets.delete(socket);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    return target;
  }

  get address(): string {
    return `127.0.0.1:${(this.server.address() as net.AddressInfo).port}`;
  }

  bytes(n: number): Uint8Array {
    return concatBytes(this.received[n] ?? []);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** A client connection through `proxy` that records what comes back and how it ended. */
class Probe {
  readonly received: Uint8Array[] = [];
  ended = false;
  closed = false;

  private constructor(readonly socket: net.Socket) {
    socket.on("data", (d: Uint8Array) => this.received.push(new Uint8Array(d)));
    socket.on("end", () => {
      this.ended = true;
    });
    // Writing into a cut connection fails with EPIPE or ECONNRESET: that is the point.
    socket.on("error", () => {});
    socket.on("close", () => {
      this.closed = true;
    });
  }

  static async open(proxy: FaultProxy): Promise<Probe> {
    const socket = net.connect({ host: "127.0.0.1", port: proxy.port, allowHalfOpen: true });
    await new Promise<void>((resolve, reject) => {
      socket.once("connect", resolve);
      socket.once("error", reject);
    });
    return new Probe(socket);
  }

  get bytes(): Uint8Array {
    return concatBytes(this.received);
  }

  /** The proxy ended or closed the connection (with allowHalfOpen an end leaves it half open). */
  get cutOff(): boolean {
    return this.ended || this.closed;
  }

  /** Writes `data` in pieces of `piece` bytes, each once the socket has taken the previous one, until it closes. */
  async send(data: Uint8Array, piece: number): Promise<void> {
    // A write into a socket that is closing may never call back.
    const closed = new Promise<void>((resolve) => (this.closed ? resolve() : this.socket.once("close", () => resolve())));
    for (let o = 0; o < data.length && !this.closed; o += piece) {
      await Promise.race([new Promise<void>((resolve) => this.socket.write(data.subarray(o, o + piece), () => resolve())), closed]);
    }
  }
}

function randomBytes(n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let o = 0; o < n; o += 65536) crypto.getRandomValues(out.subarray(o, Math.min(n, o + 65536)));
  return out;
}

async function proxyTo(target: Target, opts: Omit<FaultProxyOptions, "target">): Promise<FaultProxy> {
  return FaultProxy.start({ target: target.address, ...opts });
}

test("bytes pass through intact both ways when no faults are configured", async () => {
  await using target = await Target.start(true);
  await using proxy = await proxyTo(target, { seed: 1 });
  const probe = await Probe.open(proxy);
  const data = randomBytes(3 * 1024 * 1024);
  await probe.send(data, 100_000);
  probe.socket.end();
  await waitFor("the echo to end", () => probe.ended || `${probe.bytes.length} of ${data.length} bytes back`);
  expect(target.bytes(0)).toEqual(data);
  expect(probe.bytes).toEqual(data);
  expect(proxy.counters).toEqual({ connections: 1, cuts: 0, stalls: 0, bytes: 2 * data.length });
});

test("latency, jitter and stalls delay bytes but never reorder or change them", async () => {
  await using target = await Target.start(true);
  await using proxy = await proxyTo(target, { seed: 7, latencyMs: 5, jitterMs: 20, stallChance: 0.05, stallMaxMs: 200 });
  const probe = await Probe.open(proxy);
  const data = randomBytes(1024 * 1024);
  await probe.send(data, 10_000);
  probe.socket.end();
  await waitFor("the echo to end", () => probe.ended || `${probe.bytes.length} of ${data.length} bytes back`, { timeout: 30_000 });
  expect(probe.bytes).toEqual(data);
  expect(proxy.counters.stalls).toBeGreaterThan(0);
});

test("latency delays every byte in each direction", async () => {
  await using target = await Target.start(true);
  await using proxy = await proxyTo(target, { seed: 1, latencyMs: 150 });
  const probe = await Probe.open(proxy);
  const started = performance.now();
  probe.socket.write("ping");
  await waitFor("the ping to come back", () => probe.bytes.length === 4 || "not yet");
  // Once on the way there, once on the way back.
  expect(performance.now() - started).toBeGreaterThanOrEqual(300);
});

test("a cut closes both sides, after delivering an exact prefix of what was sent", async () => {
  await using target = await Target.start(false);
  await using proxy = await proxyTo(target, { seed: 42, cutEveryBytes: 20_000 });
  const probe = await Probe.open(proxy);
  const data = randomBytes(1024 * 1024);
  await probe.send(data, 1000);
  await waitFor("both sides to be closed", () => (probe.cutOff && target.closed[0]) || `client side cut off: ${probe.cutOff}, server side closed: ${target.closed[0]}`);
  const got = target.bytes(0);
  expect(proxy.counters.cuts).toBe(1);
  expect(got.length).toBeGreaterThan(0);
  expect(got.length).toBeLessThan(data.length);
  expect(got).toEqual(data.subarray(0, got.length));
  expect(proxy.open).toBe(0);
});

test("the same seed cuts at the same byte whatever the write sizes, mid-write included", async () => {
  const cutAt = async (seed: number, piece: number): Promise<number> => {
    await using target = await Target.start(false);
    await using proxy = await proxyTo(target, { seed, cutEveryBytes: 50_000 });
    const probe = await Probe.open(proxy);
    await probe.send(randomBytes(2 * 1024 * 1024), piece);
    await waitFor("the server side to be closed", () => target.closed[0] || "still open");
    return target.bytes(0).length;
  };
  const a = await cutAt(3, 1000);
  expect(await cutAt(3, 777)).toBe(a);
  // Not on a write boundary: a cut falls inside frames too.
  expect(a % 1000).not.toBe(0);
  expect(await cutAt(4, 1000)).not.toBe(a);
});

test("every connection draws its own cut point, and later connections still pass", async () => {
  await using target = await Target.start(false);
  await using proxy = await proxyTo(target, { seed: 5, cutEveryBytes: 30_000 });
  for (let i = 0; i < 3; i++) {
    const probe = await Probe.open(proxy);
    await probe.send(randomBytes(1024 * 1024), 4096);
    await waitFor(`connection ${i} to be cut`, () => target.closed[i] || "still open");
  }
  const lengths = [0, 1, 2].map((i) => target.bytes(i).length);
  expect(new Set(lengths).size).toBe(3);
  expect(proxy.counters).toMatchObject({ connections: 3, cuts: 3 });
});

test("a chunk cut by chance delivers only part of itself, then closes both sides", async () => {
  await using target = await Target.start(false);
  await using proxy = await proxyTo(target, { seed: 9, cutChance: 1 });
  const probe = await Probe.open(proxy);
  const data = randomBytes(100_000);
  await probe.send(data, 100_000);
  await waitFor("both sides to be closed", () => (probe.cutOff && target.closed[0]) || `client side cut off: ${probe.cutOff}, server side closed: ${target.closed[0]}`);
  const got = target.bytes(0);
  expect(got.length).toBeLessThan(data.length);
  expect(got).toEqual(data.subarray(0, got.length));
  expect(proxy.counters.cuts).toBe(1);
});
