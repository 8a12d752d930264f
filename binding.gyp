# The native core as a Node-API addon for tfjs's `cpu` backend (loaded with
# node-gyp-build; see tools/install-native.js). Needs only a C++17 compiler.
{
  'targets': [{
    'target_name': 'tfjs_bt_core',
    'sources': [
      'kernels/addon/addon.cc',
      'kernels/core/attention.cc', 'kernels/core/encoder_layer.cc', 'kernels/core/gemm.cc',
      'kernels/core/layer_norm.cc', 'kernels/core/activations.cc',
    ],
    'include_dirs': ["<!(node -p \"require('node-addon-api').include_dir\")", 'kernels/core'],
    'defines': ['NAPI_VERSION=8', 'NODE_ADDON_API_CPP_EXCEPTIONS'],
    'cflags_cc!': ['-fno-exceptions', '-fno-rtti', '-std=gnu++17', '-std=gnu++14'],
    'cflags_cc': ['-std=c++17', '-O3', '-fexceptions', '-Wall', '-Wextra'],
    'xcode_settings': {'GCC_ENABLE_CPP_EXCEPTIONS': 'YES', 'CLANG_CXX_LANGUAGE_STANDARD': 'c++17'},
  }],
}
