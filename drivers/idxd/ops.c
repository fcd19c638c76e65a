/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * One submit call per DSA operation: check the arguments, translate the buffers, build the
 * descriptor in the channel's next slot and hand it to idxd_slot_submit() (submit.h).
 * copy, fill and crcgen have an inline fast path in front (end of this file): the same checks,
 * one compare each, the translation inline for a buffer under a 2 MiB translation entry, no
 * call; whatever it does not take goes to the generic path, which checks again and logs why.
 */
#include <errno.h>
#include <string.h>

#define DP_LOG_COMPONENT "idxd"
#include <dmaplane_internal/log.h>
#include <dmaplane_internal/xlate.h>

#include "idxd_internal.h"
#include "submit.h"

/* The descriptor is packed (as <linux/idxd.h> declares it) but lies at the start of a 64-byte
 * aligned slot, and its 8-byte address fields sit at 8-byte offsets: pointers to them are
 * aligned. */
#pragma GCC diagnostic ignored "-Waddress-of-packed-member"

#define OP_FLAGS_KNOWN (DP_IDXD_F_FENCE | DP_IDXD_F_CACHE)

static int bad_args(const char *op, const char *why)
{
	DPI_ERR("dp_idxd_submit_%s: %s", op, why);
	return -EINVAL;
}

DP_STATIC_ASSERT(DP_IDXD_F_FENCE == IDXD_OP_FLAG_FENCE && DP_IDXD_F_CACHE == IDXD_OP_FLAG_CC,
		 "the public operation flags are the descriptor's flag bits");

/* Why op_begin refused: the checks again, with the message. */
static __attribute__((noinline, cold)) int op_begin_fail(struct dp_idxd_chan *ch, const char *name,
							 uint32_t flags, uint32_t len)
{
	if (ch == NULL || (flags & ~OP_FLAGS_KNOWN) != 0)
		return bad_args(name, "NULL channel or unknown flags");
	if (len == 0)
		return bad_args(name, "zero length");
	DPI_ERR("dp_idxd_submit_%s: %u bytes is beyond the WQ's largest transfer (%u): split it",
		name, len, ch->max_xfer);
	return -E2BIG;
}

/* Take a slot and start its descriptor: word 0 (PASID, flags, opcode) and the transfer size,
 * and zero the fields after it (the operation fills those it uses). @sets_addrs: the operation
 * writes both src_addr and dst_addr (their unions) and va[0] and va[1]; else they are zeroed
 * here. The completion address was written at channel creation. */
static inline __attribute__((always_inline)) int op_begin(struct dp_idxd_chan *ch, const char *name,
							  uint8_t opcode, uint32_t flags,
							  uint32_t len, bool need_len,
							  bool sets_addrs, struct idxd_slot **out)
{
	struct idxd_slot *s;
	uint64_t *q;
	int rc;

	*out = NULL; /* a local of the inlined caller: no store */
	/* One compare for "zero length" and "beyond the largest transfer": len - 1 wraps. */
	if (dpi_unlikely(ch == NULL || (flags & ~OP_FLAGS_KNOWN) != 0 ||
			 len - need_len > ch->max_xfer - need_len))
		return op_begin_fail(ch, name, flags, len);
	rc = idxd_slot_get(ch, &s);
	if (dpi_unlikely(rc != 0))
		return rc;
	q = (uint64_t *)(void *)s->d;
	q[0] = ch->w0 | ((uint64_t)(flags | ((uint32_t)opcode << 24)) << 32);
	q[4] = len;
	q[5] = 0;
	q[6] = 0;
	q[7] = 0;
	if (!sets_addrs) {
		q[2] = 0;
		q[3] = 0;
		s->va[0] = 0;
		s->va[1] = 0;
	}
	s->va[2] = 0;
	*out = s;
	return 0;
}

/* op_buf's way when the inline translation misses: NULL, "sw" or SVA (host addresses), 4 KiB
 * entries, buffers across a page, or memory that is not DMA-able (-EFAULT). */
