/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Register access for drivers. A BAR mapped into the process is accessed with plain volatile
 * loads and stores; a BAR that cannot be mapped (sim models, non-mmappable regions) goes
 * through the device's region read/write. The test is one predictable branch. A software
 * model may also offer a direct 32-bit store (its doorbells: the data path's one register
 * write) and its deferred work as plain calls on its own state, so that a driver's hot path
 * reaches the model through one indirect call instead of the device and model layers.
 */
#ifndef DMAPLANE_INTERNAL_MMIO_H
#define DMAPLANE_INTERNAL_MMIO_H

#include <stdint.h>

#include <dmaplane_internal/common.h>
#include <dmaplane_internal/device.h>

struct dpi_mmio {
	volatile uint8_t *base; /* NULL: use region ops */
	struct dp_device *dev;
	uint32_t region;
	uint64_t len;
	/* base NULL, optional: the same effect as a 4-byte region_write at @off, on @ctx */
	void (*write32)(void *ctx, uint64_t off, uint32_t v);
	/* optional: dev->ops->poll(dev) as a call on @ctx (NULL when the device has none) */
	void (*poll)(void *ctx);
	void *ctx;
};

/* Get register access to a region: mmap when the region allows it, else through region ops.
 * Returns 0; -EINVAL (bad region); an mmap error. */
int dpi_device_mmio(struct dp_device *dev, uint32_t region, struct dpi_mmio *mmio);

/* dpi_mmio_write32 through the device's region_write (out of line: the callers' hot paths
 * then keep no stack copy of the value). */
void dpi_mmio_region_write32(const struct dpi_mmio *m, uint64_t off, uint32_t v);

/*
 * Order stores to DMA memory (queue entries) before a following MMIO store (a doorbell).
 * x86: stores are not reordered with older stores, but write-combined BARs need sfence.
 * Under TSan (which rejects fences) the model runs in the same thread: a compiler barrier.
 */
static inline void dpi_wmb(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__asm__ volatile("sfence" ::: "memory");
#elif defined(__SANITIZE_THREAD__)
	__asm__ volatile("" ::: "memory");
#else
	__atomic_thread_fence(__ATOMIC_RELEASE);
#endif
}

static inline uint32_t dpi_mmio_read32(const struct dpi_mmio *m, uint64_t off)
{
	uint32_t v = UINT32_MAX;

	if (dpi_likely(m->base != NULL))
		return *(volatile uint32_t *)(m->base + off);
	m->dev->ops->region_read(m->dev, m->region, off, &v, sizeof(v));
	return v;
}

static inline uint64_t dpi_mmio_read64(const struct dpi_mmio *m, uint64_t off)
{
	uint64_t v = UINT64_MAX;

	if (dpi_likely(m->base != NULL))
		return *(volatile uint64_t *)(m->base + off);
	m->dev->ops->region_read(m->dev, m->region, off, &v, sizeof(v));
	return v;
}

static inline void dpi_mmio_write32(const struct dpi_mmio *m, uint64_t off, uint32_t v)
{
	if (dpi_likely(m->base != NULL)) {
		*(volatile uint32_t *)(m->base + off) = v;
		return;
	}
	if (dpi_likely(m->write32 != NULL)) {
		m->write32(m->ctx, off, v);
		return;
	}
	dpi_mmio_region_write32(m, off, v);
}

static inline void dpi_mmio_write64(const struct dpi_mmio *m, uint64_t off, uint64_t v)
{
	if (dpi_likely(m->base != NULL)) {
		*(volatile uint64_t *)(m->base + off) = v;
		return;
	}
	m->dev->ops->region_write(m->dev, m->region, off, &v, sizeof(v));
}

#endif
