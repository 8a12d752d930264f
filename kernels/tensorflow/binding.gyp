# The TensorFlow op library for tfjs-node: the native core (../src, through its
# C ABI ../include/btk.h) built against the libtensorflow that tfjs-node links
# (its deps/ folder, laid out by tools/setup-tfjs-node.sh), by
# tools/build-tensorflow-ops.sh. Pass -Dtf_dir=... to build against another copy.
# The AVX2 / AVX-512 kernel sets are static libraries, as in the root binding.gyp.
{
  'variables': {
    'tf_dir%': '<!(node -p "require(\'path\').resolve(\'../../node_modules/@tensorflow/tfjs-node/deps\')")',
    'btk_common_cflags': ['-std=c++17', '-O3', '-fPIC', '-fexceptions', '-Wall', '-Wextra'],
    # -Dwith_cuda=1 -Dcuda_build_dir=DIR (tools/build-tensorflow-ops.sh --gpu): add the
    # DEVICE_GPU kernels over libbt_cuda (kernels/cuda, built by tools/build-cuda.sh).
    'with_cuda%': 0,
    'cuda_build_dir%': '',
  },
  'target_defaults': {
    'cflags!': ['-fno-exceptions'],
    'cflags_cc!': ['-fno-exceptions', '-fno-rtti', '-std=gnu++17', '-std=gnu++14', '-std=gnu++1y'],
    'cflags_cc': ['<@(btk_common_cflags)'],
    'conditions': [
      ['target_arch=="x64"', {'defines': ['BTK_HAVE_X86_KERNELS']}],
    ],
  },
  'targets': [
    {
      'target_name': 'bt_tensorflow_ops',
      'sources': [
        'op_library.cc', 'attention_inputs.cc', 'attention_ops.cc', 'encoder_op.cc', 'encoder_stack_op.cc', 'encoder_weights.cc',
        'packed_weight_cache.cc',
        '../src/api.cc', '../src/cpu_features.cc', '../src/cpu_quota.cc', '../src/dispatch.cc', '../src/encoder/encoder_stack.cc',
        '../src/encoder/workspace.cc', '../src/isa/kernels_scalar.cc', '../src/packed_weight.cc',
        '../src/thread_pool.cc',
      ],
      'include_dirs': ['<(tf_dir)/include', '../include'],
      'libraries': ['-L<(tf_dir)/lib', '-l:libtensorflow_framework.so.2', '-Wl,-rpath,<(tf_dir)/lib'],
      'conditions': [
        ['target_arch=="x64"', {'dependencies': ['btk_tf_kernels_avx2', 'btk_tf_kernels_avx512']}],
        ['with_cuda==1', {
          'sources': ['gpu_kernels.cc'],
          'defines': ['BT_WITH_CUDA'],
          'include_dirs': ['../cuda'],
          'libraries': ['-L<(cuda_build_dir)', '-lbt_cuda', '-Wl,-rpath,<(cuda_build_dir)'],
        }],
      ],
    },
  ],
  'conditions': [
    ['target_arch=="x64"', {
      'targets': [
        {
          'target_name': 'btk_tf_kernels_avx2',
          'type': 'static_library',
          'sources': ['../src/isa/kernels_avx2.cc'],
          'cflags_cc': ['-mavx2', '-mfma'],
        },
        {
          'target_name': 'btk_tf_kernels_avx512',
          'type': 'static_library',
          'sources': ['../src/isa/kernels_avx512.cc'],
          'cflags_cc': ['-mavx512f', '-mavx512bw', '-mavx512dq', '-mavx512vl', '-mavx2', '-mfma'],
        },
      ],
    }],
  ],
}
