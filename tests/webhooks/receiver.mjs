// A webhook receiver for the end-to-end tests: HTTPS with the test's self-signed
// certificate, every request verified with the Standard Webhooks library (npm
// `standardwebhooks`). Appends one JSON line per request to OUT_FILE:
// {"ok":true,"id":…,"payload":…} or {"ok":false,"error":…}; answers 204 or 400.
//
// usage: node receiver.mjs CERT_PEM KEY_PEM PORT OUT_FILE PORT_FILE   (PORT 0: any; the
// port bound is written to PORT_FILE). The secret comes from WEBHOOK_SECRET.
import { createRequire } from "node:module";
import { appendFileSync, readFileSync, writeFileSync, renameSync } from "node:fs";
import https from "node:https";

const require = createRequire(import.meta.url);
const { Webhook } = require("standardwebhooks");

const [certFile, keyFile, port, outFile, portFile] = process.argv.slice(2);
const wh = new Webhook(process.env.WEBHOOK_SECRET);

const server = https.createServer({ cert: readFileSync(certFile), key: readFileSync(keyFile) }, (req, res) => {
  const chunks = [];
  req.on("data", (c) => chunks.push(c));
  req.on("end", () => {
    const body = Buffer.concat(chunks).toString("utf8");
    let line;
    try {
      const payload = wh.verify(body, req.headers);
      line = { ok: true, id: req.headers["webhook-id"], payload };
      res.writeHead(204);
    } catch (e) {
      line = { ok: false, error: String(e && e.message ? e.message : e) };
      res.writeHead(400);
    }
    appendFileSync(outFile, JSON.stringify(line) + "\n");
    res.end();
  });
});

server.listen(Number(port), "127.0.0.1", () => {
  writeFileSync(portFile + ".tmp", String(server.address().port));
  renameSync(portFile + ".tmp", portFile);
});
process.on("SIGTERM", () => server.close(() => process.exit(0)));