static __attribute__((noinline)) int op_buf_slow(struct dp_idxd_chan *ch, const char *name,
						 const void *p, uint32_t len, uint64_t *iova)
{
	if (p == NULL)
		return bad_args(name, "NULL buffer");
	return idxd_xlate_slow(ch, p, len, iova);
}

/* The inline translation: true with *@iova set for a buffer within one 2 MiB translation
 * entry (dpi_iova_of_hit), or any non-NULL buffer on a host-address channel; false for
 * everything else (the caller takes the slow path, which checks again and says why). */
static inline __attribute__((always_inline)) bool xlate_fast(const struct dp_idxd_chan *ch,
							     const void *p, uint32_t len,
							     uint64_t *iova)
{
	uintptr_t va = (uintptr_t)p;

	if (dpi_unlikely(p == NULL))
		return false;
	if (dpi_unlikely(ch->va_addrs)) {
		*iova = va;
		return true;
	}
	if (dpi_unlikely(((va ^ (va + len - 1)) >> DPI_XLATE_L2_SHIFT) != 0))
		return false;
	return dpi_iova_of_hit(p, iova);
}

/*
 * The translation of the copy/fill/crcgen fast paths: dpi_iova_of_hit() with the NULL check
 * folded into its range check. @map is dpi_xlate.map, loaded once per operation: never NULL on
 * a channel with device (IOVA) addresses, whose rings were translated by dp_iova_of() at
 * creation (lib/iova reserves the map on the first registration and never releases it, so
 * dpi_xlate.slots is DPI_XLATE_SLOTS for good). Level-2 slot 0 (the first 2 MiB, NULL in
 * it) is left to the slow path: a whole 2 MiB entry there would need page 0 mapped, and the
 * slow path checks and translates it anyway. True with *@iova for a buffer of @len_m1 + 1
 * bytes inside one 2 MiB entry; false for everything else.
 */
static inline __attribute__((always_inline)) bool xlate_hit(const uint64_t *map, const void *p,
							    uint32_t len_m1, uint64_t *iova)
{
	uintptr_t va = (uintptr_t)p, i = va >> DPI_XLATE_L2_SHIFT;
	uint64_t e;

	if (dpi_unlikely(((va ^ (va + len_m1)) >> DPI_XLATE_L2_SHIFT) != 0 ||
			 i - 1 >= DPI_XLATE_SLOTS - 1))
		return false;
	e = __atomic_load_n(&map[i], __ATOMIC_ACQUIRE);
	if (dpi_unlikely(!(e & DPI_XLATE_VALID)))
		return false;
	*iova = va + e - DPI_XLATE_VALID;
	return true;
}

static inline __attribute__((always_inline)) const uint64_t *xlate_map(void)
{
	return __atomic_load_n(&dpi_xlate.map, __ATOMIC_ACQUIRE);
}

/* One buffer of a fast path: xlate_hit(), or the host address on a host-address channel. */
static inline __attribute__((always_inline)) bool xlate_one(const struct dp_idxd_chan *ch,
							    const void *p, uint32_t len,
							    uint64_t *iova)
{
	if (dpi_unlikely(ch->va_addrs)) {
		*iova = (uintptr_t)p;
		return p != NULL;
	}
	return xlate_hit(xlate_map(), p, len - 1, iova);
}

/* Translate buffer @p (index @i of the slot's caller pointers) into *@iova. */
static inline __attribute__((always_inline)) int op_buf(struct dp_idxd_chan *ch, struct idxd_slot *s, int i, const char *name,
			 const void *p, uint32_t len, uint64_t *iova)
{
	s->va[i] = (uintptr_t)p;
	if (dpi_likely(xlate_fast(ch, p, len, iova)))
		return 0;
	return op_buf_slow(ch, name, p, len, iova);
}

/*
 * The fast path of copy, fill and crcgen: every check of op_begin, one compare each, and the
 * inline translations; false when any of them says no, and the operation then goes the generic
 * way (op_begin, op_buf), which checks again and says why. The slot is not taken yet.
 */
