#!/usr/bin/env node
// The "browser" of the conformance auth/* scenarios ($BROWSER for the bridge, set by
// driver.mjs): fetches the authorization URL the bridge opens and follows the redirects, so
// the suite's authorization server (which approves every request at once) sends it on to
// the bridge's loopback callback, as a user's browser would after a click on "Allow".
//
// usage: node browser.mjs URL
const url = process.argv[2];
if (!url) {
  console.error('usage: browser.mjs URL');
  process.exit(2);
}
try {
  const res = await fetch(url, { redirect: 'follow' });
  const landed = new URL(res.url);
  console.error(`[browser] ${res.status} at ${landed.origin}${landed.pathname}`);
  process.exit(res.ok ? 0 : 1);
} catch (err) {
  console.error('[browser] failed:', err?.message ?? err);
  process.exit(1);
}
