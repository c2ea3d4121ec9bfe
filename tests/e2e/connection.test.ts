import { afterAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import * as net from "node:net";
import { runDropsim } from "../helpers/run-dropsim.ts";
import { ANY_TOKEN, DropsimProcess, dumpLogsOnFailure, startServer } from "../helpers/spawn-dropsim.ts";
import { tempDir, type TempDir } from "../helpers/temp-dir.ts";
import { waitFor } from "../helpers/wait-for.ts";

// What a real client says about connection trouble: a closed port, a peer that is not a dropsim
// server (SSH, HTTP, silent), a lost and regained server. One line for each, never a stack.

setDefaultTimeout(60_000);
const dirs: TempDir[] = [];
afterAll(async () => {
  for (const d of dirs) await d.remove();
});

async function folder(): Promise<string> {
  const d = await tempDir();
  dirs.push(d);
  return d.join("sync");
}

async function client(server: string, opts: { insecure: boolean; env?: Record<string, string>; dir?: string }): Promise<DropsimProcess> {
  const args = ["sync", opts.dir ?? (await folder()), "--server", server, "--token", ANY_TOKEN, "--verbose", ...(opts.insecure ? ["--insecure"] : [])];
  const p = new DropsimProcess(args, { name: "client", env: opts.env });
  p.start();
  return p;
}

function printed(p: DropsimProcess, re: RegExp): string[] {
  return p.logs().split("\n").filter((l) => re.test(l));
}

/** A free port nothing listens on. */
async function closedPort(): Promise<number> {
  const s = net.createServer().listen(0, "127.0.0.1");
  await new Promise((r) => s.once("listening", r));
  const { port } = s.address() as net.AddressInfo;
  await new Promise((r) => s.close(r));
  return port;
}

/** A TCP server that writes `greeting` to each connection as soon as it opens (SSH speaks first). */
function speaking(greeting: string) {
  return Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { open: (s) => void s.write(greeting), data() {} } });
}

test(
  "a closed port: one warning naming the cause and the cadence, then attempts at debug level, never a stack",
  dumpLogsOnFailure(async () => {
    const port = await closedPort();
    await using c = await client(`127.0.0.1:${port}`, { insecure: true });
    const warning = `cannot reach 127.0.0.1:${port}: connection refused (is "dropsim serve" running there?) — retrying every 4 s`;
    await c.waitForLine(new RegExp(warning.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")));
    await waitFor("three attempts at debug level", () => printed(c, /connection refused.*; retrying in/).length >= 3 || c.logs(10));
    expect(printed(c, /— retrying every/)).toHaveLength(1);
    expect(printed(c, /WARN|warn/).filter((l) => l.includes("cannot reach"))).toHaveLength(1);
    expect(c.logs()).not.toMatch(/\n\s+at /);
  }),
);

describe.each([
  ["TLS", false],
  ["--insecure", true],
])("over %s", (_name, insecure) => {
  test(
    "an SSH server is named for its banner",
    dumpLogsOnFailure(async () => {
      using ssh = speaking("SSH-2.0-OpenSSH_9.6\r\n");
      await using c = await client(`127.0.0.1:${ssh.port}`, { insecure });
      await c.waitForLine(new RegExp(`127\\.0\\.0\\.1:${ssh.port} is not a dropsim server: it sent "SSH-2\\.0-OpenSSH_9\\.6" \\(check the address and port\\) — retrying every 4 s`));
      await waitFor("a second attempt", () => printed(c, /is not a dropsim server.*; retrying in/).length >= 1 || c.logs(10));
      expect(printed(c, /— retrying every/)).toHaveLength(1);
      expect(printed(c, /WARN|ERROR/)).toHaveLength(1);
    }),
  );

  test(
    "a one-shot command (history) says the same one line, and exits 4",
    dumpLogsOnFailure(async () => {
      using ssh = speaking("SSH-2.0-OpenSSH_9.6\r\n");
      const dir = await folder();
      // The folder joins (its credentials are saved) as the client starts.
      const c = await client(`127.0.0.1:${ssh.port}`, { insecure, dir });
      await c.waitForLine(/is not a dropsim server/);
      await c.stop();
      const r = await runDropsim(["history", dir]);
      expect(r.code).toBe(4);
      expect(r.output.split("\n")).toHaveLength(1);
      expect(r.output).toEndWith(`127.0.0.1:${ssh.port} is not a dropsim server: it sent "SSH-2.0-OpenSSH_9.6" (check the address and port)`);
    }),
  );

  test(
    "an HTTP server is named for its reply",
    dumpLogsOnFailure(async () => {
      using http = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("a web page") });
      await using c = await client(`127.0.0.1:${http.port}`, { insecure });
      await c.waitForLine(new RegExp(`127\\.0\\.0\\.1:${http.port} is not a dropsim server: it sent "HTTP/1\\.1 400 Bad Request"`));
    }),
  );

  test(
    "a server that accepts and says nothing fails at the handshake deadline (DROPSIM_HANDSHAKE_TIMEOUT)",
    dumpLogsOnFailure(async () => {
      using silent = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
      await using c = await client(`127.0.0.1:${silent.port}`, { insecure, env: { DROPSIM_HANDSHAKE_TIMEOUT: "500ms" } });
      await c.waitForLine(new RegExp(`127\\.0\\.0\\.1:${silent.port} (accepted the connection but )?did not answer within 0\\.5 s`));
    }),
  );
});

test(
  "a lost server is one warning, and coming back one line saying how long it was offline",
  dumpLogsOnFailure(async () => {
    const data = await tempDir();
    dirs.push(data);
    await using server = await startServer({ dataDir: data.join("data"), extraArgs: ["--insecure"] });
    const args = ["sync", await folder(), "--server", server.address, "--token", server.token, "--insecure", "--verbose"];
    await using c = new DropsimProcess(args, { name: "client" });
    c.start();
    await c.waitForLine(/Connected to 127\.0\.0\.1/);
    await server.stop();
    await c.waitForLine(/Lost connection to 127\.0\.0\.1/);
    await waitFor("two failed attempts", () => printed(c, /connection refused.*; retrying in/).length >= 2 || c.logs(10));
    await server.launch();
    await c.waitForLine(/Reconnected to 127\.0\.0\.1:\d+ after [\d.]+ s offline/);
    expect(printed(c, /Lost connection/)).toHaveLength(1);
    expect(printed(c, /— retrying every/)).toHaveLength(0);
  }),
);
