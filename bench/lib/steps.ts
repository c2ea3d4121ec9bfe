/**
 * The CPU each step of W2 costs on its own, in Bun on this machine, per GiB: what no sync over
 * TLS through a server can skip. Run as a child (`bun bench/lib/steps.ts BYTES DIR`, JSON on
 * stdout) so that each figure is that process's own CPU and nothing of the bench's; with a
 * third argument, one of PROBES, it runs that step alone (`bun bench/lib/steps.ts BYTES DIR sha`).
 */
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { chunkParamsFor, cutChunks } from "../../src/core/chunker.ts";
import { createIdentity } from "../../src/server/identity.ts";

export interface Steps {
  /** SHA-256 of 32 KiB blocks, as each of the three processes hashes them. */
  sha: number;
  /** FastCDC with the parameters of W2's 512 MiB file. */
  cdc: number;
  /** One loopback hop over plain TCP, sender and receiver together. */
  tcp: number;
  /** What TLS adds to that hop: encrypting and decrypting. */
  tls: number;
  /** Writing into the page cache in 1 MiB calls, as the server's packs and B's file are. */
  write: number;
}

/** W2's block size for its 512 MiB file: 32 KiB. */
const BLOCK = chunkParamsFor(512 * 1024 * 1024).avg;
const GiB = 1024 ** 3;
const MiB = 1024 ** 2;

/** CPU seconds (user + system, every thread) of `fn`, per GiB of `bytes`. */
async function perGiB(bytes: number, fn: () => unknown): Promise<number> {
  const before = process.cpuUsage();
  await fn();
  const used = process.cpuUsage(before);
  return ((used.user + used.system) / 1e6) * (GiB / bytes);
}

/** Sends `data` from a client to a listener on 127.0.0.1 (TLS with `tls`); resolves once all arrived. */
async function hop(data: Uint8Array, tls?: { cert: string; key: string }): Promise<void> {
  const { promise, resolve } = Promise.withResolvers<void>();
  let got = 0;
  const server = Bun.listen({
    hostname: "127.0.0.1",
    port: 0,
    ...(tls ? { tls } : {}),
    socket: {
      binaryType: "uint8array",
      data(_s, d) {
        got += d.length;
        if (got >= data.length) resolve();
      },
    },
  });
  let sent = 0;
  const pump = (s: { write(d: Uint8Array): number }) => {
    while (sent < data.length) {
      const n = s.write(data.subarray(sent, Math.min(data.length, sent + MiB)));
      sent += n;
      if (n === 0) return;
    }
  };
  const client = await Bun.connect({
    hostname: "127.0.0.1",
    port: server.port,
    ...(tls ? { tls: { rejectUnauthorized: false } } : {}),
    socket: { data() {}, open: tls ? undefined : pump, handshake: tls ? pump : undefined, drain: pump },
  });
  await promise;
  client.end();
  server.stop(true);
}

function hashBlocks(data: Uint8Array): void {
  for (let o = 0; o < data.length; o += BLOCK) createHash("sha256").update(data.subarray(o, o + BLOCK)).digest("hex");
}

export async function measureSteps(bytes: number, dir: string): Promise<Steps> {
  const data = new Uint8Array(bytes);
  for (let i = 0; i < bytes; i += 65536) crypto.getRandomValues(data.subarray(i, Math.min(bytes, i + 65536)));
  const params = chunkParamsFor(512 * MiB);
  const identity = await createIdentity();
  // Once each first: the JIT and the TLS library warm up outside the figures.
  const warm = data.subarray(0, Math.min(bytes, 8 * MiB));
  createHash("sha256").update(warm).digest();
  cutChunks(warm, 0, warm.length, params, true, () => {});
  await hop(warm);
  await hop(warm, identity);
  const sha = await perGiB(bytes, () => hashBlocks(data));
  const cdc = await perGiB(bytes, () => cutChunks(data, 0, bytes, params, true, () => {}));
  const tcp = await perGiB(bytes, () => hop(data));
  const tlsHop = await perGiB(bytes, () => hop(data, identity));
  const file = path.join(dir, `steps-${process.pid}.bin`);
  const write = await perGiB(bytes, () => {
    const fd = fs.openSync(file, "w");
    try {
      for (let o = 0; o < bytes; o += MiB) fs.writeSync(fd, data, o, Math.min(MiB, bytes - o), o);
    } finally {
      fs.closeSync(fd);
      fs.rmSync(file);
    }
  });
  return { sha, cdc, tcp, tls: Math.max(0, tlsHop - tcp), write };
}

/**
 * The floor of W2 per GiB from its steps and `read` (one read through the page cache, from
 * `measureFloor`): three hashing passes, the sender's cut, two TLS hops (A to the server, the
 * server to B), two writes (the server's pack, B's file) and two reads (A's file, the pack).
 */
export function w2Floor(s: Steps, read: number): number {
  return 3 * s.sha + s.cdc + 2 * (s.tcp + s.tls) + 2 * s.write + 2 * read;
}

/** The steps bench/cpu-split.ts samples alone to find Bun's hashing and encrypting code. */
export const PROBES = ["sha", "tcp", "tls"] as const;
export type Probe = (typeof PROBES)[number];

/**
 * One step alone over `bytes`, and nothing else worth sampling: the bytes are not random, as
 * making them so runs AES in Bun's random generator, which would pass for the step's own code.
 */
async function runProbe(probe: Probe, bytes: number): Promise<void> {
  const data = new Uint8Array(bytes).fill(0x5a);
  if (probe === "sha") return hashBlocks(data);
  await hop(data, probe === "tls" ? await createIdentity() : undefined);
}

if (import.meta.main) {
  const [bytes, dir, probe] = process.argv.slice(2);
  if (probe !== undefined && !(PROBES as readonly string[]).includes(probe)) throw new Error(`Unknown step "${probe}": the steps run alone are ${PROBES.join(", ")}`);
  if (probe) await runProbe(probe as Probe, Number(bytes));
  else console.log(JSON.stringify(await measureSteps(Number(bytes), dir!)));
}
