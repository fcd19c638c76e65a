/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The PASID space: a lock-free bitmap of the 2^20 PASIDs (128 KiB) plus attach counts.
 *
 * alloc: starting at a shared word hint, find a word with a zero bit below the width's limit and
 * claim the bit with an atomic fetch-or; a bit another thread set first just moves the search
 * on. free: atomic fetch-and; the old value tells a double free. No locks, no retries that can
 * starve: every failed claim means another thread's claim succeeded.
 *
 * Attach counts live in 256 chunks of 4096 16-bit counters, each allocated by the first
 * allocation of a PASID in its range (so every allocated PASID has its counter) and installed
 * with a compare-exchange; they stay until the space goes.
 *
 * Free against hold (attach) is decided on the counter alone, which carries its own
 * "allocated" flag (HOLD_ALLOC): allocation sets it after claiming the bit; hold increments the
 * count only while the flag is set; free turns exactly HOLD_ALLOC (allocated, no holds) into 0
 * and only then clears the bit. All three are single atomic steps on one 16-bit word, so a
 * racing free and hold never both succeed (the free fails with -EBUSY, or the hold with
 * -ENOENT), a double free fails once, and nothing waits for anything.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <dmaplane_internal/pasid.h>
#include <dmaplane_internal/sys.h>

#define NIDS (1u << DPI_PASID_BITS)
#define NWORDS (NIDS / 64)
#define CHUNK_IDS 4096u
#define NCHUNKS (NIDS / CHUNK_IDS)
#define HOLD_ALLOC 0x8000u /* in the counter: the PASID is allocated */
#define HOLD_MASK 0x7fffu  /* in the counter: its holds */

struct dpi_pasid_space {
	uint64_t bits[NWORDS]; /* bit set: allocated (bit 0, PASID 0, is never used) */
	uint32_t hint;         /* word to start the next search at (relaxed) */
	uint32_t count;        /* allocated PASIDs (relaxed) */
	uint16_t *holds[NCHUNKS];
};

static struct dpi_pasid_space g_space; /* zero: in .bss, not 130 KiB of .data */

struct dpi_pasid_space *dpi_pasid_global(void)
{
	return &g_space;
}

int dpi_pasid_space_create(struct dpi_pasid_space **sp)
{
	struct dpi_pasid_space *s = dpi_calloc(1, sizeof(*s));

	if (s == NULL)
		return -ENOMEM;
	*sp = s;
	return 0;
}

void dpi_pasid_space_destroy(struct dpi_pasid_space *sp)
{
	if (sp == NULL || sp == &g_space)
		return;
	for (uint32_t i = 0; i < NCHUNKS; i++)
		free(sp->holds[i]);
	free(sp);
}

static uint16_t *hold_slot(struct dpi_pasid_space *sp, uint32_t pasid, bool create);

/* The bits of word @w that hold IDs 1 .. 2^width - 1 (PASID 0 is reserved). */
static uint64_t valid_mask(uint32_t width, uint32_t w)
{
	uint64_t limit = 1ull << width;
	uint64_t first = (uint64_t)w * 64;
	uint64_t m = limit >= first + 64 ? ~0ull : (1ull << (limit - first)) - 1;

	return w == 0 ? m & ~1ull : m;
}

/* Try to claim a zero bit of word @w. 0 with *pasid; -ENOSPC when the word has none. */
static int claim_in_word(struct dpi_pasid_space *sp, uint32_t w, uint64_t mask, uint32_t *pasid)
{
	uint64_t cur = __atomic_load_n(&sp->bits[w], __ATOMIC_RELAXED);

	while ((~cur & mask) != 0) {
		uint64_t bit = 1ull << __builtin_ctzll(~cur & mask);
		uint64_t old = __atomic_fetch_or(&sp->bits[w], bit, __ATOMIC_ACQ_REL);

		if ((old & bit) == 0) {
			*pasid = w * 64 + (uint32_t)__builtin_ctzll(bit);
			return 0;
		}
		cur = old | bit; /* someone else took it: look again */
	}
	return -ENOSPC;
}

int dpi_pasid_space_alloc(struct dpi_pasid_space *sp, uint32_t width, uint32_t *pasid)
{
	uint32_t nwords, start;

	if (sp == NULL || pasid == NULL || width == 0 || width > DPI_PASID_BITS)
		return -EINVAL;
	nwords = width >= 6 ? 1u << (width - 6) : 1;
	start = __atomic_load_n(&sp->hint, __ATOMIC_RELAXED) % nwords;
	for (uint32_t i = 0; i < nwords; i++) {
		uint32_t w = start + i < nwords ? start + i : start + i - nwords;

		if (claim_in_word(sp, w, valid_mask(width, w), pasid) == 0) {
			uint16_t *h = hold_slot(sp, *pasid, true);

			if (dpi_unlikely(h == NULL)) {
				__atomic_fetch_and(&sp->bits[w], ~(1ull << (*pasid % 64)),
						   __ATOMIC_ACQ_REL);
				return -ENOMEM;
			}
			/* 0 now: its last free cleared it before the bit. */
			__atomic_fetch_or(h, (uint16_t)HOLD_ALLOC, __ATOMIC_ACQ_REL);
			if (w != start)
				__atomic_store_n(&sp->hint, w, __ATOMIC_RELAXED);
			__atomic_fetch_add(&sp->count, 1, __ATOMIC_RELAXED);
			return 0;
		}
	}
	return -ENOSPC;
}

