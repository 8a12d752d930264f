# The TensorFlow op library for tfjs-node: built against the libtensorflow that
# tfjs-node links (its deps/ folder, laid out by tools/setup-tfjs-node.sh), by
# tools/build-tensorflow-ops.sh. Pass -Dtf_dir=... to build against another copy.
{
  'variables': {
    'tf_dir%': '<!(node -p "require(\'path\').resolve(\'../../node_modules/@tensorflow/tfjs-node/deps\')")',
  },
  'targets': [{
    'target_name': 'bt_tensorflow_ops',
    'sources': [
      'op_library.cc', 'attention_ops.cc', 'encoder_op.cc',
      '../core/attention.cc', '../core/encoder_layer.cc', '../core/gemm.cc', '../core/layer_norm.cc',
      '../core/activations.cc',
    ],
    'include_dirs': ['<(tf_dir)/include', '../core'],
    'cflags_cc!': ['-fno-exceptions', '-fno-rtti', '-std=gnu++17', '-std=gnu++14'],
    'cflags_cc': ['-std=c++17', '-O3', '-fexceptions', '-Wall', '-Wextra'],
    'libraries': ['-L<(tf_dir)/lib', '-l:libtensorflow_framework.so.2', '-Wl,-rpath,<(tf_dir)/lib'],
  }],
}
