# The native CPU core as gyp targets: the one list of its sources and of the
# flags each instruction set needs. Included by the addon's binding.gyp (package
# root) and the TensorFlow op library's (kernels/bindings/tensorflow/binding.gyp);
# gyp rewrites the relative paths below for whichever file includes this one.
# kernels/Makefile reads the same lists (this file is a Python literal).
#
# Only the AVX2, AVX-512 and AVX-512 + BF16 kernel sets are compiled with those
# instruction sets, each in its own static library; everything else is baseline x86-64 (or
# arm64) code that picks a kernel set at run time. A target linking the core
# depends on btk_core alone; the kernel sets come with it on x64.
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
      'target_name': 'btk_core',
      'type': 'static_library',
      'sources': [
        'api.cc',
        'cpu_features.cc',
        'cpu_quota.cc',
        'decoder/cross_attention.cc',
        'decoder/decoder_stack.cc',
        'decoder/kv_cache.cc',
        'decoder/reorder_cache.cc',
        'decoder/rotary.cc',
        'dispatch.cc',
        'encoder/encoder_stack.cc',
        'encoder/workspace.cc',
        'isa/kernels_scalar.cc',
        'large_block.cc',
        'packed_weight.cc',
        'thread_pool.cc',
      ],
      # gyp links a static library's own static dependencies into whatever links it.
      'conditions': [
        ['target_arch=="x64"', {'dependencies': ['btk_kernels_avx2', 'btk_kernels_avx512', 'btk_kernels_avx512_bf16']}],
      ],
    },
  ],
  'conditions': [
    ['target_arch=="x64"', {
      'targets': [
        {
          'target_name': 'btk_kernels_avx2',
          'type': 'static_library',
          'sources': ['isa/kernels_avx2.cc'],
          'cflags_cc': ['-mavx2', '-mfma'],
          'xcode_settings': {'OTHER_CPLUSPLUSFLAGS': ['-O3', '-mavx2', '-mfma']},
        },
        {
          'target_name': 'btk_kernels_avx512',
          'type': 'static_library',
          'sources': ['isa/kernels_avx512.cc'],
          'cflags_cc': ['-mavx512f', '-mavx512bw', '-mavx512dq', '-mavx512vl', '-mavx2', '-mfma'],
          'xcode_settings': {
            'OTHER_CPLUSPLUSFLAGS': ['-O3', '-mavx512f', '-mavx512bw', '-mavx512dq', '-mavx512vl', '-mavx2', '-mfma'],
          },
        },
        {
          # AVX-512 plus the bfloat16 dot products (vdpbf16ps) for bfloat16 weights.
          'target_name': 'btk_kernels_avx512_bf16',
          'type': 'static_library',
          'sources': ['isa/kernels_avx512_bf16.cc'],
          'cflags_cc': ['-mavx512f', '-mavx512bw', '-mavx512dq', '-mavx512vl', '-mavx512bf16', '-mavx2', '-mfma'],
          'xcode_settings': {
            'OTHER_CPLUSPLUSFLAGS': ['-O3', '-mavx512f', '-mavx512bw', '-mavx512dq', '-mavx512vl', '-mavx512bf16', '-mavx2',
                                     '-mfma'],
          },
        },
      ],
    }],
  ],
}
