// Registers the decoding functions of the addon (decoder_functions.cc).
#ifndef BTK_ADDON_DECODER_FUNCTIONS_H_
#define BTK_ADDON_DECODER_FUNCTIONS_H_

#include <napi.h>

namespace btk_addon {

void register_decoder_functions(Napi::Env env, Napi::Object exports);

}  // namespace btk_addon

#endif  // BTK_ADDON_DECODER_FUNCTIONS_H_
