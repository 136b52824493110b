/*
 * bench_gen.h: connection records of realistic variety for the store and
 * view benchmarks (bench_store.c, bench_view.c). See bench_gen.c for the
 * model and why it was chosen. Records point into the generator's pools
 * and stay valid until bench_gen_free.
 */
#ifndef AUDITSNITCH_BENCH_GEN_H
#define AUDITSNITCH_BENCH_GEN_H

#include <stdint.h>

#include "conn.h"

struct bench_gen;

/* A generator whose pools and sequence depend only on seed. */
struct bench_gen *bench_gen_new(uint64_t seed);
void bench_gen_free(struct bench_gen *g);
/* Fills *r with the next record (its strings point into g). */
void bench_gen_record(struct bench_gen *g, struct conn_record *r);
/* The next raw 64-bit random number of g's stream. */
uint64_t bench_gen_rand(struct bench_gen *g);

#endif