static inline __attribute__((always_inline)) bool op_fast(struct dp_idxd_chan *ch,
							  uint32_t flags, uint32_t len,
							  struct idxd_slot **out)
{
	if (dpi_unlikely(ch == NULL || (flags & ~OP_FLAGS_KNOWN) != 0 ||
			 len - 1 > ch->max_xfer_m1 || ch->tail == ch->limit))
		return false;
	*out = &ch->slot[ch->tail & ch->mask];
	return true;
}

/* Word 0 of a descriptor. */
static inline __attribute__((always_inline)) uint64_t op_w0(const struct dp_idxd_chan *ch,
							     uint8_t opcode, uint32_t flags)
{
	return ch->w0 | ((uint64_t)(flags | ((uint32_t)opcode << 24)) << 32);
}

int dp_idxd_submit_noop(struct dp_idxd_chan *ch, uint32_t flags, dp_idxd_cb cb, void *arg)
{
	struct idxd_slot *s;
	int rc = op_begin(ch, "noop", DSA_OPCODE_NOOP, flags, 0, false, false, &s);

	return rc != 0 ? rc : idxd_slot_submit(ch, s, cb, arg, 0);
}

int dp_idxd_submit_drain(struct dp_idxd_chan *ch, uint32_t flags, dp_idxd_cb cb, void *arg)
{
	struct idxd_slot *s;
	int rc = op_begin(ch, "drain", DSA_OPCODE_DRAIN, flags, 0, false, false, &s);

	return rc != 0 ? rc : idxd_slot_submit(ch, s, cb, arg, 0);
}

/* The generic path of copy, fill and crcgen (the fast paths are at the end of this file). */
static __attribute__((noinline)) int copy_generic(struct dp_idxd_chan *ch, void *dst,
						  const void *src, uint32_t len, uint32_t flags,
						  dp_idxd_cb cb, void *arg)
{
	struct idxd_slot *s;
	int rc = op_begin(ch, "copy", DSA_OPCODE_MEMMOVE, flags, len, true, true, &s);

	if (dpi_likely(rc == 0))
		rc = op_buf(ch, s, 0, "copy", src, len, &s->d->src_addr);
	if (dpi_likely(rc == 0))
		rc = op_buf(ch, s, 1, "copy", dst, len, &s->d->dst_addr);
	return rc != 0 ? rc : idxd_slot_submit(ch, s, cb, arg, 0);
}

static __attribute__((noinline)) int fill_generic(struct dp_idxd_chan *ch, void *dst,
						  uint64_t pattern, uint32_t len, uint32_t flags,
						  dp_idxd_cb cb, void *arg)
{
	struct idxd_slot *s;
	int rc = op_begin(ch, "fill", DSA_OPCODE_MEMFILL, flags, len, true, false, &s);

	if (rc == 0) {
		s->d->pattern = pattern;
		rc = op_buf(ch, s, 1, "fill", dst, len, &s->d->dst_addr);
	}
	return rc != 0 ? rc : idxd_slot_submit(ch, s, cb, arg, 0);
}

int dp_idxd_submit_compare(struct dp_idxd_chan *ch, const void *src1, const void *src2,
			   uint32_t len, uint32_t flags, dp_idxd_cb cb, void *arg)
{
	struct idxd_slot *s;
	int rc = op_begin(ch, "compare", DSA_OPCODE_COMPARE, flags, len, true, true, &s);

	if (rc == 0)
		rc = op_buf(ch, s, 0, "compare", src1, len, &s->d->src_addr);
	if (rc == 0)
		rc = op_buf(ch, s, 1, "compare", src2, len, &s->d->src2_addr);
	return rc != 0 ? rc : idxd_slot_submit(ch, s, cb, arg, 0);
}

int dp_idxd_submit_compval(struct dp_idxd_chan *ch, const void *src, uint64_t pattern,
			   uint32_t len, uint32_t flags, dp_idxd_cb cb, void *arg)
{
	struct idxd_slot *s;
	int rc = op_begin(ch, "compval", DSA_OPCODE_COMPVAL, flags, len, true, false, &s);

	if (rc == 0) {
		s->d->comp_pattern = pattern;
		rc = op_buf(ch, s, 0, "compval", src, len, &s->d->src_addr);
	}
	return rc != 0 ? rc : idxd_slot_submit(ch, s, cb, arg, 0);
}

