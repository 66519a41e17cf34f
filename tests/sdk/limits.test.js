// The official Cloudflare TypeScript SDK (npm `cloudflare`, pinned 7.3.0)
// against pigeon's rate limit (SPEC §8.4): a 429/10004 surfaces as the
// SDK's RateLimitError with the error code, and the SDK's own retry,
// which waits the Retry-After, gets the send through.  Needs PIGEON_BIN
// and PIGEON_CONF (run.sh) to give an account of its own a rate limit,
// so the other test files' sends are not limited.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const { execFileSync } = require('node:child_process');
const path = require('node:path');
const Cloudflare = require('cloudflare');

const BIN = process.env.PIGEON_BIN;
const CONF = process.env.PIGEON_CONF;
const skip = !(BIN && CONF) && 'PIGEON_BIN and PIGEON_CONF not set';

function cli(...args) {
  const out = execFileSync(BIN, [...args, '--json', '-c', CONF],
    { cwd: path.dirname(CONF), timeout: 30000 });
  return JSON.parse(out.toString());
}

const rand = () => crypto.randomBytes(4).toString('hex');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// An account with a sending domain, a send token and rate 1, burst 1.
function limitedAccount() {
  const dom = `sdk-lim-${rand()}.test`;
  const acct = cli('account', 'create', `sdk-${rand()}`).id;
  const zone = cli('zone', 'create', acct, dom).id;
  cli('domain', 'create', zone, dom);
  const token = cli('token', 'create', acct, '--perm', 'send,read').token;
  execFileSync(BIN, ['account', 'set', acct, '--rate', '1', '--burst', '1',
    '-c', CONF], { cwd: path.dirname(CONF), timeout: 30000 });
  return { acct, token, from: `sdk@${dom}` };
}

test('rate limit: RateLimitError, then a retrying client gets through',
  { skip }, async () => {
    const a = limitedAccount();
    await sleep(500); // auth_cache_ms: the server sees the new account
    const once = new Cloudflare({ maxRetries: 0, apiToken: a.token,
      timeout: 30000 });
    const body = () => ({ account_id: a.acct, from: a.from,
      to: `lim-${rand()}@example.net`, subject: 'limited', text: 'x' });
    // the bucket holds one: quick sends soon find it empty
    let err;
    for (let i = 0; i < 10 && !err; i++) {
      try {
        await once.emailSending.send(body());
      } catch (e) {
        err = e;
      }
    }
    assert.ok(err instanceof Cloudflare.RateLimitError,
      `want RateLimitError, got ${err && err.constructor.name}: ${err}`);
    assert.equal(err.status, 429);
    assert.equal(err.errors[0].code, 10004);
    assert.equal(err.errors[0].message, 'email.sending.error.throttled');
    const ra = Number(err.headers.get('retry-after'));
    assert.ok(Number.isInteger(ra) && ra >= 1, `Retry-After ${ra}`);
    assert.equal(err.headers.get('ratelimit-limit'), '1');
    // a client that retries gets through: the SDK waits the Retry-After
    const retrying = new Cloudflare({ maxRetries: 5, apiToken: a.token,
      timeout: 30000 });
    const r = await retrying.emailSending.send(body());
    assert.equal(r.delivered.length, 1);
  });
