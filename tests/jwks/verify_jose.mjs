// Verifies access tokens with the npm package `jose` against a served JWKS
// (createRemoteJWKSet), the way a Node.js resource server would.
//
// usage: node verify_jose.mjs JWKS_URL ISSUER AUDIENCE|- TOKENS_FILE
// Prints "ok <kid>" or "fail <reason>" per token; exit code 0 when all verified.
import { readFileSync } from 'node:fs';
import { createRemoteJWKSet, jwtVerify } from 'jose';

const [jwksUrl, issuer, audience, tokensFile] = process.argv.slice(2);
const jwks = createRemoteJWKSet(new URL(jwksUrl));
const tokens = readFileSync(tokensFile, 'utf8').split(/\s+/).filter(Boolean);
let failures = 0;
for (const token of tokens) {
  try {
    const options = { issuer, algorithms: ['EdDSA', 'ES256'] };
    if (audience !== '-') options.audience = audience;
    const { payload, protectedHeader } = await jwtVerify(token, jwks, options);
    if (payload.typ !== 'access') throw new Error('not an access token');
    console.log('ok', protectedHeader.kid);
  } catch (e) {
    failures += 1;
    console.log('fail', e.code ?? e.name, String(e.message).replace(/\n/g, ' '));
  }
}
process.exit(failures === 0 ? 0 : 1);