int dp_idxd_submit_cr_delta(struct dp_idxd_chan *ch, const void *src1, const void *src2,
			    uint32_t len, void *delta, uint32_t delta_max, uint32_t flags,
			    dp_idxd_cb cb, void *arg)
{
	struct idxd_slot *s;
	int rc;

	if (len % DSA_DELTA_GRANULE != 0 || len > DSA_DELTA_MAX_XFER || delta_max == 0 ||
	    delta_max % DSA_DELTA_ENTRY_SIZE != 0)
		return bad_args("cr_delta", "len must be a multiple of 8 up to 512 KiB and "
					    "delta_max a non-zero multiple of 10");
	rc = op_begin(ch, "cr_delta", DSA_OPCODE_CR_DELTA, flags, len, true, true, &s);
	if (rc == 0)
		rc = op_buf(ch, s, 0, "cr_delta", src1, len, &s->d->src_addr);
	if (rc == 0)
		rc = op_buf(ch, s, 1, "cr_delta", src2, len, &s->d->src2_addr);
	if (rc == 0)
		rc = op_buf(ch, s, 2, "cr_delta", delta, delta_max, &s->d->delta_addr);
	if (rc == 0)
		s->d->max_delta_size = delta_max;
	/* SLOT_CHECK: the poll looks at the result for a delta record overflow */
	return rc != 0 ? rc : idxd_slot_submit(ch, s, cb, arg, SLOT_CHECK);
}

int dp_idxd_submit_ap_delta(struct dp_idxd_chan *ch, void *dst, const void *delta,
			    uint32_t delta_size, uint32_t len, uint32_t flags, dp_idxd_cb cb,
			    void *arg)
{
	struct idxd_slot *s;
	int rc;

	if (len % DSA_DELTA_GRANULE != 0 || len > DSA_DELTA_MAX_XFER || delta_size == 0 ||
	    delta_size % DSA_DELTA_ENTRY_SIZE != 0)
		return bad_args("ap_delta", "len must be a multiple of 8 up to 512 KiB and "
					    "delta_size a non-zero multiple of 10");
	rc = op_begin(ch, "ap_delta", DSA_OPCODE_AP_DELTA, flags, len, true, false, &s);
	if (rc == 0)
		rc = op_buf(ch, s, 2, "ap_delta", delta, delta_size, &s->d->src_addr);
	if (rc == 0)
		rc = op_buf(ch, s, 1, "ap_delta", dst, len, &s->d->dst_addr);
	if (rc == 0)
		s->d->delta_rec_size = delta_size;
	return rc != 0 ? rc : idxd_slot_submit(ch, s, cb, arg, 0);
}

int dp_idxd_submit_dualcast(struct dp_idxd_chan *ch, void *dst1, void *dst2, const void *src,
			    uint32_t len, uint32_t flags, dp_idxd_cb cb, void *arg)
{
	struct idxd_slot *s;
	int rc;

	if ((((uintptr_t)dst1 ^ (uintptr_t)dst2) & DSA_DUALCAST_ALIGN_MASK) != 0)
		return bad_args("dualcast", "dst1 and dst2 must agree in address bits 11:0");
	rc = op_begin(ch, "dualcast", DSA_OPCODE_DUALCAST, flags, len, true, true, &s);
	if (rc == 0)
		rc = op_buf(ch, s, 0, "dualcast", src, len, &s->d->src_addr);
	if (rc == 0)
		rc = op_buf(ch, s, 1, "dualcast", dst1, len, &s->d->dst_addr);
	if (rc == 0)
		rc = op_buf(ch, s, 2, "dualcast", dst2, len, &s->d->dest2);
	if (rc == 0 && ((s->d->dst_addr ^ s->d->dest2) & DSA_DUALCAST_ALIGN_MASK) != 0)
		rc = bad_args("dualcast", "the IOVAs of dst1 and dst2 do not agree in bits 11:0");
	return rc != 0 ? rc : idxd_slot_submit(ch, s, cb, arg, 0);
}

