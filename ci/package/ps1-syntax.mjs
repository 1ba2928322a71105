// Syntax check of PowerShell scripts without PowerShell (none can be installed here):
// tree-sitter's PowerShell grammar (the tree-sitter-powershell npm package's .wasm, run by
// web-tree-sitter) parses each file; any ERROR or MISSING node is reported with its line.
// It cannot run the script: what install.ps1 does on Windows stays unverified here.
//
//   node ci/package/ps1-syntax.mjs FILE...      (run by ci/package/lint.sh, with NODE_PATH
//                                                 pointing at the pinned packages)
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';

const require = createRequire(path.join(process.env.LINT_TOOLS ?? '.', 'node_modules', 'x.js'));
const { Parser, Language } = require('web-tree-sitter');
await Parser.init();
const lang = await Language.load(require.resolve('tree-sitter-powershell/tree-sitter-powershell.wasm'));
const parser = new Parser();
parser.setLanguage(lang);

let bad = 0;
for (const file of process.argv.slice(2)) {
  const tree = parser.parse(fs.readFileSync(file, 'utf8'));
  const errors = [];
  const walk = (node) => {
    if (node.type === 'ERROR' || node.isMissing) errors.push(node);
    for (const child of node.children) walk(child);
  };
  walk(tree.rootNode);
  for (const e of errors.slice(0, 10)) {
    const what = e.isMissing ? `missing ${e.type}` : 'syntax error';
    console.log(`${file}:${e.startPosition.row + 1}:${e.startPosition.column + 1}: ${what}: ${e.text.slice(0, 80)}`);
  }
  bad += errors.length;
}
process.exit(bad ? 1 : 0);
