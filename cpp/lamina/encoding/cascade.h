// The cascade: picks the encoding of each stream by sampling.
#pragma once

#include "lamina/encoding/codecs.h"

namespace lamina::enc {}  // namespace lamina::enc
