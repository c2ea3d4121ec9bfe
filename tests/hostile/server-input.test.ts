import { serverInputSuite } from "./_server-input-suite.ts";

// The hostile-input cases over plain TCP (--insecure on loopback, both sides).
serverInputSuite({ tls: false });
