#!/usr/bin/env node
// Parse many .fbp texts with the reference parser (npm `fbp`) in one process.
//
// stdin:  a JSON array of {"text": string, "caseSensitive": boolean}
// stdout: a JSON array, one entry per input, in order:
//   {"ok": true, "graph": {...}, "syntax": null}
//   {"ok": false, "error": E, "syntax": E or null}
// where E is {"name", "message", "line", "column", "expected": [descriptions]}
// (line, column and expected are null for errors that are not syntax errors), and
// "syntax" is the syntax error of the text, if it has one, even when the reference
// parser reported a graph error first.
//
// Each text is parsed in a fresh V8 context: the reference parser stores processes in
// plain objects, so names such as `__proto__` or `constructor` would otherwise leak
// state from one parse into the next.
'use strict';

const fs = require('fs');
const vm = require('vm');

const parserFile = require.resolve('fbp/lib/fbp.js', { paths: [__dirname] });
const script = new vm.Script(fs.readFileSync(parserFile, 'utf8'), { filename: parserFile });

function freshParser() {
  const mod = { exports: {} };
  const context = vm.createContext({ module: mod, exports: mod.exports, require });
  script.runInContext(context);
  return mod.exports;
}

function describeError(err) {
  const loc = err && err.location ? err.location.start : null;
  return {
    name: err && err.name ? String(err.name) : 'Error',
    message: err && err.message ? String(err.message) : String(err),
    line: loc ? loc.line : null,
    column: loc ? loc.column : null,
    expected: Array.isArray(err && err.expected)
      ? err.expected.map((e) => e.description)
      : null,
  };
}

function parseOne(item) {
  const options = { caseSensitive: Boolean(item.caseSensitive) };
  try {
    const graph = freshParser().parse(item.text, options);
    // Round-trip through JSON text so the result is exactly what the CLI would print.
    return { ok: true, graph: JSON.parse(JSON.stringify(graph)), syntax: null };
  } catch (err) {
    const error = describeError(err);
    if (error.line !== null) {
      return { ok: false, error, syntax: error };
    }
    // The graph checks run on the lines parsed so far, before the parser notices
    // that the rest of the text does not parse. Parse again without them to find
    // out whether there is also a syntax error.
    try {
      freshParser().parse(item.text, Object.assign({ validateContents: false }, options));
      return { ok: false, error, syntax: null };
    } catch (err2) {
      const second = describeError(err2);
      return { ok: false, error, syntax: second.line !== null ? second : null };
    }
  }
}

const input = JSON.parse(fs.readFileSync(0, 'utf8'));
process.stdout.write(JSON.stringify(input.map(parseOne)));
