// The tokenizer of a model folder as GGUF "tokenizer.ggml.*" metadata, so
// that llama.cpp tokenizes text as the model's own tokenizer does.
//
//   tokenizer.model (SentencePiece)  -> model "llama": every piece with its
//                                       score and type (NORMAL 1, UNKNOWN 2,
//                                       CONTROL 3, USER_DEFINED 4, UNUSED 5,
//                                       BYTE 6: SentencePiece's numbering,
//                                       which llama.cpp shares)
//   tokenizer.json, byte-level BPE   -> model "gpt2": tokens by id, merges as
//                                       "a b", added special tokens CONTROL,
//                                       other added tokens USER_DEFINED, and
//                                       the pre-tokenizer llama.cpp names
//                                       ("llama-bpe" for Llama 3's split
//                                       regex, "qwen2" for Qwen's, else
//                                       "default" with a warning)
//   neither                          -> placeholder tokens (below)
// A vocabulary shorter than the embedding is padded with "[PAD<id>]" tokens
// of type UNUSED (as llama.cpp's converter does); a longer one is refused.
// bos/eos ids come from config.json (else the tokenizer), add_bos/add_eos
// from tokenizer_config.json when it says.
//
// Placeholders (a folder without a tokenizer, e.g. a llama2.c conversion):
// a "llama" vocabulary laid out as llama2.c's: "<unk>" (UNKNOWN), "<s>",
// "</s>" (CONTROL), the 256 byte tokens "<0x00>".."<0xFF>" (BYTE), then
// "<tracenas_N>" (NORMAL, score 0) for the remaining ids; token ids mean
// what they meant to the model, text round trips only through the byte
// tokens. A vocabulary under 259 ids has no room for the bytes and gets
// the "none" tokenizer model (token ids only).
#pragma once

#include <string>

#include "io/gguf.hpp"

namespace tracenas {

// Adds the tokenizer metadata to `g`. Returns a note for the user when the
// tokens are placeholders (empty otherwise). ModelError naming the file when
// a tokenizer file cannot be used.
std::string add_gguf_vocab(GgufWriter& g, const std::string& model_dir, int vocab_size);

}  // namespace tracenas