static __attribute__((noinline)) int crcgen_generic(struct dp_idxd_chan *ch, const void *src,
						    uint32_t len, uint32_t seed, uint32_t flags,
						    dp_idxd_cb cb, void *arg)
{
	struct idxd_slot *s;
	int rc = op_begin(ch, "crcgen", DSA_OPCODE_CRCGEN, flags, len, true, false, &s);

	if (rc == 0) {
		s->d->crc_seed = seed;
		rc = op_buf(ch, s, 0, "crcgen", src, len, &s->d->src_addr);
	}
	return rc != 0 ? rc : idxd_slot_submit(ch, s, cb, arg, 0);
}

int dp_idxd_submit_copy_crc(struct dp_idxd_chan *ch, void *dst, const void *src, uint32_t len,
			    uint32_t seed, uint32_t flags, dp_idxd_cb cb, void *arg)
{
	struct idxd_slot *s;
	int rc = op_begin(ch, "copy_crc", DSA_OPCODE_COPY_CRC, flags, len, true, true, &s);

	if (rc == 0) {
		s->d->crc_seed = seed;
		rc = op_buf(ch, s, 0, "copy_crc", src, len, &s->d->src_addr);
	}
	if (rc == 0)
		rc = op_buf(ch, s, 1, "copy_crc", dst, len, &s->d->dst_addr);
	return rc != 0 ? rc : idxd_slot_submit(ch, s, cb, arg, 0);
}

/* ---- DIF --------------------------------------------------------------------------------- */

static int dif_check_args(const char *name, const struct dp_idxd_dif *dif, uint32_t len,
			  bool with_tuples)
{
	uint32_t bs, unit;

	if (dif == NULL || dif->reserved0 != 0)
		return bad_args(name, "NULL DIF parameters or reserved0 set");
	bs = dsa_dif_block_size(dif->op_flags);
	unit = with_tuples ? bs + DSA_DIF_TUPLE_SIZE : bs;
	if (len == 0 || len % unit != 0) {
		DPI_ERR("dp_idxd_submit_%s: len %u is not a whole number of %u-byte blocks%s", name,
			len, bs, with_tuples ? " with their 8-byte tuples" : "");
		return -EINVAL;
	}
	return 0;
}

/* Output bytes of a DIF operation from its source length. */
static uint32_t dif_out_len(uint8_t op_flags, uint32_t len, int change)
{
	uint32_t bs = dsa_dif_block_size(op_flags);

	if (change > 0)
		return len + len / bs * DSA_DIF_TUPLE_SIZE;
	if (change < 0)
		return len - len / (bs + DSA_DIF_TUPLE_SIZE) * DSA_DIF_TUPLE_SIZE;
	return len;
}

int dp_idxd_submit_dif_check(struct dp_idxd_chan *ch, const void *src, uint32_t len,
			     const struct dp_idxd_dif *dif, uint32_t flags, dp_idxd_cb cb,
			     void *arg)
{
	struct idxd_slot *s;
	int rc = dif_check_args("dif_check", dif, len, true);

	if (rc == 0)
		rc = op_begin(ch, "dif_check", DSA_OPCODE_DIF_CHECK, flags, len, true, false, &s);
	if (rc == 0) {
		s->d->src_dif_flags = dif->flags;
		s->d->dif_chk_flags = dif->op_flags;
		s->d->chk_ref_tag_seed = dif->ref_tag;
		s->d->chk_app_tag_mask = dif->app_tag_mask;
		s->d->chk_app_tag_seed = dif->app_tag;
		rc = op_buf(ch, s, 0, "dif_check", src, len, &s->d->src_addr);
	}
	return rc != 0 ? rc : idxd_slot_submit(ch, s, cb, arg, 0);
}

