# The TensorFlow op library for tfjs-node: the ops in this folder over the
# native core (kernels/core through its C ABI kernels/include/btk.h; sources,
# per-ISA static libraries and flags from kernels/core/core.gypi, as for the
# addon), built against the libtensorflow that tfjs-node links (its deps/
# folder, laid out by tools/setup-tfjs-node.sh), by tools/build-tensorflow-ops.sh.
# Pass -Dtf_dir=... to build against another copy.
{
  'includes': ['../../core/core.gypi'],
  'variables': {
    'tf_dir%': '<!(node -p "require(\'path\').resolve(\'../../../node_modules/@tensorflow/tfjs-node/deps\')")',
    # -Dwith_cuda=1 -Dcuda_build_dir=DIR (tools/build-tensorflow-ops.sh --gpu): add the
    # DEVICE_GPU kernels over libbt_cuda (kernels/cuda, built by tools/build-cuda.sh).
    'with_cuda%': 0,
    'cuda_build_dir%': '',
  },
  'targets': [
    {
      'target_name': 'bt_tensorflow_ops',
      'sources': [
        'op_library.cc', 'attention_inputs.cc', 'attention_ops.cc', 'encoder_inputs.cc', 'encoder_ops.cc',
        'decoder_inputs.cc', 'decoder_ops.cc', 'packed_weight_cache.cc', 'graph_op_inputs.cc', 'graph_ops.cc',
      ],
      'dependencies': ['btk_core'],
      'include_dirs': ['<(tf_dir)/include', '../../include'],
      'libraries': ['-L<(tf_dir)/lib', '-l:libtensorflow_framework.so.2', '-Wl,-rpath,<(tf_dir)/lib'],
      'conditions': [
        ['with_cuda==1', {
          'sources': ['gpu_kernels.cc', 'graph_ops_gpu.cc'],
          'defines': ['BT_WITH_CUDA'],
          'libraries': ['-L<(cuda_build_dir)', '-lbt_cuda', '-Wl,-rpath,<(cuda_build_dir)'],
        }],
      ],
    },
  ],
}
