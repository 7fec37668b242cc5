// Runs a GGUF file in llama.cpp (node-llama-cpp, CPU) on token ids and writes
// the logits at every position, so tests compare llama.cpp's forward with
// TraceNAS's own.
//
//   node logits.mjs MODEL.gguf TOKENS.txt OUT.f32 [TEXTS.jsonl OUT_IDS.jsonl]
//
// TOKENS.txt: whitespace-separated token ids, evaluated as one sequence from
// position 0 (no BOS added). OUT.f32: float32 little-endian [n_tokens, n_vocab].
// The context uses float32 K/V caches and no flash attention, so the numbers
// are the model's, not a half-precision cache's. With TEXTS.jsonl (one
// {"text": ...} per line) it also writes llama.cpp's tokenization of each
// text, without special tokens, to OUT_IDS.jsonl. Prints one JSON line:
// {"n_vocab", "tokens", "llama_cpp"} on success; exits 1 with the error
// otherwise (a llama.cpp assertion kills the process: run it as a child).
import { getLlama, LlamaLogLevel } from "node-llama-cpp";
import fs from "node:fs";

const [modelPath, tokensPath, outPath, textsPath, idsPath] = process.argv.slice(2);
if (!modelPath || !tokensPath || !outPath) {
  console.error("usage: node logits.mjs MODEL.gguf TOKENS.txt OUT.f32 [TEXTS.jsonl OUT_IDS.jsonl]");
  process.exit(2);
}
const tokens = fs.readFileSync(tokensPath, "utf8").trim().split(/\s+/).filter(Boolean).map(Number);

const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error });
const model = await llama.loadModel({ modelPath });
const context = await model.createContext({
  contextSize: Math.max(64, tokens.length + 8),
  batchSize: Math.max(64, tokens.length),
  flashAttention: false,
  experimentalKvCacheKeyType: "F32",
  experimentalKvCacheValueType: "F32",
  threads: 2,
});
const sequence = context.getSequence();
const results = await sequence.controlledEvaluate(
  tokens.map((t) => [t, { generateNext: { logits: true } }]),
);
let vocab = 0;
for (const r of results) {
  for (const id of r.next.logits.keys()) vocab = Math.max(vocab, id + 1);
}
const out = new Float32Array(tokens.length * vocab);
results.forEach((r, p) => {
  for (const [id, value] of r.next.logits) out[p * vocab + id] = value;
});
fs.writeFileSync(outPath, Buffer.from(out.buffer));

if (textsPath && idsPath) {
  const lines = fs.readFileSync(textsPath, "utf8").split("\n").filter(Boolean);
  const ids = lines.map((l) => JSON.stringify({ ids: Array.from(model.tokenize(JSON.parse(l).text, true)) }));
  fs.writeFileSync(idsPath, ids.join("\n") + "\n");
}
console.log(JSON.stringify({ n_vocab: vocab, tokens: tokens.length, llama_cpp: llama.llamaCppRelease?.release ?? null }));
await context.dispose();
await model.dispose();
await llama.dispose();
