// The suite's npm packages and outside programs are optional: without them a test reports itself
// skipped (with the reason) instead of failing, so that a plain build without network still passes.
import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { serverMissing } from "./server_fixture.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));

export function nodeModulesMissing() {
  if (!existsSync(path.join(here, "node_modules")))
    return `tests/server/js/node_modules is missing (run: npm ci --prefix tests/server/js)`;
  return undefined;
}

export function programMissing(file) {
  return existsSync(file) ? undefined : `${file} is not installed (scripts/install-deps.sh --test installs it)`;
}

// The first reason to skip, or false to run. Logged, since skip reasons are easy to overlook.
export function skipReason(...reasons) {
  const reason = [nodeModulesMissing(), serverMissing(), ...reasons].find(Boolean);
  if (reason) console.log(`skipping: ${reason}`);
  return reason || false;
}
