// TN_API: what libtracenas_core.so exports.
//
// The core is compiled with hidden visibility; only declarations marked
// TN_API (the SDK's classes and functions, in the headers of this folder) are
// in its dynamic symbol table, and its version script keeps everything else
// (template instantiations of the standard library, LibTorch, Boost) local.
// Plugins are compiled with hidden visibility too, so the same mark makes them
// import these symbols from the core instead of defining their own.
#pragma once

#define TN_API __attribute__((visibility("default")))