int dp_idxd_submit_dif_insert(struct dp_idxd_chan *ch, void *dst, const void *src,
			      uint32_t len, const struct dp_idxd_dif *dif, uint32_t flags,
			      dp_idxd_cb cb, void *arg)
{
	struct idxd_slot *s;
	int rc = dif_check_args("dif_insert", dif, len, false);

	if (rc == 0)
		rc = op_begin(ch, "dif_insert", DSA_OPCODE_DIF_INS, flags, len, true, true, &s);
	if (rc == 0) {
		s->d->dest_dif_flag = dif->flags;
		s->d->dif_ins_flags = dif->op_flags;
		s->d->ins_ref_tag_seed = dif->ref_tag;
		s->d->ins_app_tag_mask = dif->app_tag_mask;
		s->d->ins_app_tag_seed = dif->app_tag;
		rc = op_buf(ch, s, 0, "dif_insert", src, len, &s->d->src_addr);
	}
	if (rc == 0)
		rc = op_buf(ch, s, 1, "dif_insert", dst, dif_out_len(dif->op_flags, len, 1),
			    &s->d->dst_addr);
	return rc != 0 ? rc : idxd_slot_submit(ch, s, cb, arg, 0);
}

int dp_idxd_submit_dif_strip(struct dp_idxd_chan *ch, void *dst, const void *src,
			     uint32_t len, const struct dp_idxd_dif *dif, uint32_t flags,
			     dp_idxd_cb cb, void *arg)
{
	struct idxd_slot *s;
	int rc = dif_check_args("dif_strip", dif, len, true);

	if (rc == 0)
		rc = op_begin(ch, "dif_strip", DSA_OPCODE_DIF_STRP, flags, len, true, true, &s);
	if (rc == 0) {
		s->d->src_dif_flags = dif->flags;
		s->d->dif_chk_flags = dif->op_flags;
		s->d->chk_ref_tag_seed = dif->ref_tag;
		s->d->chk_app_tag_mask = dif->app_tag_mask;
		s->d->chk_app_tag_seed = dif->app_tag;
		rc = op_buf(ch, s, 0, "dif_strip", src, len, &s->d->src_addr);
	}
	if (rc == 0)
		rc = op_buf(ch, s, 1, "dif_strip", dst, dif_out_len(dif->op_flags, len, -1),
			    &s->d->dst_addr);
	return rc != 0 ? rc : idxd_slot_submit(ch, s, cb, arg, 0);
}

int dp_idxd_submit_dif_update(struct dp_idxd_chan *ch, void *dst, const void *src,
			      uint32_t len, const struct dp_idxd_dif *src_dif,
			      const struct dp_idxd_dif *dst_dif, uint32_t flags, dp_idxd_cb cb,
			      void *arg)
{
	struct idxd_slot *s;
	int rc = dif_check_args("dif_update", src_dif, len, true);

	if (rc == 0 && (dst_dif == NULL || dst_dif->reserved0 != 0))
		rc = bad_args("dif_update", "NULL destination DIF parameters or reserved0 set");
	if (rc == 0)
		rc = op_begin(ch, "dif_update", DSA_OPCODE_DIF_UPDT, flags, len, true, true, &s);
	if (rc == 0) {
		s->d->src_upd_flags = src_dif->flags;
		s->d->upd_dest_flags = dst_dif->flags;
		s->d->dif_upd_flags = src_dif->op_flags;
		s->d->src_ref_tag_seed = src_dif->ref_tag;
		s->d->src_app_tag_mask = src_dif->app_tag_mask;
		s->d->src_app_tag_seed = src_dif->app_tag;
		s->d->dest_ref_tag_seed = dst_dif->ref_tag;
		s->d->dest_app_tag_mask = dst_dif->app_tag_mask;
		s->d->dest_app_tag_seed = dst_dif->app_tag;
		rc = op_buf(ch, s, 0, "dif_update", src, len, &s->d->src_addr);
	}
	if (rc == 0)
		rc = op_buf(ch, s, 1, "dif_update", dst, len, &s->d->dst_addr);
	return rc != 0 ? rc : idxd_slot_submit(ch, s, cb, arg, 0);
}

int dp_idxd_submit_cflush(struct dp_idxd_chan *ch, void *dst, uint32_t len, uint32_t flags,
			  dp_idxd_cb cb, void *arg)
{
	struct idxd_slot *s;
	int rc = op_begin(ch, "cflush", DSA_OPCODE_CFLUSH, flags, len, true, false, &s);

	if (rc == 0)
		rc = op_buf(ch, s, 1, "cflush", dst, len, &s->d->dst_addr);
	return rc != 0 ? rc : idxd_slot_submit(ch, s, cb, arg, 0);
}

