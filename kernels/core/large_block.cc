#include "large_block.h"

#include <cstdlib>

#if defined(__unix__) || defined(__APPLE__)
#include <sys/mman.h>
#define BTK_HAVE_MMAP 1
#endif

namespace btk {
namespace {

size_t rounded(size_t bytes) {
  const size_t lines = (bytes + kLargeBlockAlignment - 1) / kLargeBlockAlignment;
  return (lines > 0 ? lines : 1) * kLargeBlockAlignment;
}

}  // namespace

void* allocate_large_block(size_t bytes) {
  const size_t size = rounded(bytes);
#ifdef BTK_HAVE_MMAP
  if (size >= kMappedBlockBytes) {
    // Page aligned, so 64-byte aligned; pages are committed as they are first written.
    void* block = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return block == MAP_FAILED ? nullptr : block;
  }
#endif
  return std::aligned_alloc(kLargeBlockAlignment, size);
}

void free_large_block(void* block, size_t bytes) {
  if (!block) return;
  const size_t size = rounded(bytes);
#ifdef BTK_HAVE_MMAP
  if (size >= kMappedBlockBytes) {
    munmap(block, size);
    return;
  }
#endif
  std::free(block);
}

}  // namespace btk
