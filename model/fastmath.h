/*
 * fastmath.h: exp, sigmoid and tanh for float written so that the compiler can vectorize the
 * loops that call them (no branches, no library calls).  Accuracy: a few ulp, like the fast
 * paths of the reference frameworks; tests/model/test_layers.c compares against double math.
 *
 * exp: x = n ln2 + r with |r| <= ln2/2 (ln2 split in two parts, Cody and Waite), e^r by its
 * Taylor series to degree 7 (truncation < 1e-8 relative), 2^n built in the exponent bits.
 * tanh: the Taylor series to degree 15 for |x| < 0.5 (truncation < 1e-8), else
 * (1 - e) / (1 + e) with e = exp(-2|x|), where no cancellation is left.
 */
#ifndef ELMO_FASTMATH_H
#define ELMO_FASTMATH_H

#include <stdint.h>
#include <string.h>

static inline float elmo__expf(float x) {
    x = x < -87.0f ? -87.0f : x;
    x = x > 88.0f ? 88.0f : x;
    float t = x * 1.44269504088896341f + 12582912.0f; /* 1.5 * 2^23: rounds to an integer */
    float n = t - 12582912.0f;
    float r = x - n * 0.693359375f;
    r = r + n * 2.12194440e-4f;
    float p = 1.0f / 5040.0f;
    p = p * r + 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    int32_t ti;
    memcpy(&ti, &t, sizeof ti);
    int32_t bits = (ti - 0x4B400000 + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

static inline float elmo__sigmoidf(float x) { return 1.0f / (1.0f + elmo__expf(-x)); }

static inline float elmo__tanhf(float x) {
    float a = x < 0.0f ? -x : x;
    float e = elmo__expf(-2.0f * a);
    float big = (1.0f - e) / (1.0f + e);
    big = x < 0.0f ? -big : big;
    float x2 = x * x;
    float p = -929569.0f / 638512875.0f;
    p = p * x2 + 21844.0f / 6081075.0f;
    p = p * x2 - 1382.0f / 155925.0f;
    p = p * x2 + 62.0f / 2835.0f;
    p = p * x2 - 17.0f / 315.0f;
    p = p * x2 + 2.0f / 15.0f;
    p = p * x2 - 1.0f / 3.0f;
    float small = x + x * x2 * p;
    return a < 0.5f ? small : big;
}

/*
 * The same three functions on 16 lanes (GCC vector extensions: one zmm register with AVX-512,
 * two ymm with AVX2, four xmm otherwise).  Every lane runs exactly the operations of the scalar
 * version, in the same order (selects replace the ternaries), so each lane's result is
 * bit-identical to the scalar function's whatever the instruction set.  (-Wpsabi only notes
 * that 64-byte vectors are passed differently with and without AVX-512; these are inlined.)
 */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpsabi"
/* Always inlined: a call between functions of different instruction sets (target_clones)
 * would pass these 64-byte vectors by different conventions. */
#define ELMO__VINLINE static inline __attribute__((always_inline))
typedef float elmo__v16f __attribute__((vector_size(64)));
typedef int32_t elmo__v16i __attribute__((vector_size(64)));

/* m ? a : b, lane by lane, for a comparison mask m (all ones or all zeros per lane). */
ELMO__VINLINE elmo__v16f elmo__v16sel(elmo__v16i m, elmo__v16f a, elmo__v16f b) {
    return (elmo__v16f)((m & (elmo__v16i)a) | (~m & (elmo__v16i)b));
}

ELMO__VINLINE elmo__v16f elmo__v16splat(float c) { return (elmo__v16f){0} + c; }

ELMO__VINLINE elmo__v16f elmo__expf_v16(elmo__v16f x) {
    const elmo__v16f lo = elmo__v16splat(-87.0f), hi = elmo__v16splat(88.0f);
    x = elmo__v16sel(x < lo, lo, x);
    x = elmo__v16sel(x > hi, hi, x);
    elmo__v16f t = x * 1.44269504088896341f + 12582912.0f;
    elmo__v16f n = t - 12582912.0f;
    elmo__v16f r = x - n * 0.693359375f;
    r = r + n * 2.12194440e-4f;
    elmo__v16f p = elmo__v16splat(1.0f / 5040.0f);
    p = p * r + 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    elmo__v16i bits = ((elmo__v16i)t - 0x4B400000 + 127) << 23;
    return p * (elmo__v16f)bits;
}

ELMO__VINLINE elmo__v16f elmo__sigmoidf_v16(elmo__v16f x) {
    return 1.0f / (1.0f + elmo__expf_v16(-x));
}

ELMO__VINLINE elmo__v16f elmo__tanhf_v16(elmo__v16f x) {
    const elmo__v16f zero = elmo__v16splat(0.0f);
    elmo__v16f a = elmo__v16sel(x < zero, -x, x);
    elmo__v16f e = elmo__expf_v16(-2.0f * a);
    elmo__v16f big = (1.0f - e) / (1.0f + e);
    big = elmo__v16sel(x < zero, -big, big);
    elmo__v16f x2 = x * x;
    elmo__v16f p = elmo__v16splat(-929569.0f / 638512875.0f);
    p = p * x2 + 21844.0f / 6081075.0f;
    p = p * x2 - 1382.0f / 155925.0f;
    p = p * x2 + 62.0f / 2835.0f;
    p = p * x2 - 17.0f / 315.0f;
    p = p * x2 + 2.0f / 15.0f;
    p = p * x2 - 1.0f / 3.0f;
    elmo__v16f small = x + x * x2 * p;
    return elmo__v16sel(a < elmo__v16splat(0.5f), small, big);
}
#pragma GCC diagnostic pop

#endif /* ELMO_FASTMATH_H */
