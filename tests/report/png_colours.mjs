// Reads a PNG screenshot (8-bit RGB or RGBA, non-interlaced, as Chromium
// writes them) and prints {"width", "height", "colours", "major_colours",
// "non_white"}: distinct colours, colours covering at least 0.01% of the
// pixels, and the fraction of pixels that are not white.
// Usage: node png_colours.mjs FILE.png
import { readFileSync } from "node:fs";
import { inflateSync } from "node:zlib";

const buf = readFileSync(process.argv[2]);
const signature = [137, 80, 78, 71, 13, 10, 26, 10];
if (!signature.every((b, i) => buf[i] === b)) throw new Error("not a PNG file");
let pos = 8, width = 0, height = 0, depth = 0, type = 0, interlace = 0;
const idat = [];
while (pos < buf.length) {
  const len = buf.readUInt32BE(pos);
  const kind = buf.toString("latin1", pos + 4, pos + 8);
  const data = buf.subarray(pos + 8, pos + 8 + len);
  if (kind === "IHDR") {
    width = data.readUInt32BE(0);
    height = data.readUInt32BE(4);
    depth = data[8];
    type = data[9];
    interlace = data[12];
  } else if (kind === "IDAT") {
    idat.push(data);
  } else if (kind === "IEND") {
    break;
  }
  pos += 12 + len;
}
if (depth !== 8 || (type !== 2 && type !== 6) || interlace !== 0) {
  throw new Error(`unsupported PNG: depth ${depth}, colour type ${type}, interlace ${interlace}`);
}
const bpp = type === 6 ? 4 : 3;
const raw = inflateSync(Buffer.concat(idat));
const stride = width * bpp;
const img = Buffer.alloc(height * stride);
const paeth = (a, b, c) => {
  const p = a + b - c, pa = Math.abs(p - a), pb = Math.abs(p - b), pc = Math.abs(p - c);
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
};
for (let y = 0; y < height; y++) {
  const filter = raw[y * (stride + 1)];
  const src = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
  for (let x = 0; x < stride; x++) {
    const a = x >= bpp ? img[y * stride + x - bpp] : 0;
    const b = y > 0 ? img[(y - 1) * stride + x] : 0;
    const c = x >= bpp && y > 0 ? img[(y - 1) * stride + x - bpp] : 0;
    let v = src[x];
    if (filter === 1) v += a;
    else if (filter === 2) v += b;
    else if (filter === 3) v += (a + b) >> 1;
    else if (filter === 4) v += paeth(a, b, c);
    img[y * stride + x] = v & 255;
  }
}
const counts = new Map();
let nonWhite = 0;
for (let i = 0; i < width * height; i++) {
  const r = img[i * bpp], g = img[i * bpp + 1], b = img[i * bpp + 2];
  const key = (r << 16) | (g << 8) | b;
  counts.set(key, (counts.get(key) || 0) + 1);
  if (r < 250 || g < 250 || b < 250) nonWhite++;
}
const major = [...counts.values()].filter((n) => n >= 1e-4 * width * height).length;
console.log(JSON.stringify({ width, height, colours: counts.size, major_colours: major,
                             non_white: nonWhite / (width * height) }));
