// The cascade: picks the encoding of each stream by sampling, as BtrBlocks and Vortex do.
//
// A cheap full pass finds what must hold for every value (constant? the frame-of-
// reference bit width). Then about 1,000 values in 8 evenly spaced slices of 128 give
// estimates for the other candidates: run length (RLE), delta width (delta), distinct
// count (dictionary), ALP exponents and exceptions (floats), FSST compression ratio
// (strings). The best estimate, if it beats the baseline (bit-packed or plain) by a
// margin that pays for its slower decode, is encoded for real and kept only if it is
// actually smaller. Nested streams (codes, run values and ends, deltas, digits) go
// through the cascade again, one level deeper; from kMaxEncodeDepth on only plain,
// constant and bit-packing are considered.
#pragma once

#include <utility>
#include <vector>

#include "lamina/encoding/codecs.h"

namespace lamina::enc {

constexpr size_t kSampleSlices = 8;
constexpr size_t kSliceLen = 128;

// [begin, end) row ranges of the sample: all rows when n <= kSampleSlices * kSliceLen.
std::vector<std::pair<size_t, size_t>> SampleSlices(size_t n);

// Estimated distinct values among n, from the multiplicities `counts` of the distinct
// values in a sample (Chao1).
double EstimateDistinct(const std::vector<size_t>& counts, size_t n);

}  // namespace lamina::enc
