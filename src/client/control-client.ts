import * as path from "node:path";
import { STATE_DIR } from "../core/wire-path.ts";
import { localAddress, requestLocal } from "../fsutil/local-socket.ts";
import type { ControlReply, ControlRequest } from "./control.ts";

/** The control socket's name in a synced folder's .dropsim/ (a named pipe on Windows: fsutil/local-socket.ts). */
export const CONTROL_SOCKET = "control.sock";
/** Long enough for a busy client to answer a status; a flush waits its own timeout on top. */
export const CONTROL_TIMEOUT_MS = 10_000;

/** Where the client of the synced folder `root` listens for control requests. */
export function controlAddress(root: string): string {
  const folder = path.resolve(root);
  return localAddress(folder, path.join(folder, STATE_DIR, CONTROL_SOCKET));
}

/**
 * Asks the client running on `root` (one request, one reply): undefined when no client runs
 * there. Throws a DropsimError "timeout" when it did not answer in `timeoutMs` (a flush's
 * own `timeoutMs` is added: the client answers it only when it has waited).
 */
export async function sendControl(root: string, req: ControlRequest, timeoutMs = CONTROL_TIMEOUT_MS): Promise<ControlReply | undefined> {
  const wait = req.cmd === "flush" ? req.timeoutMs + timeoutMs : timeoutMs;
  return (await requestLocal(controlAddress(root), req, wait, `The sync client of ${root}`)) as ControlReply | undefined;
}
