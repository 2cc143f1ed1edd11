#!/usr/bin/env -S node --
// `--`: Node 20 otherwise reads a user's `--env-file` (a tsstack flag, as in docker compose) as its own
// option, even after the script name, and exits before tsstack runs.
// Entry point for `npx tsstack`: runs the compiled CLI (built by `npm install` via the `prepare` script).
import { main } from "../dist/cli/main.js";

process.exitCode = await main(process.argv.slice(2));
