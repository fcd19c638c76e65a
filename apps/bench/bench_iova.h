/* SPDX-License-Identifier: BSD-3-Clause */
/* dmaplane_bench iova: the baseline allocator it compares against (bench_baseline_alloc.c). */
#ifndef DMAPLANE_BENCH_IOVA_H
#define DMAPLANE_BENCH_IOVA_H

#include <stdint.h>

struct base_alloc;

struct base_alloc *base_create(uint64_t start, uint64_t len);
void base_destroy(struct base_alloc *b);
/* 0 or -ENOSPC; natural alignment for power-of-two sizes. */
int base_alloc(struct base_alloc *b, uint64_t size, uint64_t *iova);
void base_free(struct base_alloc *b, uint64_t iova, uint64_t size);

#endif
