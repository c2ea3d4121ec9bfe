import { describe, expect, setDefaultTimeout, test } from "bun:test";
import * as path from "node:path";
import { PROTOCOL_VERSION } from "../../src/protocol/messages.ts";
import { RawConnection } from "../helpers/raw-client.ts";
import { REPO_ROOT, ServerProcess } from "../helpers/spawn-dropsim.ts";
import { tempDir } from "../helpers/temp-dir.ts";

// Bun's TLS (BoringSSL through Bun's sockets) and Deno's (node:tls over rustls) meet: a Deno
// server and a Bun client, a Bun server and a Deno client, each checking the fingerprint the
// server printed; and an older plaintext client of a Deno server is told TLS is required.
setDefaultTimeout(60_000);

const DENO = [path.join(REPO_ROOT, "node_modules", ".bin", "deno"), Bun.which("deno")].find((p) => p && Bun.spawnSync(["test", "-x", p]).exitCode === 0);
if (!DENO) console.warn("tests/deno: TLS interop skipped: no deno executable");
const LAUNCHER = path.join(import.meta.dir, "dropsim-deno");
const FIXTURE = path.join(import.meta.dir, "tls-client-fixture.ts");
const FINGERPRINT_LINE = /Fingerprint: (SHA256:[0-9a-f]{64})/;

/** A `serve` (TLS by default) under `runtime`; the spawn helper reads DROPSIM_BIN as the process starts. */
async function serveTls(runtime: "bun" | "deno", dataDir: string): Promise<{ server: ServerProcess; fingerprint: string }> {
  const saved = process.env.DROPSIM_BIN;
  if (runtime === "deno") process.env.DROPSIM_BIN = LAUNCHER;
  else delete process.env.DROPSIM_BIN;
  let launching: Promise<ServerProcess>;
  try {
    launching = new ServerProcess({ dataDir, store: "dir", name: `srv-${runtime}`,  }).launch();
  } finally {
    if (saved === undefined) delete process.env.DROPSIM_BIN;
    else process.env.DROPSIM_BIN = saved;
  }
  const server = await launching;
  return { server, fingerprint: (await server.waitForLine(FINGERPRINT_LINE))[1]! };
}

async function denoHello(port: number, token: string): Promise<{ runtime: string; fingerprint: string; reply: Record<string, unknown> }> {
  const proc = Bun.spawn([DENO!, "run", "-A", FIXTURE, String(port), token], { stdout: "pipe", stderr: "pipe", stdin: "ignore" });
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  if (code !== 0) throw new Error(`The Deno TLS client failed (${code}): ${err}`);
  return JSON.parse(out);
}

describe.skipIf(!DENO)("Bun and Deno over TLS", () => {
  test("a Deno server welcomes a Bun client and a Deno client, both seeing the printed fingerprint", async () => {
    await using root = await tempDir("dropsim-deno-tls-");
    const { server, fingerprint } = await serveTls("deno", root.join("data"));
    await using _ = server;
    await using conn = await RawConnection.open("127.0.0.1", server.port, { tls: true });
    expect(conn.fingerprint).toBe(fingerprint);
    expect(await conn.request({ type: "hello", id: 1, protocol: PROTOCOL_VERSION, clientId: "bun-tls", token: server.token })).toMatchObject({ type: "welcome" });
    expect(await denoHello(server.port, server.token)).toMatchObject({ runtime: "deno", fingerprint, reply: { type: "welcome", id: 1 } });
  });

  test("a Bun server welcomes a Deno client, which sees the printed fingerprint", async () => {
    await using root = await tempDir("dropsim-deno-tls-");
    const { server, fingerprint } = await serveTls("bun", root.join("data"));
    await using _ = server;
    expect(await denoHello(server.port, server.token)).toMatchObject({ runtime: "deno", fingerprint, reply: { type: "welcome", id: 1 } });
  });

  test("a Deno TLS server tells a plaintext client that TLS is required", async () => {
    await using root = await tempDir("dropsim-deno-tls-");
    const { server } = await serveTls("deno", root.join("data"));
    await using _ = server;
    await using conn = await RawConnection.open("127.0.0.1", server.port, { tls: false });
    conn.sendJson({ type: "hello", id: 1, protocol: 1, clientId: "old-client" });
    expect((await conn.nextFrame()).json).toMatchObject({ type: "error", code: "tls_required" });
    await conn.waitClosed();
  });
});
