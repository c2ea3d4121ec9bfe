import { serverInputSuite } from "./_server-input-suite.ts";

// The hostile-input cases again over TLS: raw sockets finish the handshake first, then send
// the same bytes; the clients pin the certificate the server printed.
serverInputSuite({ tls: true });
