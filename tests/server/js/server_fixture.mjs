// Starts `turbolm serve` on the CPU demo model for a test file and stops it the way an operator
// would (SIGTERM), so that every test also checks the server drains and exits 0.
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import assert from "node:assert/strict";
import { withTimeout } from "./timing.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
export const repoRoot = path.resolve(here, "../../..");

// CTest passes the binary; by hand, the default build directory's is used.
export function turbolmBinary() {
  return process.env.TURBOLM_BINARY || path.join(repoRoot, "build", "turbolm");
}

// Why the server tests cannot run here, or undefined when they can.
export function serverMissing() {
  const binary = turbolmBinary();
  if (!existsSync(binary)) return `no turbolm binary at ${binary} (set TURBOLM_BINARY)`;
  return undefined;
}

const READY_LINE = /turbolm: ready: (http:\/\/[^\s/]+)/;

export class TurbolmServer {
  constructor(child) {
    this.child = child;
    this.url = null;
    this.log = "";  // everything the server printed, for failure messages
    this.exited = new Promise((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
  }

  get pid() { return this.child.pid; }

  logTail(chars = 4000) { return this.log.slice(-chars); }

  // SIGTERM, then the exit status must be 0 within timeoutMs (the drain must not hang).
  async stop({ timeoutMs = 30_000 } = {}) {
    if (this.child.exitCode !== null || this.child.signalCode !== null) {
      const { code, signal } = await this.exited;
      assert.fail(`turbolm exited before stop() (code ${code}, signal ${signal}):\n${this.logTail()}`);
    }
    const started = Date.now();
    this.child.kill("SIGTERM");
    const result = await withTimeout(this.exited, timeoutMs);
    if (result === null) {
      this.child.kill("SIGKILL");
      assert.fail(`turbolm did not exit within ${timeoutMs} ms of SIGTERM:\n${this.logTail()}`);
    }
    assert.equal(result.signal, null, `turbolm was killed by ${result.signal}:\n${this.logTail()}`);
    assert.equal(result.code, 0, `turbolm exited ${result.code} after SIGTERM:\n${this.logTail()}`);
    const ms = Date.now() - started;
    console.log(`turbolm (pid ${this.pid}) exited 0, ${ms} ms after SIGTERM`);
    return ms;
  }
}

// Spawns `turbolm serve --device cpu --port 0 ...` and resolves once it prints its ready line.
export async function startServer({ args = [], readyTimeoutMs = 120_000 } = {}) {
  const fullArgs = ["serve", "--device", "cpu", "--port", "0", "--host", "127.0.0.1", "--max-model-len", "512", ...args];
  // libgomp's default spin-waiting turns into ~100x slower steps when the CPU is shared with other
  // work (parallel ctest, compilers); passive waiting keeps timings meaningful. A caller's setting wins.
  const env = { OMP_WAIT_POLICY: "passive", ...process.env };
  const child = spawn(turbolmBinary(), fullArgs, { stdio: ["ignore", "pipe", "pipe"], env });
  // A test runner that dies must not leave servers behind.
  const killOnExit = () => child.kill("SIGKILL");
  process.once("exit", killOnExit);
  child.once("exit", () => process.removeListener("exit", killOnExit));

  const server = new TurbolmServer(child);
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`turbolm was not ready within ${readyTimeoutMs} ms:\n${server.logTail()}`));
    }, readyTimeoutMs);
    const onData = (chunk) => {
      server.log += chunk.toString();
      const m = READY_LINE.exec(server.log);
      if (m && !server.url) {
        server.url = m[1];
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    child.once("error", (e) => { clearTimeout(timer); reject(e); });
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`turbolm exited (code ${code}, signal ${signal}) before it was ready:\n${server.logTail()}`));
    });
  });
  return server;
}
