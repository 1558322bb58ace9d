// Compile .ksy files with the pinned kaitai-struct-compiler (npm build of the
// reference Scala compiler). The npm package only offers a programmatic API (no
// CLI), so this script is the project's command line for it; kaitai_build.py
// runs it with the node it found.
//
// Usage: node kaitai_compile.mjs --target python|javascript|graphviz --out DIR FILE.ksy...
// Prints one JSON line: {"compiler": "<version>", "written": [...paths]}.
// Exits 1 with the compiler's message on the first error.

import { readFileSync, writeFileSync, mkdirSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve, isAbsolute } from "node:path";

const require = createRequire(import.meta.url);
const compiler = require("kaitai-struct-compiler");
const yaml = require("js-yaml");

function parseArgs(argv) {
  const args = { target: null, out: null, files: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--target" || a === "-t") args.target = argv[++i];
    else if (a === "--out" || a === "-d") args.out = argv[++i];
    else args.files.push(a);
  }
  if (!args.target || !args.out || args.files.length === 0) {
    console.error("usage: kaitai_compile.mjs --target LANG --out DIR FILE.ksy...");
    process.exit(2);
  }
  return args;
}

function loadKsy(path) {
  return yaml.load(readFileSync(path, "utf8"));
}

// Imports in our .ksy files are plain names ("vlq_leb128") resolved next to the
// importing file; the compiler hands us the name and "rel"/"abs" mode. All our
// formats live in one folder, so resolving against that folder is exact.
function importerFor(baseDir) {
  return {
    importYaml(name, mode) {
      const p = isAbsolute(name) ? name : join(baseDir, name);
      return Promise.resolve(loadKsy(p.endsWith(".ksy") ? p : p + ".ksy"));
    },
  };
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  if (!compiler.languages.includes(args.target)) {
    console.error(`unknown target ${args.target}; compiler knows ${compiler.languages.join(", ")}`);
    process.exit(2);
  }
  mkdirSync(args.out, { recursive: true });
  const written = [];
  for (const file of args.files) {
    const path = resolve(file);
    let files;
    try {
      files = await compiler.compile(args.target, loadKsy(path), importerFor(dirname(path)), false);
    } catch (err) {
      // The compiler rejects with a Scala exception or an array of problems;
      // String() of either carries the location and message.
      const detail = Array.isArray(err) ? err.map(String).join("\n") : String(err && err.stack ? err : err);
      console.error(`${file}: ${detail}`);
      process.exit(1);
    }
    for (const [name, text] of Object.entries(files)) {
      const dest = join(args.out, name);
      mkdirSync(dirname(dest), { recursive: true });
      writeFileSync(dest, text);
      written.push(dest);
    }
  }
  console.log(JSON.stringify({ compiler: compiler.version, written }));
}

main().catch((err) => {
  console.error(String(err && err.stack ? err.stack : err));
  process.exit(1);
});
