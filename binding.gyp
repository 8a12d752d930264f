# The native core (kernels/src) as the Node-API addon tfjs_bt_kernels.node for
# tfjs's `cpu` backend, loaded with node-gyp-build (built at install by
# tools/install-native.js, or found in prebuilds/). Needs only a C++17 compiler.
#
# The AVX2 and AVX-512 kernel sets are separate static libraries so that only
# they are compiled with those instruction sets; the rest of the addon is
# baseline x86-64 (or arm64) code that picks a kernel set at run time.
{
  'variables': {
    'btk_common_cflags': ['-std=c++17', '-O3', '-fPIC', '-fexceptions', '-Wall', '-Wextra'],
  },
  'target_defaults': {
    'cflags!': ['-fno-exceptions'],
    'cflags_cc!': ['-fno-exceptions', '-fno-rtti', '-std=gnu++17', '-std=gnu++14', '-std=gnu++1y'],
    'cflags_cc': ['<@(btk_common_cflags)'],
    'xcode_settings': {
      'GCC_ENABLE_CPP_EXCEPTIONS': 'YES',
      'CLANG_CXX_LANGUAGE_STANDARD': 'c++17',
      'OTHER_CPLUSPLUSFLAGS': ['-O3'],
    },
    'conditions': [
      ['target_arch=="x64"', {'defines': ['BTK_HAVE_X86_KERNELS']}],
    ],
  },
  'targets': [
    {
      'target_name': 'tfjs_bt_kernels',
      'sources': [
        'kernels/src/addon/addon.cc',
        'kernels/src/addon/arg_reader.cc',
        'kernels/src/addon/weight_handle.cc',
        'kernels/src/api.cc',
        'kernels/src/cpu_features.cc',
        'kernels/src/cpu_quota.cc',
        'kernels/src/dispatch.cc',
        'kernels/src/encoder/encoder_stack.cc',
        'kernels/src/encoder/workspace.cc',
        'kernels/src/isa/kernels_scalar.cc',
        'kernels/src/packed_weight.cc',
        'kernels/src/thread_pool.cc',
      ],
      'include_dirs': ["<!(node -p \"require('node-addon-api').include_dir\")"],
      'defines': ['NAPI_VERSION=8', 'NODE_ADDON_API_CPP_EXCEPTIONS'],
      'conditions': [
        ['target_arch=="x64"', {'dependencies': ['btk_kernels_avx2', 'btk_kernels_avx512']}],
      ],
    },
  ],
  'conditions': [
    ['target_arch=="x64"', {
      'targets': [
        {
          'target_name': 'btk_kernels_avx2',
          'type': 'static_library',
          'sources': ['kernels/src/isa/kernels_avx2.cc'],
          'cflags_cc': ['-mavx2', '-mfma'],
          'xcode_settings': {'OTHER_CPLUSPLUSFLAGS': ['-O3', '-mavx2', '-mfma']},
        },
        {
          'target_name': 'btk_kernels_avx512',
          'type': 'static_library',
          'sources': ['kernels/src/isa/kernels_avx512.cc'],
          'cflags_cc': ['-mavx512f', '-mavx512bw', '-mavx512dq', '-mavx512vl', '-mavx2', '-mfma'],
          'xcode_settings': {
            'OTHER_CPLUSPLUSFLAGS': ['-O3', '-mavx512f', '-mavx512bw', '-mavx512dq', '-mavx512vl', '-mavx2', '-mfma'],
          },
        },
      ],
    }],
  ],
}
