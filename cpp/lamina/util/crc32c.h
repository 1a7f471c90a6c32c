// CRC32C (Castagnoli), as used for every page and the footer of a lamina file.
// Uses the SSE4.2 crc32 instruction when the CPU has it (checked at run time),
// else a slicing-by-8 table.
#pragma once

#include <cstddef>
#include <cstdint>

namespace lamina {

uint32_t Crc32c(const void* data, size_t n, uint32_t crc = 0);

// The portable implementation, kept as the reference the fast path is tested against.
uint32_t Crc32cScalar(const void* data, size_t n, uint32_t crc = 0);

}  // namespace lamina
