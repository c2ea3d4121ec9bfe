import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import * as fs from "node:fs";
import * as path from "node:path";
import { saveCredentials } from "../../src/client/credentials.ts";
import { STATE_DIR } from "../../src/core/wire-path.ts";
import { syncDir } from "../../src/runtime/sync-dir.ts";
import { ANY_TOKEN, dropsimCommand, type ServerProcess, startServer } from "../helpers/spawn-dropsim.ts";
import { type TempDir, tempDir } from "../helpers/temp-dir.ts";

// Issue 13's table: every expected failure, run as a user would, is exactly one line on stderr,
// no stack trace, and the exit code cli/exit-codes.ts documents.
setDefaultTimeout(60_000);

let scratch: TempDir;
let server: ServerProcess;
/** A TCP port where something that is not dropsim answers, as sshd would. */
let ssh: { port: number; stop(closeActive?: boolean): void };
/** A port where nothing listens. */
let closedPort: number;

beforeAll(async () => {
  scratch = await tempDir("dropsim-errors-");
  server = await startServer({ dataDir: scratch.join("data"), store: "dir", extraArgs: ["--insecure"] });
  ssh = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { open: (s) => void s.write("SSH-2.0-OpenSSH_9.6\r\n"), data() {} } });
  const probe = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  closedPort = probe.port;
  probe.stop(true);
  fs.writeFileSync(scratch.join("a-file"), "not a folder");
});

afterAll(async () => {
  await server?.stop();
  ssh?.stop(true);
  await scratch?.remove();
});

/** A folder that joined a share at `port` with `token` (plain TCP on loopback), as `sync` would have left it. */
async function joinedFolder(name: string, port: number, token: string): Promise<string> {
  const root = scratch.join(name);
  fs.mkdirSync(path.join(root, STATE_DIR), { recursive: true });
  await saveCredentials(path.join(root, STATE_DIR), { server: { host: "127.0.0.1", port }, share: "default", token, insecure: true }, syncDir);
  return root;
}

/** Root can write anywhere a mode allows: a folder under /sys refuses even root. */
function unwritableFolder(): string {
  if (process.getuid?.() === 0) return "/sys/dropsim-cannot-write";
  const dir = scratch.join("read-only");
  fs.mkdirSync(dir, { recursive: true });
  fs.chmodSync(dir, 0o500);
  return path.join(dir, "inside");
}

interface Failure {
  name: string;
  /** The command line; a function when it needs the server or a folder made first. */
  args: () => Promise<string[]> | string[];
  cwd?: () => Promise<string> | string;
  code: number;
  says: RegExp;
}

const failures: Failure[] = [
  { name: "port in use", args: () => ["serve", "--insecure", "--port", String(server.port), "--data", scratch.join("other-data")], code: 1, says: /^Cannot listen on 127\.0\.0\.1:\d+: the address is in use \(another dropsim serve\? try --port 0\)$/ },
  { name: "bad port", args: () => ["serve", "--port", "99999", "--data", scratch.join("other-data")], code: 2, says: /^Invalid port "99999" for --port: expected a number from 0 to 65535$/ },
  { name: "bad duration", args: () => ["sync", scratch.join("folder"), "--server", server.address, "--rescan-interval", "banana"], code: 2, says: /^Invalid duration "banana" for --rescan-interval: expected a duration such as 1h30m, 45s or 500ms, from 1s to 7d$/ },
  { name: "bad duration from the environment", args: () => ["sync", scratch.join("folder")], code: 2, says: /Invalid duration "0" for rescan-interval \(from DROPSIM_RESCAN_INTERVAL\)/ },
  { name: "folder is a file", args: () => ["sync", scratch.join("a-file"), "--server", server.address, "--insecure", "--token", ANY_TOKEN], code: 2, says: /a file is in the way of .*\(choose a folder\)$/ },
  { name: "folder not writable", args: () => ["sync", unwritableFolder(), "--server", server.address, "--insecure", "--token", ANY_TOKEN], code: 2, says: /Cannot write .*\.dropsim: permission denied \(choose a folder you own\)$/ },
  { name: "connection refused", args: () => ["history"], cwd: () => joinedFolder("down", closedPort, ANY_TOKEN), code: 1, says: /connection refused/i },
  { name: "not a dropsim server", args: () => ["history"], cwd: () => joinedFolder("ssh", ssh.port, ANY_TOKEN), code: 4, says: /is not a dropsim server/ },
  { name: "token refused", args: () => ["history"], cwd: () => joinedFolder("refused", server.port, ANY_TOKEN), code: 3, says: /token/i },
  { name: "unknown flag", args: () => ["serve", "--prot", "7071"], code: 2, says: /^Unknown flag --prot \(did you mean --port\?\): see dropsim serve --help$/ },
  { name: "unknown command", args: () => ["sycn", "."], code: 2, says: /^Unknown command "sycn" \(did you mean sync\?\)/ },
  { name: "extra argument", args: () => ["fsck", "data"], code: 2, says: /^Unexpected argument "data": dropsim fsck takes no arguments/ },
  { name: "verbose and quiet", args: () => ["fsck", "-v", "-q"], code: 2, says: /^Cannot be verbose and quiet at once/ },
  { name: "bad server address", args: () => ["sync", scratch.join("folder"), "--server", "host:70000"], code: 2, says: /^Invalid port "70000" for --server/ },
  { name: "data dir locked", args: () => ["serve", "--insecure", "--port", "0", "--data", server.dataDir], code: 1, says: /Cannot serve ".*": it is already served by pid \d+/ },
];

