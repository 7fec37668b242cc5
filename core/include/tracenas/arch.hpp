// Architectures: one sub-network of a base model (SPEC.md section 2).
//
// An Arch says, per layer of the base model, whether its attention and MLP
// blocks are kept and how wide they are. It is what search strategies propose
// (through an integer encoding), what proxies score and what is exported.
#pragma once

#include <cstdint>
#include <vector>

namespace tracenas {

struct LayerArch {
  bool attn = true;
  int heads = 0;     // query heads kept (a positive multiple of kv_heads)
  int kv_heads = 0;  // key/value heads kept
  bool mlp = true;
  int mlp_channels = 0;  // intermediate channels kept
  // Explicit unit choices; empty means importance decides (SPEC.md section 3).
  std::vector<int> head_index;
  std::vector<int> channel_index;

  bool operator==(const LayerArch& o) const;
};

struct Arch {
  std::vector<LayerArch> layers;
  bool operator==(const Arch& o) const { return layers == o.layers; }
};

}  // namespace tracenas
