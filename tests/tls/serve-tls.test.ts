import { describe, expect, test } from "bun:test";
import * as fs from "node:fs/promises";
import { PROTOCOL_VERSION } from "../../src/protocol/messages.ts";
import { createIdentity } from "../../src/server/identity.ts";
import { RawConnection } from "../helpers/raw-client.ts";
import { dropsimCommand, ServerProcess } from "../helpers/spawn-dropsim.ts";
import { tempDir } from "../helpers/temp-dir.ts";

// `dropsim serve` over TLS as a process: the fingerprint it prints is the certificate it shows,
// to our clients and to openssl; an older, plaintext client is told why it cannot sync.

const FINGERPRINT_LINE = /Fingerprint: (SHA256:[0-9a-f]{64})/;
const OPENSSL = Bun.which("openssl");
if (!OPENSSL) console.warn("tests/tls: the openssl checks are skipped: no openssl on PATH (.ci/run installs it)");

async function tlsServer(root: { join(...p: string[]): string }, extraArgs: string[] = []) {
  const server = await new ServerProcess({ dataDir: root.join("data"), store: "dir", name: "tls-server", extraArgs }).launch();
  const fingerprint = (await server.waitForLine(FINGERPRINT_LINE))[1]!;
  return { server, fingerprint };
}

async function run(cmd: string[], stdin = ""): Promise<{ code: number; out: string; err: string }> {
  const proc = Bun.spawn(cmd, { stdin: new TextEncoder().encode(stdin), stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code, out, err };
}

test("serve prints the fingerprint of the certificate it shows, keeps it across restarts, and answers hello over TLS", async () => {
  await using root = await tempDir("dropsim-tls-");
  const { server, fingerprint } = await tlsServer(root);
  await using _ = server;
  await using conn = await RawConnection.open("127.0.0.1", server.port, { tls: true });
  expect(conn.fingerprint).toBe(fingerprint);
  const welcome = await conn.request({ type: "hello", id: 1, protocol: PROTOCOL_VERSION, clientId: "tls-raw", token: server.token });
  expect(welcome).toMatchObject({ type: "welcome", id: 1 });
  conn.close();
  await server.restart();
  expect((await server.waitForLine(FINGERPRINT_LINE))[1]).toBe(fingerprint);
  expect((await fs.stat(root.join("data", "tls", "key.pem"))).mode & 0o777).toBe(0o600);
});

test("a plaintext client reaching a TLS server reads a tls_required error in its own framing, then the close", async () => {
  await using root = await tempDir("dropsim-tls-");
  const { server } = await tlsServer(root);
  await using _ = server;
  await using conn = await RawConnection.open("127.0.0.1", server.port, { tls: false });
  conn.sendJson({ type: "hello", id: 1, protocol: 1, clientId: "old-client" });
  const frame = await conn.nextFrame();
  expect(frame.json).toEqual({
    type: "error",
    code: "tls_required",
    message: "This dropsim server speaks only TLS: upgrade this client and join with a token (dropsim sync DIR --join LINK)",
  });
  await conn.waitClosed();
});

test("serve --tls-cert --tls-key shows that certificate", async () => {
  await using root = await tempDir("dropsim-tls-");
  const id = await createIdentity();
  await fs.writeFile(root.join("cert.pem"), id.cert);
  await fs.writeFile(root.join("key.pem"), id.key);
  const { server, fingerprint } = await tlsServer(root, ["--tls-cert", root.join("cert.pem"), "--tls-key", root.join("key.pem")]);
  await using _ = server;
  expect(fingerprint).toBe(id.fingerprint);
  await using conn = await RawConnection.open("127.0.0.1", server.port, { tls: true });
  expect(conn.fingerprint).toBe(id.fingerprint);
});

test("serve --insecure off loopback is refused in one line", async () => {
  await using root = await tempDir("dropsim-tls-");
  const { code, out, err } = await run(dropsimCommand(["serve", "--insecure", "--host", "0.0.0.0", "--port", "0", "--data", root.join("data")]));
  expect(code).toBe(2);
  expect(`${out}${err}`.trim().split("\n")).toEqual([expect.stringContaining("Cannot serve plain TCP on 0.0.0.0: --insecure is allowed only on a loopback address")]);
});

describe.skipIf(!OPENSSL)("openssl s_client", () => {
  test("sees TLS 1.3 and the printed fingerprint, and a TLS 1.2-only handshake fails", async () => {
    await using root = await tempDir("dropsim-tls-");
    const { server, fingerprint } = await tlsServer(root);
    await using _ = server;
    const at = `127.0.0.1:${server.port}`;
    const tls13 = await run([OPENSSL!, "s_client", "-connect", at, "-showcerts"]);
    expect(tls13.out).toMatch(/New, TLSv1\.3, Cipher is TLS_/);
    const pem = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n/.exec(tls13.out)![0];
    const x509 = await run([OPENSSL!, "x509", "-noout", "-fingerprint", "-sha256"], pem);
    const shown = /=([0-9A-F:]+)/.exec(x509.out)![1]!.replaceAll(":", "").toLowerCase();
    expect(`SHA256:${shown}`).toBe(fingerprint);
    const tls12 = await run([OPENSSL!, "s_client", "-connect", at, "-tls1_2"]);
    expect(tls12.code).not.toBe(0);
    expect(tls12.out).not.toMatch(/New, TLSv1\.2/);
  });
});
