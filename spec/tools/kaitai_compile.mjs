// Compile .ksy files with the pinned kaitai-struct-compiler (npm build of the
// reference Scala compiler). The npm package only offers a programmatic API (no
// CLI), so this script is the project's command line for it; kaitai_build.py
// runs it with the node it found.
//
// Usage: node kaitai_compile.mjs --target python|javascript|graphviz --out DIR [--import-path DIR]... FILE.ksy...
// --import-path (like kaitai-struct-compiler's -I): further folders to look in
// for an import not found next to the importing file; spec/v1/ksy imports the
// version-0 types this way.
// Prints one JSON line: {"compiler": "<version>", "written": [...paths]}.
// Exits 1 with the compiler's message on the first error.

import { existsSync, readFileSync, writeFileSync, mkdirSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve, isAbsolute } from "node:path";

const require = createRequire(import.meta.url);
const compiler = require("kaitai-struct-compiler");
const yaml = require("js-yaml");

function parseArgs(argv) {
  const args = { target: null, out: null, importPaths: [], files: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--target" || a === "-t") args.target = argv[++i];
    else if (a === "--out" || a === "-d") args.out = argv[++i];
    else if (a === "--import-path" || a === "-I") args.importPaths.push(resolve(argv[++i]));
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
// importing file; the compiler hands us the name and "rel"/"abs" mode. The
// version-0 formats live in one folder; version 1 names version-0 types by the
// same plain names, found through --import-path. Names are unique across the
// folders (the generated modules share one namespace), so the first hit is exact.
function importerFor(baseDir, importPaths) {
  return {
    importYaml(name, mode) {
      const file = name.endsWith(".ksy") ? name : name + ".ksy";
      const candidates = isAbsolute(file) ? [file] : [baseDir, ...importPaths].map((d) => join(d, file));
      const hit = candidates.find((p) => existsSync(p));
      if (!hit) return Promise.reject(new Error(`import ${name} not found in ${candidates.join(", ")}`));
      return Promise.resolve(loadKsy(hit));
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
      files = await compiler.compile(args.target, loadKsy(path), importerFor(dirname(path), args.importPaths), false);
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
