// Compile a Solidity standard-JSON input (stdin) with the pinned npm `solc` package and print
// {"version": ..., "output": <standard-JSON output>} on stdout. Driven by contracts/build.py;
// kept dumb on purpose so all policy (sources, settings, artifacts) lives in one Python file.
'use strict';
const path = require('path');

let solc;
try {
  solc = require(path.join(__dirname, '..', 'node_modules', 'solc'));
} catch (err) {
  process.stderr.write('solc npm package not found under node_modules: run `npm ci`\n');
  process.exit(2);
}

const chunks = [];
process.stdin.on('data', (c) => chunks.push(c));
process.stdin.on('end', () => {
  const input = Buffer.concat(chunks).toString('utf8');
  const output = JSON.parse(solc.compile(input));
  process.stdout.write(JSON.stringify({ version: solc.version(), output }));
});
