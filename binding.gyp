# The Node-API addon tfjs_bt_kernels.node for tfjs's `cpu` backend: the
# binding in kernels/bindings/node over the native core (kernels/core, whose
# sources, per-ISA static libraries and flags come from kernels/core/core.gypi).
# Loaded with node-gyp-build (built at install by tools/install-native.js, or
# found in prebuilds/). Needs only a C++17 compiler.
{
  'includes': ['kernels/core/core.gypi'],
  'targets': [
    {
      'target_name': 'tfjs_bt_kernels',
      'sources': [
        'kernels/bindings/node/addon.cc',
        'kernels/bindings/node/arg_reader.cc',
        'kernels/bindings/node/decoder_functions.cc',
        'kernels/bindings/node/weight_handle.cc',
      ],
      'dependencies': ['btk_core'],
      'include_dirs': ["<!(node -p \"require('node-addon-api').include_dir\")"],
      'defines': ['NAPI_VERSION=8', 'NODE_ADDON_API_CPP_EXCEPTIONS'],
    },
  ],
}