const ENV: Record<string, Record<string, string>> = { "bad duration from the environment": { DROPSIM_RESCAN_INTERVAL: "0" } };

test.each(failures.map((f) => [f.name, f] as const))("%s: one line on stderr, no stack trace, the documented exit code", async (name, f) => {
  const cwd = f.cwd ? await f.cwd() : scratch.path;
  const proc = Bun.spawn(dropsimCommand(await f.args()), {
    cwd,
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
    env: { ...process.env, NO_COLOR: "1", XDG_CONFIG_HOME: scratch.join("no-config"), DROPSIM_DEBUG: "", ...ENV[name] },
  });
  const timer = setTimeout(() => proc.kill("SIGKILL"), 30_000);
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  clearTimeout(timer);
  const lines = stderr.split("\n").filter((l) => l.trim() !== "");
  const shown = `exit ${code}, stderr:\n${stderr}stdout:\n${stdout}`;
  expect(lines.length, shown).toBe(1);
  expect(stderr, shown).not.toMatch(/^\s+at /m);
  // The line may carry the log's timestamp and tag before the message.
  expect(lines[0]!.replace(/^\S+ (ERROR|WARN) (\[\w+\] )?/, ""), shown).toMatch(f.says);
  expect(code, shown).toBe(f.code);
});

const FIXTURE = path.join(import.meta.dir, "boundary-fixture.ts");

test.each([
  ["refusal", "", 3, /^The server refused this folder's token$/],
  ["later", "", 2, /^Invalid thing "x"$/],
  ["bug", "", 1, /^dropsim: internal error: .*\(set DROPSIM_DEBUG=1 for details\)$/],
] as const)("the error boundary: %s is one line with its exit code", async (how, debug, code, says) => {
  const proc = Bun.spawn([process.execPath, FIXTURE, how], { stdin: "ignore", stdout: "pipe", stderr: "pipe", env: { ...process.env, DROPSIM_DEBUG: debug } });
  const [stderr, exit] = await Promise.all([new Response(proc.stderr).text(), proc.exited]);
  expect(stderr.trimEnd().split("\n"), stderr).toHaveLength(1);
  expect(stderr.trimEnd()).toMatch(says);
  expect(exit).toBe(code);
});

test("with DROPSIM_DEBUG=1 an internal error's stack follows its line", async () => {
  const proc = Bun.spawn([process.execPath, FIXTURE, "bug"], { stdin: "ignore", stdout: "pipe", stderr: "pipe", env: { ...process.env, DROPSIM_DEBUG: "1" } });
  const [stderr, exit] = await Promise.all([new Response(proc.stderr).text(), proc.exited]);
  expect(stderr).toStartWith("dropsim: internal error: ");
  expect(stderr).toMatch(/^\s+at /m);
  expect(exit).toBe(1);
});

test("a join link given where an address is expected (sync --server dropsim://…) joins with its token", async () => {
  const link = `dropsim://127.0.0.1:${server.port}/default?token=${ANY_TOKEN}`;
  const proc = Bun.spawn(dropsimCommand(["sync", scratch.join("by-link"), "--server", link, "--insecure"]), {
    cwd: scratch.path,
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
    env: { ...process.env, NO_COLOR: "1", XDG_CONFIG_HOME: scratch.join("no-config") },
  });
  const timer = setTimeout(() => proc.kill("SIGKILL"), 30_000);
  const [, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  clearTimeout(timer);
  // The link's token reached the server, which refused it: the folder tried to join, not just to dial.
  expect(code, stderr).toBe(3);
  expect(stderr).toMatch(/token/i);
  expect(stderr).not.toMatch(/^\s+at /m);
});
