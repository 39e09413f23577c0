#!/usr/bin/env node
/**
 * Builds a JavaScript policy into a rollcall plugin: a WebAssembly component
 * of the `rollcall:policy@0.3.0` world, made by componentize-js
 * (StarlingMonkey, pre-initialised by wizer; no weval AOT).
 *
 *     node tools/componentize.js [--root DIR] [--wit DIR] ENTRY.js OUT.wasm
 *
 * ENTRY.js exports `configure` and `decide` (`exportPolicy`) and may import
 * other modules by relative path anywhere under `plugins/` (the SDK among
 * them): componentize-js reads modules from the working directory, so this
 * runs from there. Every engine feature a policy does not need is off, so
 * that the component imports no WASI interface rollcall does not link
 * (`http` and `fetch-event` would import `wasi:http`).
 */

import { componentize } from "@bytecodealliance/componentize-js";
import { spawnSync } from "node:child_process";
import { access, constants, writeFile } from "node:fs/promises";
import { dirname, relative, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";

/**
 * Engine features turned off: all of them. `stdio` too: the SDK sends
 * errors back as the WIT `err` and lines through the host's `log`, so the
 * policy never writes to stdout or stderr.
 */
const DISABLED_FEATURES = ["http", "fetch-event", "random", "clocks", "stdio"];

const here = dirname(fileURLToPath(import.meta.url));
/** The directory modules are read from: `plugins/`, the SDK's parent. */
const MODULE_ROOT = resolve(here, "..", "..");
/** The WIT package every policy implements. */
const WIT = resolve(MODULE_ROOT, "..", "wit");

async function main(args) {
  const { moduleRoot, wit, entry, out } = options(args);
  const source = relative(moduleRoot, resolve(entry));
  if (source.startsWith(`..${sep}`)) {
    throw new Error(`${entry} is outside ${moduleRoot}, where the SDK's modules are read from`);
  }
  const output = resolve(out);
  // Fail before the build, not after it.
  await access(dirname(output), constants.W_OK).catch((err) => {
    throw new Error(`cannot write ${output}: ${err.message}`);
  });
  process.chdir(moduleRoot);
  let built;
  try {
    built = await componentize({
      sourcePath: source,
      witPath: wit,
      worldName: "policy",
      disableFeatures: DISABLED_FEATURES,
    });
  } catch (err) {
    throw new Error(`${err.message}${syntaxErrors(source, err)}`);
  }
  await writeFile(output, built.component);
}

/**
 * `[--root DIR] [--wit DIR] ENTRY.js OUT.wasm`: the directory modules are
 * read from (every module the entry imports must be under it) and the WIT
 * directory, by default this repository's `plugins/` and `wit/` (a project
 * made by `rollcall plugin new` passes its own).
 */
function options(args) {
  const usage = "usage: componentize.js [--root DIR] [--wit DIR] ENTRY.js OUT.wasm";
  let moduleRoot = MODULE_ROOT;
  let wit = WIT;
  const rest = [];
  for (let at = 0; at < args.length; at += 1) {
    if (args[at] === "--root" || args[at] === "--wit") {
      const value = args[at + 1];
      if (value === undefined) {
        throw new Error(`${args[at]} needs a directory; ${usage}`);
      }
      if (args[at] === "--root") {
        moduleRoot = resolve(value);
      } else {
        wit = resolve(value);
      }
      at += 1;
    } else {
      rest.push(args[at]);
    }
  }
  if (rest.length !== 2) {
    throw new Error(usage);
  }
  return { moduleRoot, wit, entry: rest[0], out: rest[1] };
}

/**
 * componentize-js reports a syntax error in the entry module without saying
 * where: node's own check does.
 */
function syntaxErrors(source, err) {
  if (!/failed to parse JS source/.test(err.message)) {
    return "";
  }
  const check = spawnSync(process.execPath, ["--check", source], { encoding: "utf8" });
  return check.status === 0 ? "" : `\n${check.stderr.trim()}`;
}

main(process.argv.slice(2)).catch((err) => {
  console.error(`componentize: ${err.message ?? err}`);
  process.exit(1);
});
