/**
 * Attaching to a container's main process through conmon's attach socket.
 *
 * conmon serves the process's stdio on `<bundle>/attach`, a SOCK_SEQPACKET unix socket: each packet
 * it sends is one pipe-type byte (2 = stdout, 3 = stderr) followed by data; bytes a client sends go to
 * the process's stdin (when conmon was started with `-i`), and a client's shutdown of its write side
 * closes that stdin. Resizes go to the `ctl` fifo as `1 <rows> <columns>\n`.
 *
 * Node cannot open SOCK_SEQPACKET sockets, so a few lines of Python (Debian's python3-minimal) bridge
 * the socket to plain pipes, keeping the framing: the bridge writes stdout packets to its fd 1 and
 * stderr packets to its fd 2. It lives only as long as the attach session; the container does not
 * depend on it.
 */
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { open } from "node:fs/promises";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { TsstackError } from "../../common/errors.js";
import type { ExecProcess } from "../runtime.js";

export const PYTHON_PATHS = ["/usr/bin/python3"] as const;

const BRIDGE = `
import os, socket, sys, threading
def fail(msg):
    os.write(3, msg.encode())
    sys.exit(1)
try:
    # A unix socket path is limited to 108 bytes: connect through a descriptor of the directory.
    dirfd = os.open(sys.argv[1], os.O_PATH)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.connect("/proc/self/fd/%d/attach" % dirfd)
except OSError as e:
    fail("connecting to %s/attach: %s" % (sys.argv[1], e.strerror))
os.write(3, b"R")
def write_all(fd, data):
    while data:
        n = os.write(fd, data)
        data = data[n:]
def pump_in():
    try:
        while True:
            d = os.read(0, 32768)
            if not d:
                break
            s.sendall(d)
    except OSError:
        pass
    try:
        s.shutdown(socket.SHUT_WR)
    except OSError:
        pass
if sys.argv[2] == "1":
    threading.Thread(target=pump_in, daemon=True).start()
while True:
    try:
        p = s.recv(65536)
    except OSError:
        break
    if not p:
        break
    if p[0] == 2:
        write_all(1, p[1:])
    elif p[0] == 3:
        write_all(2, p[1:])
`;

/**
 * Attaches to the container whose bundle (conmon's working directory) is `bundleDir`. Output flows
 * until the container exits (conmon closes the socket); `exitCode` gives the container's exit code
 * once it has. `ready` resolves once the bridge is connected (or has failed: then `exit` rejects).
 */
export function attachConmon(
  bundleDir: string,
  opts: { readonly stdin: boolean; readonly name: string; readonly exitCode: () => Promise<number> },
): ExecProcess & { readonly ready: Promise<void> } {
  const python = PYTHON_PATHS.find((p) => existsSync(p));
  if (python === undefined)
    throw new TsstackError(
      "runtime/missing-binary",
      `attaching to container ${opts.name}: python3 is not installed (install the Debian package python3-minimal)`,
    );
  // fd 3 carries the bridge's own errors, apart from the container's stderr.
  const child = spawn(python, ["-c", BRIDGE, bundleDir, opts.stdin ? "1" : "0"], {
    stdio: ["pipe", "pipe", "pipe", "pipe"],
  });
  const bridgeErrors: Buffer[] = [];
  let connected!: () => void;
  const ready = new Promise<void>((resolve) => (connected = resolve));
  (child.stdio[3] as Readable).on("data", (d: Buffer) => {
    // The bridge says `R` once connected; anything else is its error message.
    if (d[0] === 0x52 /* R */) {
      connected();
      if (d.length > 1) bridgeErrors.push(d.subarray(1));
    } else bridgeErrors.push(d);
  });
  const ended = new Promise<void>((resolve, reject) => {
    child.on("error", (e) => {
      reject(new TsstackError("runtime/attach-failed", `attaching to container ${opts.name}: ${e.message}`));
    });
    child.on("close", (code) => {
      if (code === 0) resolve();
      else
        reject(
          new TsstackError(
            "runtime/attach-failed",
            `attaching to container ${opts.name}: ${Buffer.concat(bridgeErrors).toString() || `the attach bridge exited with ${String(code)}`}`,
          ),
        );
    });
  });
  if (!opts.stdin) child.stdin.end();
  child.stdin.on("error", () => undefined);
  void ended.catch(() => undefined).then(connected);
  return {
    ready,
    stdin: child.stdin,
    stdout: child.stdout,
    stderr: child.stderr,
    exit: ended.then(opts.exitCode),
    resize: ({ rows, columns }) => {
      void open(join(bundleDir, "ctl"), "w")
        .then(async (fifo) => {
          try {
            await fifo.write(`1 ${rows} ${columns}\n`);
          } finally {
            await fifo.close();
          }
        })
        .catch(() => undefined);
    },
  };
}