/* ---- fast paths: copy, fill, crcgen ------------------------------------------------------ */

/* copy_generic() with the arguments dp_idxd_submit_copy() left in slot @s (before taking
 * it), so that its fast path keeps fewer values live. */
static __attribute__((noinline)) int copy_from_slot(struct dp_idxd_chan *ch,
						    const struct idxd_slot *s, uint32_t len,
						    uint32_t flags)
{
	return copy_generic(ch, (void *)s->va[1], (const void *)s->va[0], len, flags, s->cb,
			    s->arg);
}

int dp_idxd_submit_copy(struct dp_idxd_chan *ch, void *dst, const void *src, uint32_t len,
			uint32_t flags, dp_idxd_cb cb, void *arg)
{
	struct idxd_slot *s;
	const uint64_t *map;
	uint64_t sa, da, *q;

	if (dpi_unlikely(!op_fast(ch, flags, len, &s)))
		return copy_generic(ch, dst, src, len, flags, cb, arg);
	/* The slot is not taken yet: the generic path may still fill it. */
	s->cb = cb;
	s->arg = arg;
	s->va[0] = (uintptr_t)src;
	s->va[1] = (uintptr_t)dst;
	s->va[2] = 0;
	if (dpi_likely(!ch->va_addrs)) {
		map = xlate_map();
		if (dpi_unlikely(!xlate_hit(map, src, len - 1, &sa) ||
				 !xlate_hit(map, dst, len - 1, &da)))
			return copy_from_slot(ch, s, len, flags);
	} else {
		if (dpi_unlikely(src == NULL || dst == NULL))
			return copy_from_slot(ch, s, len, flags);
		sa = (uintptr_t)src;
		da = (uintptr_t)dst;
	}
	q = (uint64_t *)(void *)s->d;
	q[0] = op_w0(ch, DSA_OPCODE_MEMMOVE, flags);
	q[2] = sa;
	q[3] = da;
	q[4] = len;
	q[5] = 0;
	q[6] = 0;
	q[7] = 0;
	return idxd_slot_publish(ch, s, 0);
}

int dp_idxd_submit_fill(struct dp_idxd_chan *ch, void *dst, uint64_t pattern, uint32_t len,
			uint32_t flags, dp_idxd_cb cb, void *arg)
{
	struct idxd_slot *s;
	uint64_t da, *q;

	if (dpi_unlikely(!op_fast(ch, flags, len, &s) || !xlate_one(ch, dst, len, &da)))
		return fill_generic(ch, dst, pattern, len, flags, cb, arg);
	q = (uint64_t *)(void *)s->d;
	q[0] = op_w0(ch, DSA_OPCODE_MEMFILL, flags);
	q[2] = pattern;
	q[3] = da;
	q[4] = len;
	q[5] = 0;
	q[6] = 0;
	q[7] = 0;
	s->va[0] = 0;
	s->va[1] = (uintptr_t)dst;
	s->va[2] = 0;
	return idxd_slot_submit(ch, s, cb, arg, 0);
}

int dp_idxd_submit_crcgen(struct dp_idxd_chan *ch, const void *src, uint32_t len,
			  uint32_t seed, uint32_t flags, dp_idxd_cb cb, void *arg)
{
	struct idxd_slot *s;
	uint64_t sa, *q;

	if (dpi_unlikely(!op_fast(ch, flags, len, &s) || !xlate_one(ch, src, len, &sa)))
		return crcgen_generic(ch, src, len, seed, flags, cb, arg);
	q = (uint64_t *)(void *)s->d;
	q[0] = op_w0(ch, DSA_OPCODE_CRCGEN, flags);
	q[2] = sa;
	q[3] = 0;
	q[4] = len;
	q[5] = seed; /* crc_seed, crc_rsvd 0 */
	q[6] = 0;    /* seed_addr */
	q[7] = 0;
	s->va[0] = (uintptr_t)src;
	s->va[1] = 0;
	s->va[2] = 0;
	return idxd_slot_submit(ch, s, cb, arg, 0);
}