static uint16_t *hold_slot(struct dpi_pasid_space *sp, uint32_t pasid, bool create)
{
	uint16_t **chunk = &sp->holds[pasid / CHUNK_IDS];
	uint16_t *c = __atomic_load_n(chunk, __ATOMIC_ACQUIRE);

	if (c == NULL && create) {
		uint16_t *fresh = dpi_calloc(CHUNK_IDS, sizeof(uint16_t));

		if (fresh == NULL)
			return NULL;
		if (__atomic_compare_exchange_n(chunk, &c, fresh, false, __ATOMIC_ACQ_REL,
						__ATOMIC_ACQUIRE))
			c = fresh;
		else
			free(fresh); /* c now holds the chunk another thread installed */
	}
	return c == NULL ? NULL : &c[pasid % CHUNK_IDS];
}

uint32_t dpi_pasid_space_holds(struct dpi_pasid_space *sp, uint32_t pasid)
{
	uint16_t *h, v;

	if (sp == NULL || pasid == 0 || pasid > DP_PASID_MAX)
		return 0;
	h = hold_slot(sp, pasid, false);
	if (h == NULL)
		return 0;
	v = __atomic_load_n(h, __ATOMIC_ACQUIRE);
	return v & HOLD_MASK;
}

int dpi_pasid_space_free(struct dpi_pasid_space *sp, uint32_t pasid)
{
	uint64_t bit, old;
	uint16_t *h, cur;

	if (sp == NULL || pasid == 0 || pasid > DP_PASID_MAX)
		return -ERANGE;
	h = hold_slot(sp, pasid, false);
	if (h == NULL)
		return -ENOENT; /* never allocated: allocation creates the counter */
	cur = __atomic_load_n(h, __ATOMIC_ACQUIRE);
	do {
		if (!(cur & HOLD_ALLOC))
			return -ENOENT;
		if (cur & HOLD_MASK)
			return -EBUSY;
	} while (!__atomic_compare_exchange_n(h, &cur, 0, false, __ATOMIC_ACQ_REL,
					      __ATOMIC_ACQUIRE));
	bit = 1ull << (pasid % 64);
	old = __atomic_fetch_and(&sp->bits[pasid / 64], ~bit, __ATOMIC_ACQ_REL);
	if ((old & bit) == 0)
		return -ENOENT; /* cannot happen: the flag is set only while the bit is */
	__atomic_fetch_sub(&sp->count, 1, __ATOMIC_RELAXED);
	return 0;
}

bool dpi_pasid_space_allocated(struct dpi_pasid_space *sp, uint32_t pasid)
{
	if (sp == NULL || pasid == 0 || pasid > DP_PASID_MAX)
		return false;
	return (__atomic_load_n(&sp->bits[pasid / 64], __ATOMIC_ACQUIRE) >> (pasid % 64)) & 1;
}

uint32_t dpi_pasid_space_count(struct dpi_pasid_space *sp)
{
	return sp == NULL ? 0 : __atomic_load_n(&sp->count, __ATOMIC_RELAXED);
}

int dpi_pasid_space_hold(struct dpi_pasid_space *sp, uint32_t pasid)
{
	uint16_t *h, cur;

	if (!dpi_pasid_space_allocated(sp, pasid))
		return -ENOENT;
	h = hold_slot(sp, pasid, true);
	if (h == NULL)
		return -ENOMEM;
	cur = __atomic_load_n(h, __ATOMIC_ACQUIRE);
	do {
		if (!(cur & HOLD_ALLOC))
			return -ENOENT; /* freed (a racing free won) */
		if ((cur & HOLD_MASK) == HOLD_MASK)
			return -ENOSPC;
	} while (!__atomic_compare_exchange_n(h, &cur, (uint16_t)(cur + 1), false, __ATOMIC_ACQ_REL,
					      __ATOMIC_ACQUIRE));
	return 0;
}

void dpi_pasid_space_unhold(struct dpi_pasid_space *sp, uint32_t pasid)
{
	uint16_t *h = sp == NULL || pasid == 0 || pasid > DP_PASID_MAX
			      ? NULL
			      : hold_slot(sp, pasid, false);

	uint16_t cur = h == NULL ? 0 : __atomic_load_n(h, __ATOMIC_ACQUIRE);

	/* No holds: nothing of the caller's to drop (an unbalanced call). */
	while ((cur & HOLD_MASK) != 0 &&
	       !__atomic_compare_exchange_n(h, &cur, (uint16_t)(cur - 1), false, __ATOMIC_ACQ_REL,
					    __ATOMIC_ACQUIRE))
		;
}
