/*
 * Measures the machine's float32 FMA peak (GFLOP/s) with independent FMA
 * chains in registers, one thread per core given on the command line. The
 * widest vector ISA the compiler was told about is used (build with
 * -mavx512f for AVX-512, -mavx2 -mfma for AVX2) and -O3 -funroll-all-loops so
 * the chains stay in registers (benchmarks/machine.ts builds it that way).
 */
#include <immintrin.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define CHAINS 12
#define ITERATIONS 20000000L

#if defined(__AVX512F__)
typedef __m512 vec;
#define LANES 16
#define SET1 _mm512_set1_ps
#define FMA _mm512_fmadd_ps
#define ADD _mm512_add_ps
#define STORE _mm512_storeu_ps
#else
typedef __m256 vec;
#define LANES 8
#define SET1 _mm256_set1_ps
#define FMA _mm256_fmadd_ps
#define ADD _mm256_add_ps
#define STORE _mm256_storeu_ps
#endif

static void *work(void *out) {
  vec acc[CHAINS];
  const vec a = SET1(0.999999f), b = SET1(1e-7f);
  for (int c = 0; c < CHAINS; c++) acc[c] = SET1((float)c);
  for (long i = 0; i < ITERATIONS; i++) {
    for (int c = 0; c < CHAINS; c++) acc[c] = FMA(acc[c], a, b);
  }
  vec sum = acc[0];
  for (int c = 1; c < CHAINS; c++) sum = ADD(sum, acc[c]);
  float lanes[LANES];
  STORE(lanes, sum);
  *(float *)out = lanes[0];  /* keeps the loop from being optimised away */
  return NULL;
}

int main(int argc, char **argv) {
  int threads = argc > 1 ? atoi(argv[1]) : 1;
  if (threads < 1 || threads > 256) return 2;
  pthread_t ids[256];
  float sinks[256];
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (int t = 0; t < threads; t++) pthread_create(&ids[t], NULL, work, &sinks[t]);
  for (int t = 0; t < threads; t++) pthread_join(ids[t], NULL);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double seconds = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) * 1e-9;
  double flops = 2.0 * LANES * CHAINS * (double)ITERATIONS * threads;
  printf("{\"gflops\": %.1f, \"lanes\": %d, \"threads\": %d, \"sink\": %g}\n", flops / seconds * 1e-9, LANES, threads,
         (double)sinks[0]);
  return 0;
}
