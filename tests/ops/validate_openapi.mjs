// Validates an OpenAPI document against the official 3.x schemas and resolves every $ref.
// usage: node validate_openapi.mjs FILE (run from a directory whose node_modules holds the validator)
import SwaggerParser from "@apidevtools/swagger-parser";

const file = process.argv[2];
try {
  const api = await SwaggerParser.validate(file);
  const operations = Object.values(api.paths).reduce((n, item) => n + Object.keys(item).length, 0);
  console.log(`valid: ${api.info.title} ${api.info.version}, OpenAPI ${api.openapi}, ` +
              `${Object.keys(api.paths).length} paths, ${operations} operations`);
} catch (err) {
  console.error(`invalid: ${err.message}`);
  process.exit(1);
}
