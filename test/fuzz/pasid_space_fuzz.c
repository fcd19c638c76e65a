/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer target: random sequences of PASID allocations (widths 1..14), frees (good, double,
 * out of range), holds and unholds against a reference model (a bitmap of allocated PASIDs and
 * hold counts).
 *
 * Checked after every step: an allocated PASID lies in 1..2^width-1 and was free; -ENOSPC only
 * when every PASID of that width is allocated; free answers -ERANGE / -EBUSY / -ENOENT / 0
 * exactly as the model says; hold fails exactly for PASIDs not allocated; the count adds up.
 *
 * Input: 3-byte ops: op (low 2 bits) and width or PASID bits; PASIDs mostly small so that
 * collisions with live ones happen, sometimes anywhere in the 20-bit space or beyond it.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dmaplane_internal/pasid.h>

#define MAX_W 14
#define NIDS (1u << 20)

static struct {
	uint8_t alloc[NIDS / 8];
	uint16_t holds[1u << MAX_W];
	uint32_t count;
} m;

static bool m_alloc(uint32_t id)
{
	return id < NIDS && ((m.alloc[id / 8] >> (id % 8)) & 1);
}

static void m_set(uint32_t id, bool on)
{
	if (on)
		m.alloc[id / 8] |= (uint8_t)(1u << (id % 8));
	else
		m.alloc[id / 8] &= (uint8_t)~(1u << (id % 8));
}

static bool m_full(uint32_t w)
{
	for (uint32_t id = 1; id < (1u << w); id++)
		if (!m_alloc(id))
			return false;
	return true;
}

static uint16_t m_holds(uint32_t id)
{
	return id < (1u << MAX_W) ? m.holds[id] : 0;
}

#define CHECK(c)                                                                                   \
	do {                                                                                       \
		if (!(c)) {                                                                        \
			fprintf(stderr, "check failed: %s (line %d)\n", #c, __LINE__);             \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

static uint32_t pick_id(const uint8_t *p)
{
	uint32_t v = (uint32_t)p[1] | (uint32_t)p[2] << 8;

	switch (p[0] >> 6) {
	case 0:
	case 1:
		return v & 0x3f; /* small: live ones, 0 */
	case 2:
		return v & ((1u << MAX_W) - 1);
	default:
		return (v << 5) ^ p[0]; /* up to 2^21: beyond the space too */
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dpi_pasid_space *sp;

	if (dpi_pasid_space_create(&sp) != 0)
		return 0;
	memset(&m, 0, sizeof(m));
	for (size_t i = 0; i + 3 <= size; i += 3) {
		const uint8_t *p = data + i;
		uint32_t id = pick_id(p), got;
		int rc;

		switch (p[0] & 3) {
		case 0: { /* alloc */
			uint32_t w = (uint32_t)(p[1] % (MAX_W + 1)); /* 0 is invalid */

			rc = dpi_pasid_space_alloc(sp, w, &got);
			if (w == 0) {
				CHECK(rc == -EINVAL);
			} else if (rc == 0) {
				CHECK(got >= 1 && got < (1u << w) && !m_alloc(got));
				m_set(got, true);
				m.count++;
			} else {
				CHECK(rc == -ENOSPC && m_full(w));
			}
			break;
		}
		case 1: /* free */
			rc = dpi_pasid_space_free(sp, id);
			if (id == 0 || id > DP_PASID_MAX)
				CHECK(rc == -ERANGE);
			else if (m_holds(id) != 0)
				CHECK(rc == -EBUSY);
			else if (!m_alloc(id))
				CHECK(rc == -ENOENT);
			else {
				CHECK(rc == 0);
				m_set(id, false);
				m.count--;
			}
			break;
		case 2: /* hold (only where the model keeps counts) */
			id &= (1u << MAX_W) - 1;
			if (m_holds(id) >= 1000)
				break;
			rc = dpi_pasid_space_hold(sp, id);
			if (id == 0 || !m_alloc(id)) {
				CHECK(rc == -ENOENT);
			} else {
				CHECK(rc == 0);
				m.holds[id]++;
			}
			break;
		default: /* unhold */
			id &= (1u << MAX_W) - 1;
			dpi_pasid_space_unhold(sp, id);
			if (m_holds(id) != 0)
				m.holds[id]--;
			break;
		}
		CHECK(dpi_pasid_space_count(sp) == m.count);
		CHECK(dpi_pasid_space_holds(sp, id & ((1u << MAX_W) - 1)) ==
		      m_holds(id & ((1u << MAX_W) - 1)));
	}
	dpi_pasid_space_destroy(sp);
	return 0;
}
