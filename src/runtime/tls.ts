import { constants } from "node:crypto";
import { DropsimError } from "../core/errors.ts";
import { looksLikeDropsim, looksLikeTls, notDropsim } from "../core/not-dropsim.ts";

/** A TLS record of type handshake: the first byte of every ClientHello. dropsim's own framing starts with 0x00. */
export const TLS_HANDSHAKE_BYTE = 0x16;

/** TLS 1.3 only, as refusals: Bun's BoringSSL options take no minimum version. */
export const TLS13_ONLY = constants.SSL_OP_NO_TLSv1 | constants.SSL_OP_NO_TLSv1_1 | constants.SSL_OP_NO_TLSv1_2;

/**
 * How long a client waits for a server to finish the TLS handshake: until it does, there is no
 * connection for the caller's heartbeat to watch, and a silent server would hold it for ever.
 */
export const HANDSHAKE_TIMEOUT_MS = 10_000;

export function plaintextRefused(remote: string): DropsimError {
  return new DropsimError("tls_required", `Refused a plaintext connection from ${remote}: this server speaks only TLS`);
}

/**
 * Why a TLS handshake failed. `sent` is what the peer sent before TLS read it: what is not a TLS
 * server's answer names the peer (an older or --insecure dropsim speaks its own framing).
 */
export function handshakeFailed(address: string, cause: unknown, sent: Uint8Array = new Uint8Array(0)): DropsimError {
  if (!looksLikeTls(sent) && !looksLikeDropsim(sent)) return notDropsim(address, sent);
  const why = !looksLikeTls(sent)
    ? "it speaks dropsim without TLS (a server started with --insecure: give --insecure too, on a loopback address)"
    : cause instanceof Error
      ? cause.message
      : String(cause ?? "the connection closed");
  return new DropsimError("tls", `Cannot make a TLS 1.3 connection to ${address}: ${why}`, { cause });
}
