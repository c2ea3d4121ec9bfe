import { createHash } from "node:crypto";
import * as fs from "node:fs/promises";
import * as net from "node:net";
import * as path from "node:path";
import { DropsimError, describeError } from "../core/errors.ts";

/*
 * One JSON line in, one JSON line out, over a local socket only its owner can open: a Unix
 * socket file (0600) on Linux and macOS, a named pipe on Windows, where a pipe lives in its own
 * namespace rather than in the folder. node:net serves both under Bun and Deno alike.
 */

/** A request bigger than this is no control request: the connection is dropped unread. */
const MAX_REQUEST_BYTES = 64 * 1024;
/** A status reply lists conflicts and problems: generous, but bounded. */
const MAX_REPLY_BYTES = 64 * 1024 * 1024;

/**
 * Where the control socket of `owner` (a synced folder, a data dir) listens: the socket file
 * `file`, or on Windows the pipe named after `owner` (the first 16 hex digits of its SHA-256).
 */
export function localAddress(owner: string, file: string): string {
  if (process.platform !== "win32") return file;
  const digest = createHash("sha256").update(path.resolve(owner)).digest("hex").slice(0, 16);
  return `\\\\.\\pipe\\dropsim-${digest}`;
}

export interface LocalListener {
  close(): Promise<void>;
}

/**
 * Listens on `address`, answering each request line with `handle`'s reply. A socket file left
 * by a crashed process is replaced: the caller already holds the lock that says the place is
 * its own (sync.lock, the data dir's lock).
 */
export async function listenLocal(address: string, handle: (request: unknown) => Promise<unknown>): Promise<LocalListener> {
  const unix = process.platform !== "win32";
  if (unix) await fs.rm(address, { force: true });
  const connections = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    connections.add(socket);
    socket.on("close", () => connections.delete(socket));
    socket.on("error", () => socket.destroy());
    void _readLine(socket, MAX_REQUEST_BYTES).then(
      async (line) => {
        const reply = await Promise.resolve(line).then((l) => handle(JSON.parse(l))).catch((e) => ({ ok: false, code: e instanceof DropsimError ? e.code : "internal", message: describeError(e) }));
        socket.end(`${JSON.stringify(reply)}\n`);
      },
      () => socket.destroy(),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(address, () => {
      server.off("error", reject);
      resolve();
    });
  });
  // The folder holding it is already owner-only; this keeps the socket so if it is moved or the folder opened up.
  if (unix) await fs.chmod(address, 0o600);
  return {
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const c of connections) c.destroy();
      await closed;
      if (unix) await fs.rm(address, { force: true });
    },
  };
}

/**
 * Sends `request` to `address` and returns the reply, or undefined when nothing listens there
 * (no socket file, or one left by a process that is gone). Throws a DropsimError "timeout" when
 * no reply came within `timeoutMs`.
 */
export async function requestLocal(address: string, request: unknown, timeoutMs: number, who: string): Promise<unknown> {
  const socket = net.connect(address);
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const connected = await new Promise<boolean>((resolve, reject) => {
      socket.once("connect", () => resolve(true));
      socket.once("error", (e: NodeJS.ErrnoException) => (_NOBODY.has(e.code ?? "") ? resolve(false) : reject(e)));
    });
    if (!connected) return undefined;
    socket.write(`${JSON.stringify(request)}\n`);
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new DropsimError("timeout", `${who} did not answer within ${Math.ceil(timeoutMs / 1000)} s (is it stuck? its log may say why)`)), timeoutMs);
    });
    return JSON.parse(await Promise.race([_readLine(socket, MAX_REPLY_BYTES), timeout]));
  } finally {
    clearTimeout(timer);
    socket.destroy();
  }
}

/** Connection errors that mean "nothing listens there". */
const _NOBODY = new Set(["ENOENT", "ECONNREFUSED", "ENOTSOCK"]);

/** The first line `socket` sends (without its newline); rejects past `max` bytes or when it ends first. */
function _readLine(socket: net.Socket, max: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      const nl = chunk.indexOf(10);
      chunks.push(nl < 0 ? chunk : chunk.subarray(0, nl));
      size += chunk.length;
      if (nl >= 0) {
        socket.off("data", onData);
        resolve(Buffer.concat(chunks).toString("utf8"));
      } else if (size > max) {
        socket.off("data", onData);
        reject(new DropsimError("frame_too_large", `A control message over ${max} bytes`));
      }
    };
    socket.on("data", onData);
    socket.once("end", () => reject(new DropsimError("closed", "The control connection closed before a whole line")));
    socket.once("error", reject);
  });
}
