#!/usr/bin/env -S node --
// `--`: Node 20 otherwise reads a user's `--env-file` (a tsstack flag, as in docker compose) as its own
// option, even after the script name, and exits before tsstack runs.
// Entry point for `npx tsstack`: runs the compiled CLI (built by `npm install` via the `prepare` script).
// `tsstack daemon` loads only the daemon's command: the engine runs for long and should not hold the
// rest of the CLI in memory.
const argv = process.argv.slice(2);
const { main } =
  argv[0] === "daemon" ? await import("../dist/cli/daemon-main.js") : await import("../dist/cli/main.js");

process.exitCode = await main(argv);
