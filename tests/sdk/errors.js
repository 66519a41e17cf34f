// What the SDK tests share: the check of a typed SDK error (SPEC §2.2).
'use strict';

const assert = require('node:assert/strict');

// Awaits promise, which must fail with an instance of Klass carrying the
// HTTP status and Cloudflare's errors[0].code (a JSON number) and machine
// message; returns the error.
async function rejects(promise, Klass, status, code) {
  let err;
  try {
    await promise;
  } catch (e) {
    err = e;
  }
  assert.ok(err, 'the call must fail');
  assert.ok(err instanceof Klass,
    `want ${Klass.name}, got ${err && err.constructor.name}: ${err}`);
  assert.equal(err.status, status);
  assert.ok(Array.isArray(err.errors) && err.errors.length > 0,
    'errors[] carried on the exception');
  assert.equal(err.errors[0].code, code);
  assert.equal(typeof err.errors[0].code, 'number');
  assert.match(err.errors[0].message, /^email\.sending\.error\./);
  return err;
}

module.exports = { rejects };
