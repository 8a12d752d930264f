// The op library's bridge to the native core's C ABI (kernels/include/btk.h):
// btk_status turned into op failures.
#ifndef TFJS_BT_TENSORFLOW_BTK_SUPPORT_H_
#define TFJS_BT_TENSORFLOW_BTK_SUPPORT_H_

#include <new>
#include <stdexcept>
#include <string>

#include "btk.h"
#include "tf_helpers.h"

namespace bt_tf {

// Every shape is validated before the core runs, so a rejection is a bug here.
inline void CheckBtk(btk_status status, const char* what) {
  if (status == BTK_OUT_OF_MEMORY) throw std::bad_alloc();
  if (status != BTK_OK) throw std::runtime_error(std::string(what) + ": rejected by the native core");
}

}  // namespace bt_tf

#endif  // TFJS_BT_TENSORFLOW_BTK_SUPPORT_H_
