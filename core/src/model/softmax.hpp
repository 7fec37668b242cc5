// Softmax over the last dimension, in place.
#pragma once

#include <ATen/ATen.h>

namespace tracenas {

// x <- exp(x - rowmax) / rowsum, over the last dimension, without another
// tensor of x's size. Measured with LibTorch 1.13 on 2 cores, [4, 4, 512, 256]
// float32: at::softmax 5.3 ms, this 2.4 ms including a copy of x (the row
// maximum is amax: max(dim) also computes indices, 1.1 ms against 0.13 ms).
inline at::Tensor& softmax_lastdim_(at::Tensor& x) {
  x.sub_(x.amax(-1, /*keepdim=*/true)).exp_();
  return x.div_(x.sum(-1, /*keepdim=*/true));
}

}  // namespace tracenas
