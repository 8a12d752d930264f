// Memory for large, long-lived blocks (packed weights, encoder workspaces).
//
// Blocks from 128 KiB up are mapped straight from the operating system and
// unmapped when freed. Through malloc they would not be: glibc raises its
// mmap threshold to the size of the first large block freed, after which
// blocks of that size come from the heap, and replacing weights call after
// call (training, reloading a model) then fragments it and RSS grows without
// bound. Smaller blocks use aligned_alloc.
#ifndef BTK_LARGE_BLOCK_H_
#define BTK_LARGE_BLOCK_H_

#include <cstddef>

namespace btk {

constexpr size_t kLargeBlockAlignment = 64;
constexpr size_t kMappedBlockBytes = size_t(128) << 10;

// `bytes` rounded up to the alignment (at least one line); null when memory runs out.
void* allocate_large_block(size_t bytes);
// `bytes` must be what the block was allocated with.
void free_large_block(void* block, size_t bytes);

}  // namespace btk

#endif  // BTK_LARGE_BLOCK_H_
