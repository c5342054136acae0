// Brings GOV.UK Frontend and MOJ Frontend from their pinned npm packages into the Python package:
//   cd deploy/frontend && npm ci && node build.mjs
// Writes hub/web/static/vendor/: the compiled stylesheet, the two packages' built JavaScript,
// the MOJ icons the stylesheet uses, the packages' licences and a manifest (versions, SHA-256).
// Nothing there is edited by hand: tests/unit/test_frontend_assets.py checks the manifest.
import { createHash } from "node:crypto";
import { copyFileSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import * as sass from "sass";

// The packages name MIT in package.json but ship no LICENSE file; this is the licence's text, with
// the copyright lines of their repositories (alphagov/govuk-frontend, ministryofjustice/moj-frontend).
const MIT = `Copyright (c) 2018 Crown Copyright (Government Digital Service) [govuk-frontend]
Copyright (c) 2019 Crown Copyright (Ministry of Justice) [@ministryofjustice/frontend]

Permission is hereby granted, free of charge, to any person obtaining a copy of this software and
associated documentation files (the "Software"), to deal in the Software without restriction,
including without limitation the rights to use, copy, modify, merge, publish, distribute,
sublicense, and/or sell copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all copies or
substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED, INCLUDING BUT
NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND
NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM,
DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM, OUT
OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE SOFTWARE.`;

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, "..", "..", "hub", "web", "static", "vendor");
const pkgDir = (name) => join(here, "node_modules", ...name.split("/"));
const pkgJson = (name) => JSON.parse(readFileSync(join(pkgDir(name), "package.json"), "utf8"));
const step = (msg) => console.log(`==> ${msg}`);

rmSync(out, { recursive: true, force: true });
mkdirSync(join(out, "images"), { recursive: true });

step("compiling hub.scss (GOV.UK Frontend + MOJ Frontend, fallback font stack)");
const css = sass.compile(join(here, "hub.scss"), {
  style: "compressed",
  importers: [new sass.NodePackageImporter(here)],
  loadPaths: [here],
  quietDeps: true,
  silenceDeprecations: ["import"],
});
if (css.css.includes("GDS Transport")) throw new Error("GDS Transport leaked into the stylesheet");
writeFileSync(join(out, "frontend.min.css"), css.css);

step("copying the built JavaScript (optional: every page works without it)");
copyFileSync(join(pkgDir("govuk-frontend"), "dist", "govuk", "govuk-frontend.min.js"), join(out, "govuk-frontend.min.js"));
copyFileSync(join(pkgDir("@ministryofjustice/frontend"), "moj", "moj-frontend.min.js"), join(out, "moj-frontend.min.js"));

step("copying the images the stylesheet refers to (never the crown, crest or logotypes)");
const referenced = new Set([...css.css.matchAll(/\/static\/vendor\/images\/([\w.-]+)/g)].map((m) => m[1]));
const sources = [
  join(pkgDir("@ministryofjustice/frontend"), "moj", "assets", "images"),
  join(pkgDir("govuk-frontend"), "dist", "govuk", "assets", "images"),
];
for (const name of referenced) {
  // The footer's crest belongs to GOV.UK services; the hub's footer is the plain one.
  if (/crown|crest|logotype/i.test(name)) {
    console.log(`    not shipped: ${name}`);
    continue;
  }
  const dir = sources.find((d) => readdirSync(d).includes(name));
  if (!dir) throw new Error(`the stylesheet refers to ${name}, which no package has`);
  copyFileSync(join(dir, name), join(out, "images", name));
}

step("writing the licences");
let licences = "# Licences of the vendored front-end packages\n\nWritten by deploy/frontend/build.mjs from each package's own metadata and README.\n";
for (const name of ["govuk-frontend", "@ministryofjustice/frontend"]) {
  const meta = pkgJson(name);
  const readme = readFileSync(join(pkgDir(name), "README.md"), "utf8");
  const section = readme.match(/^## Licen[cs]e\s*\n([\s\S]*?)(?=^## |(?![\s\S]))/m);
  licences += `\n## ${name} ${meta.version}\n\nLicence: ${meta.license}. Source: ${meta.repository?.url ?? meta.homepage}\n\n`;
  licences += section ? section[1].trim() + "\n" : "";
}
licences += `\n## The MIT License\n\n${MIT}\n`;
writeFileSync(join(out, "LICENCES.md"), licences);

step("writing the manifest");
const files = {};
const walk = (dir, prefix = "") => {
  for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    const rel = prefix + entry.name;
    if (entry.isDirectory()) walk(join(dir, entry.name), rel + "/");
    else if (rel !== "MANIFEST.json") files[rel] = createHash("sha256").update(readFileSync(join(dir, entry.name))).digest("hex");
  }
};
walk(out);
const manifest = {
  built_by: "deploy/frontend/build.mjs",
  packages: Object.fromEntries(["govuk-frontend", "@ministryofjustice/frontend", "sass"].map((n) => [n, pkgJson(n).version])),
  files,
};
writeFileSync(join(out, "MANIFEST.json"), JSON.stringify(manifest, null, 2) + "\n");
console.log(`${Object.keys(files).length} files in ${out}`);
