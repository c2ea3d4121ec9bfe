import { describeBasicSync } from "./_basic-suite.ts";

// The same scenarios on `serve --data memory:`: the in-memory stores and feed keep the
// contract the SQLite and pack stores keep.
describeBasicSync("memory");
