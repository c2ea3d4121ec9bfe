import { fail } from "../../src/cli/error-boundary.ts";
import { DropsimError } from "../../src/core/errors.ts";

// Fails as argv[2] says, through the error boundary main.ts installs: thrown, rejected later, or a bug.
process.on("uncaughtException", fail);
process.on("unhandledRejection", fail);
const how = process.argv[2];
if (how === "refusal") throw new DropsimError("unknown_token", "The server refused this folder's token");
if (how === "later") setTimeout(() => void Promise.reject(new DropsimError("bad_message", 'Invalid thing "x"')), 10);
if (how === "bug") (undefined as unknown as { x: number }).x;
