/**
 * Imported first by the CLI: TensorFlow's C++ start-up lines (oneDNN,
 * cpu_feature_guard) are INFO/WARNING logs of the libtensorflow that
 * tfjs-node loads, and it reads TF_CPP_MIN_LOG_LEVEL once, when it loads. So
 * the variable is set here, before anything can load tfjs-node. Level 2 keeps
 * TensorFlow's errors; a level the user set is left as it is.
 */
if (process.env.TF_CPP_MIN_LOG_LEVEL === undefined) process.env.TF_CPP_MIN_LOG_LEVEL = '2';

export {};
