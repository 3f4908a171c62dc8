// The argon2id ceiling of the Node.js peer: times the npm package @node-rs/argon2 (its
// SIMD build) at the costs Portcullis uses, one hash at a time on one thread, so the figure
// stands beside `portcullis bench-hash`'s "ms per hash per thread".
//
//   node scripts/bench/argon2_node.js [--seconds N] [--memory KiB] [--iterations T] [--parallelism P]
//
// NODE_PATH must reach the package (scripts/bench/argon2-ceiling installs it under .bench/node).
'use strict';

const { hashRawSync, Algorithm } = require('@node-rs/argon2');
const crypto = require('node:crypto');

const opts = { seconds: 5, memory: 19456, iterations: 2, parallelism: 1 };
const argv = process.argv.slice(2);
for (let i = 0; i + 1 < argv.length; i += 2) {
  const key = argv[i].replace(/^--/, '');
  if (!(key in opts)) throw new Error(`unknown option ${argv[i]}`);
  opts[key] = Number(argv[i + 1]);
}

const params = {
  algorithm: Algorithm.Argon2id,
  memoryCost: opts.memory,
  timeCost: opts.iterations,
  parallelism: opts.parallelism,
  outputLen: 32,
};

function once() {
  // A fresh password and salt each time, as a login or registration would hash.
  hashRawSync(crypto.randomBytes(12).toString('base64'), { ...params, salt: crypto.randomBytes(16) });
}

// Warm-up: the first hashes fault in memory and load code.
for (let i = 0; i < 3; i++) once();

let n = 0;
const cpuStart = process.cpuUsage();
const start = process.hrtime.bigint();
let elapsed = 0;
while (elapsed < opts.seconds) {
  once();
  n++;
  elapsed = Number(process.hrtime.bigint() - start) / 1e9;
}
const cpu = process.cpuUsage(cpuStart);
const cpuMs = (cpu.user + cpu.system) / 1000 / n;
const pkg = require('@node-rs/argon2/package.json');
console.log(
  `argon2id m=${opts.memory} KiB t=${opts.iterations} p=${opts.parallelism}, @node-rs/argon2 ${pkg.version} ` +
    `(node ${process.versions.node}) 1 thread: ${(n / elapsed).toFixed(1)} hashes/s ` +
    `(${n} hashes in ${elapsed.toFixed(2)} s, ${((1000 * elapsed) / n).toFixed(2)} ms per hash per thread; ` +
    `${cpuMs.toFixed(2)} ms of CPU per hash, which a busy machine distorts less)`,
);
