// sharp's counterpart of the benchmark's `vipsthumbnail FILE... --size 512x512
// --smartcrop centre -o OUT/%s.jpg[Q=85,strip,interlace]`: ONE process over
// many files, one at a time on one libvips thread, so that its time per image
// compares with the other converters'.
//
//   node sharp-thumbnail.mjs -o OUT FILE...
//   node sharp-thumbnail.mjs --check     (exits 0 when sharp loads)
//
// Each FILE becomes OUT/<name less its last extension>.jpg (as vipsthumbnail's
// %s and Rust's `file_stem` name it): turned upright, scaled to cover 512x512
// and cropped about the centre, converted to sRGB, any transparency composited
// over white, saved as a progressive JPEG of quality 85 without metadata.
// Prints `<ms>\t<FILE>` on stdout for each file converted, and
// `sharp-thumbnail: unable to thumbnail FILE: <error>` on stderr for each one
// that failed, then goes on; exits 1 when any failed (as vipsthumbnail does,
// with 255), 2 on bad arguments.
//
// sharp is not a dependency of the project: install it outside the repo,
//   mkdir -p /var/tmp/sharp-bench && cd /var/tmp/sharp-bench \
//     && npm init -y && npm install sharp
// and run this with NODE_PATH=/var/tmp/sharp-bench/node_modules (or set
// SHARP_DIR=/var/tmp/sharp-bench). Its npm package brings its own libvips.

import { mkdirSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";

const SIZE = 512;
const QUALITY = 85;
/** Like the worker's default limit (`Options::DEFAULT_MAX_PIXELS`). */
const MAX_PIXELS = 100_000_000;

function loadSharp() {
  const here = createRequire(import.meta.url);
  const places = [process.env.SHARP_DIR, "/var/tmp/sharp-bench"].filter(Boolean);
  for (const place of [null, ...places]) {
    try {
      return place === null
        ? here("sharp")
        : createRequire(path.join(place, "package.json"))("sharp");
    } catch (error) {
      if (error.code !== "MODULE_NOT_FOUND") throw error;
    }
  }
  console.error("sharp-thumbnail: sharp is not installed (see the header of this script)");
  process.exit(2);
}

function parse(argv) {
  let out = null;
  const files = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "-o" || argv[i] === "--output") out = argv[++i];
    else files.push(argv[i]);
  }
  if (!out || files.length === 0) {
    console.error("usage: node sharp-thumbnail.mjs -o OUT FILE...");
    process.exit(2);
  }
  return { out, files };
}

/** The name less its last extension, as Rust's `Path::file_stem`. */
function stem(file) {
  const name = path.basename(file);
  const dot = name.lastIndexOf(".");
  return dot > 0 ? name.slice(0, dot) : name;
}

/** libvips' message on one line, less its "bad seek" lines from probing. */
function oneLine(error) {
  return String(error.message)
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line && !/: bad seek to \d+$/.test(line))
    .join(" ");
}

const sharp = loadSharp();
if (process.argv[2] === "--check") process.exit(0);
const { out, files } = parse(process.argv.slice(2));
mkdirSync(out, { recursive: true });
sharp.concurrency(1);
sharp.cache(false);

let failed = 0;
for (const file of files) {
  const started = process.hrtime.bigint();
  try {
    await sharp(file, { limitInputPixels: MAX_PIXELS })
      .rotate()
      .resize(SIZE, SIZE, { fit: "cover", position: "centre" })
      .flatten({ background: "#ffffff" })
      .jpeg({ quality: QUALITY, progressive: true, mozjpeg: false })
      .toFile(path.join(out, `${stem(file)}.jpg`));
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    console.log(`${ms.toFixed(1)}\t${file}`);
  } catch (error) {
    failed++;
    console.error(`sharp-thumbnail: unable to thumbnail ${file}: ${oneLine(error)}`);
  }
}
process.exitCode = failed ? 1 : 0;
