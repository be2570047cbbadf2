// Validates an AsyncAPI document with the reference parser (@asyncapi/parser 3, installed
// by deploy/check-asyncapi.sh into a folder of the build tree). Prints every diagnostic
// and fails on any of severity error, on a document the parser could not read, on zero
// channels, and on a channel the code speaks that the document lacks.
//
//   node check_asyncapi.cjs TOOLS_DIR topics/asyncapi.yaml [expected channel address ...]
'use strict';
const path = require('path');

async function main() {
  const [toolsDir, file, ...expected] = process.argv.slice(2);
  if (!toolsDir || !file) {
    console.error('usage: node check_asyncapi.cjs TOOLS_DIR ASYNCAPI_FILE [CHANNEL ...]');
    return 2;
  }
  const { Parser, fromFile } = require(path.join(path.resolve(toolsDir), 'node_modules', '@asyncapi', 'parser'));
  const { document, diagnostics } = await fromFile(new Parser(), file).parse();
  const names = ['error', 'warning', 'info', 'hint'];
  let errors = 0;
  for (const d of diagnostics) {
    if (d.severity === 0) errors++;
    const where = d.path && d.path.length ? d.path.join('.') : '(document)';
    const line = d.range && d.range.start ? `:${d.range.start.line + 1}` : '';
    console.log(`${file}${line}: ${names[d.severity] || d.severity}: ${where}: ${d.message} [${d.code}]`);
  }
  if (!document) {
    console.log(`${file}: FAIL: the parser could not read the document (${errors} errors)`);
    return 1;
  }
  const addresses = document.channels().all().map((c) => c.address() || c.id());
  const missing = expected.filter((a) => !addresses.includes(a));
  for (const a of missing) console.log(`${file}: error: no channel for ${a}, which the code uses`);
  const ok = errors === 0 && addresses.length > 0 && missing.length === 0;
  console.log(`${file}: ${ok ? 'ok' : 'FAIL'}: AsyncAPI ${document.version()}, ` +
              `${addresses.length} channels, ${document.components().messages().all().length} messages, ` +
              `${errors} errors, ${diagnostics.length - errors} other diagnostics`);
  return ok ? 0 : 1;
}

main().then((code) => process.exit(code), (e) => { console.error(e); process.exit(1); });
