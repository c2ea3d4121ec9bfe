import { describeBasicSync } from "./_basic-suite.ts";

// On the server's data dir, or on the backend DROPSIM_TEST_STORE names.
describeBasicSync();
