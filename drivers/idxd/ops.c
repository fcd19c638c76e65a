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

/* The argument checks of the fast paths (single and batch calls): known flags, and a length
 * from 1 to the WQ's largest transfer (one compare: len - 1 wraps). */
static inline __attribute__((always_inline)) bool op_args_ok(uint32_t max_xfer_m1,
							     uint32_t flags, uint32_t len)
{
	return ((flags & ~OP_FLAGS_KNOWN) | (uint32_t)(len - 1 > max_xfer_m1)) == 0;
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
	if (dpi_unlikely(ch == NULL || !op_args_ok(ch->max_xfer_m1, flags, len) || ch->tail == ch->limit))
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

/* The source-side (check) DIF fields of a DIF Check or DIF Strip descriptor. */
static void dif_set_check(struct dsa_hw_desc *d, const struct dp_idxd_dif *dif)
{
	d->src_dif_flags = dif->flags;
	d->dif_chk_flags = dif->op_flags;
	d->chk_ref_tag_seed = dif->ref_tag;
	d->chk_app_tag_mask = dif->app_tag_mask;
	d->chk_app_tag_seed = dif->app_tag;
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
		dif_set_check(s->d, dif);
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
		dif_set_check(s->d, dif);
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

/* ---- batch calls ------------------------------------------------------------------------- */

/* Why member @k of a batch call was refused: its checks again, with one log line. */
static __attribute__((noinline, cold)) int member_fail(const struct dp_idxd_chan *ch,
						       const char *name, uint32_t k,
						       const void *p1, const void *p2,
						       uint32_t len, uint32_t flags)
{
	const void *p[2] = {p1, p2};
	uint64_t iova;
	size_t contig;

	if ((flags & ~OP_FLAGS_KNOWN) != 0 || len == 0 || p1 == NULL || p2 == NULL) {
		DPI_ERR("dp_idxd_submit_%s_batch: operation %u: %s; nothing was submitted", name, k,
			(flags & ~OP_FLAGS_KNOWN) != 0 ? "unknown flags"
			: len == 0		      ? "zero length"
						      : "NULL buffer");
		return -EINVAL;
	}
	if (len - 1 > ch->max_xfer_m1) {
		DPI_ERR("dp_idxd_submit_%s_batch: operation %u: %u bytes is beyond the WQ's largest "
			"transfer (%u): split it; nothing was submitted", name, k, len, ch->max_xfer);
		return -E2BIG;
	}
	for (int i = 0; i < 2; i++) {
		if (idxd_xlate_quiet(ch, p[i], len, &iova, &contig) != 0) {
			DPI_ERR("dp_idxd_submit_%s_batch: operation %u: buffer %p %s: allocate it "
				"with dp_dma_alloc() or register it with dp_mem_register() (one "
				"allocation or registration); nothing was submitted", name, k, p[i],
				contig == 0 ? "is not DMA-able" : "is not contiguous in IOVA space");
			return -EFAULT;
		}
	}
	DPI_ERR("dp_idxd_submit_%s_batch: operation %u: its buffers changed while being checked; "
		"nothing was submitted", name, k);
	return -EFAULT;
}

/*
 * The translation of a batch call's members: the last translated range of each buffer kind
 * (sources, destinations), [lo, lo + span) at iova = va + delta: a member inside it (which is
 * typical: the buffers of one batch tend to sit in one allocation) costs a subtract and two
 * compares. span 0: nothing yet. On a host-address channel the range is all but NULL.
 */
struct xcache {
	uintptr_t lo, span;
	uint64_t delta;
};

static inline __attribute__((always_inline)) void xcache_init(const struct dp_idxd_chan *ch,
							      struct xcache *c)
{
	c->lo = 1;
	c->span = ch->va_addrs ? UINTPTR_MAX : 0; /* va - 1 < span: any but NULL */
	c->delta = 0;
}

static inline __attribute__((always_inline)) bool xcache_hit(const struct xcache *c,
							     uintptr_t va, uint32_t len_m1,
							     uint64_t *iova)
{
	uintptr_t off = va - c->lo;

	if (dpi_unlikely(off >= c->span || off + len_m1 >= c->span))
		return false;
	*iova = va + c->delta;
	return true;
}

/* A member's buffer outside the cached range: translate it (a 2 MiB entry inline, else
 * dp_iova_of) and cache what it lies in. The IOVA, or DP_IOVA_INVALID for a bad buffer
 * (member_fail says why). */
static __attribute__((noinline)) uint64_t member_xlate(const struct dp_idxd_chan *ch,
						       struct xcache *c, const void *p,
						       uint32_t len)
{
	uintptr_t va = (uintptr_t)p;
	uint64_t iova;
	size_t contig;

	if (p == NULL)
		return DP_IOVA_INVALID;
	if (ch->va_addrs) /* outside the cache only when va + len wraps: let it fail */
		return va + len - 1 < va ? DP_IOVA_INVALID : va;
	if (xlate_hit(xlate_map(), p, len - 1, &iova)) {
		c->lo = va & ~(((uintptr_t)1 << DPI_XLATE_L2_SHIFT) - 1);
		c->span = (uintptr_t)1 << DPI_XLATE_L2_SHIFT;
		c->delta = iova - va;
		return iova;
	}
	if (idxd_xlate_quiet(ch, p, len, &iova, &contig) != 0)
		return DP_IOVA_INVALID;
	c->lo = va;
	c->span = contig;
	c->delta = iova - va;
	return iova;
}

static __attribute__((noinline, cold)) int batch_args_fail(const struct dp_idxd_chan *ch,
							   const char *name, const void *ops,
							   uint32_t n)
{
	if (ch == NULL || ops == NULL || n == 0) {
		DPI_ERR("dp_idxd_submit_%s_batch: NULL channel or operations, or no operation", name);
		return -EINVAL;
	}
	DPI_ERR("dp_idxd_submit_%s_batch: %u operations is beyond the WQ's largest batch (%u): "
		"split it", name, n, ch->wq_max_batch);
	return -E2BIG;
}

/*
 * Batch calls write their members straight into the descriptors of the slots after the BATCH
 * slot (its list), each with a completion record address but no request for one: a member
 * that succeeds writes nothing, one that fails writes its record (CRAV without RCR), and the
 * batch's record says whether any did. va[0..1] keep the caller's pointers for page faults.
 */

/* Write member @k's descriptor @q and caller pointers (slot @s) as the fast loop does: va[0..1]
 * = (dst, src), in the order of struct dp_idxd_copy_desc. */
static inline __attribute__((always_inline)) void copy_member_put(uint64_t *q, struct idxd_slot *s,
								  uint64_t w0, uint32_t flags,
								  uint32_t len, uintptr_t src,
								  uintptr_t dst, uint64_t sa,
								  uint64_t da)
{
	q[0] = w0 | ((uint64_t)flags << 32);
	q[2] = sa;
	q[3] = da;
	q[4] = len;
	q[5] = 0;
	q[6] = 0;
	q[7] = 0;
	s->va[0] = dst; /* the caller's order: group_done() swaps them when it needs them */
	s->va[1] = src;
}

/* A member the loop did not take (a buffer outside the cached ranges, or bad): translate its
 * buffers (refilling the caches) and write it, or refuse it. 0; an errno (logged). */
static __attribute__((noinline)) int copy_member_slow(const struct dp_idxd_chan *ch,
						      const struct dp_idxd_copy_desc *op,
						      uint32_t k, struct xcache *sc,
						      struct xcache *dc, uint64_t *q,
						      struct idxd_slot *s, uint64_t w0)
{
	uint32_t len = op->len, flags = op->flags;
	uint64_t sa, da;

	if (!op_args_ok(ch->max_xfer_m1, flags, len))
		return member_fail(ch, "copy", k, op->dst, op->src, len, flags);
	if (!xcache_hit(sc, (uintptr_t)op->src, len - 1, &sa))
		sa = member_xlate(ch, sc, op->src, len);
	if (!xcache_hit(dc, (uintptr_t)op->dst, len - 1, &da))
		da = member_xlate(ch, dc, op->dst, len);
	if (sa == DP_IOVA_INVALID || da == DP_IOVA_INVALID)
		return member_fail(ch, "copy", k, op->dst, op->src, len, flags);
	copy_member_put(q, s, w0, flags, len, (uintptr_t)op->src, (uintptr_t)op->dst, sa, da);
	return 0;
}

/*
 * The fast loop's translation: the 2 MiB translation entry the last source (destination) lay
 * in, as its base address and iova - va, set from member 0 (xlate_hit) and refilled by
 * copy_member_slow(). A buffer within it costs a subtract, an or and a shift.
 */
typedef uint64_t v2u64 __attribute__((vector_size(16), aligned(16)));

DP_STATIC_ASSERT(offsetof(struct dp_idxd_copy_desc, flags) ==
			 offsetof(struct dp_idxd_copy_desc, len) + 4 &&
		 offsetof(struct dp_idxd_copy_desc, len) % 8 == 0,
		 "len and flags form one little-endian 8-byte word");

struct xent {
	uintptr_t base; /* 2 MiB aligned */
	uint64_t ibase; /* its IOVA */
};

/* Fill @x from the entry @p lies in, with no check on its length: the loop checks that. */
static inline __attribute__((always_inline)) bool xent_fill(const uint64_t *map, struct xent *x,
							    const void *p)
{
	uintptr_t i = (uintptr_t)p >> DPI_XLATE_L2_SHIFT;
	uint64_t e;

	if (dpi_unlikely(i - 1 >= DPI_XLATE_SLOTS - 1)) /* slot 0 (NULL) and beyond the map */
		return false;
	e = __atomic_load_n(&map[i], __ATOMIC_ACQUIRE);
	if (dpi_unlikely(!(e & DPI_XLATE_VALID)))
		return false;
	x->base = i << DPI_XLATE_L2_SHIFT;
	x->ibase = x->base + e - DPI_XLATE_VALID;
	return true;
}

/* copy_member_slow() for the fast loop: refill its entries from what the member hits. */
static __attribute__((noinline)) int copy_member_refill(const struct dp_idxd_chan *ch,
							const struct dp_idxd_copy_desc *op,
							uint32_t k, struct xent *xs, struct xent *xd,
							uint64_t *q, struct idxd_slot *s, uint64_t w0)
{
	struct xcache sc, dc;
	int rc;

	xcache_init(ch, &sc);
	xcache_init(ch, &dc);
	rc = copy_member_slow(ch, op, k, &sc, &dc, q, s, w0);
	if (rc == 0) {
		const uint64_t *map = xlate_map();

		xent_fill(map, xs, op->src);
		xent_fill(map, xd, op->dst);
	}
	return rc;
}

/*
 * Members go into the descriptors after the BATCH slot. On a channel with IOVAs whose largest
 * transfer is 2 MiB or more (so that "inside one 2 MiB entry" implies "length 1..max"), the
 * fast loop checks the flags and that both buffers lie in the cached entries, and writes; any
 * member it does not take goes to copy_member_refill(), which checks everything and says why.
 * Other channels take every member through copy_member_slow().
 */
/* GCC's SLP vectorizer packs the member's two pointers into a vector register and takes them
 * out again one by one: more instructions than the scalar loop. */
#if defined(__GNUC__) && !defined(__clang__)
#define OPS_NO_SLP __attribute__((optimize("no-tree-slp-vectorize")))
#else
#define OPS_NO_SLP
#endif

/* Writes batch member descriptor q (a copy: sa to da) and its slot's caller pointers, sd bytes
 * from q, with zero an all-zero vector held in a register. */
static inline __attribute__((always_inline)) void
copy_member_store(const struct dp_idxd_copy_desc *op, uint64_t *q, uint64_t w0, uint32_t flags,
		  uint32_t len, uint64_t sa, uint64_t da, intptr_t sd, v2u64 zero)
{
	v2u64 pair;

	q[0] = w0 | ((uint64_t)flags << 32);
	q[2] = sa;
	q[3] = da;
	/* xfer_size, then zeros to the end (int_handle, reserved, the operation-specific
	 * words): two overlapping 16-byte stores */
	((uint32_t *)q)[8] = len;
	memcpy((uint8_t *)q + 36, &zero, sizeof(zero));
	memcpy((uint8_t *)q + 48, &zero, sizeof(zero));
	/* va[0..1] = (dst, src) as the caller laid them out: group_done() puts them in
	 * slot order when it needs them (page faults) */
	memcpy(&pair, op, sizeof(pair));
	memcpy((void *)((uintptr_t)q + sd), &pair, sizeof(pair));
}

/* One member of dp_idxd_submit_copy_batch()'s fast path: false (nothing written) when its
 * flags are unknown or a range leaves the 2 MiB entries xs, xd: copy_member_refill() then
 * checks and translates it. */
static inline __attribute__((always_inline)) bool
copy_member_fast(const struct dp_idxd_copy_desc *op, uint64_t *q, const struct xent *xs,
		 const struct xent *xd, uint64_t w0, intptr_t sd, v2u64 zero)
{
	uintptr_t so = (uintptr_t)op->src - xs->base;
	uintptr_t dof = (uintptr_t)op->dst - xd->base;
	uint32_t len = op->len, flags = op->flags, lm1 = len - 1;

	/* opaque: the IOVAs come from the offsets (so + ibase), not from the pointers
	 * again, which would keep both live */
	__asm__("" : "+r"(so), "+r"(dof));
	if (dpi_unlikely((flags & ~OP_FLAGS_KNOWN) != 0 ||
			 ((so | (so + lm1) | dof | (dof + lm1)) >> DPI_XLATE_L2_SHIFT) != 0))
		return false;
	copy_member_store(op, q, w0, flags, len, so + xs->ibase, dof + xd->ibase, sd, zero);
	return true;
}

int dp_idxd_submit_copy_batch(struct dp_idxd_chan *ch,
					 const struct dp_idxd_copy_desc *ops, uint32_t n,
					 dp_idxd_cb cb, void *arg)
{
	struct idxd_slot *slot;
	uint64_t w0, (*dq)[8];
	uint32_t gseq, m, first, k = 0;
	struct xent xs, xd;
	const uint64_t *map;
	int rc;

	if (dpi_unlikely(ch == NULL || ops == NULL || n - 1 >= ch->wq_max_batch))
		return batch_args_fail(ch, "copy", ops, n);
	m = n < DSA_BATCH_MIN ? DSA_BATCH_MIN : n;
	rc = idxd_group_take(ch, m, &gseq);
	if (dpi_unlikely(rc != 0))
		return rc;
	first = (gseq + 1) & ch->mask;
	slot = &ch->slot[first];
	dq = (uint64_t (*)[8])(void *)&ch->desc[first];
	w0 = (ch->w0 & ~((uint64_t)IDXD_OP_FLAG_RCR << 32)) | ((uint64_t)DSA_OPCODE_MEMMOVE << 56);
	map = xlate_map();
	if (dpi_likely(!ch->va_addrs && ch->max_xfer_m1 >= (1u << DPI_XLATE_L2_SHIFT) - 1 &&
		       xent_fill(map, &xs, ops[0].src) && xent_fill(map, &xd, ops[0].dst))) {
		const struct dp_idxd_copy_desc *op = ops, *end = ops + n;
		uint64_t *q = dq[0];
		/* slot k's caller pointers, from descriptor k's address */
		intptr_t sd = (intptr_t)((uintptr_t)&slot[0].va[0] - (uintptr_t)q);

		/* opaque, so the zero stays in a register instead of a pxor per member */
		v2u64 zero = {0, 0};

		__asm__("" : "+x"(zero));
		while (op != end) {
			/* two members a turn (one set of pointer steps and one loop test for
			 * both); xs, xd are read from memory in the loop (copy_member_refill()
			 * takes their addresses): memory operands, not registers, which run short */
			const struct dp_idxd_copy_desc *end1 = end - 1;

			for (; op < end1; op += 2, q += 16) {
				if (dpi_unlikely(!copy_member_fast(op, q, &xs, &xd, w0, sd, zero)))
					goto refill;
				if (dpi_unlikely(!copy_member_fast(op + 1, q + 8, &xs, &xd, w0, sd, zero))) {
					op++;
					q += 8;
					goto refill;
				}
			}
			if (op != end && copy_member_fast(op, q, &xs, &xd, w0, sd, zero)) {
				op++;
				q += 8;
			}
refill:
			if (op != end) {
				k = (uint32_t)(op - ops);
				rc = copy_member_refill(ch, op, k, &xs, &xd, q, &slot[k], w0);
				if (rc != 0)
					return rc;
				op++;
				q += 8;
			}
		}
	} else if (ch->va_addrs) {
		/* host addresses: the checks of dp_idxd_submit_copy() (op_args_ok(), written out
		 * as one branch each) and the pointers as they are */
		const struct dp_idxd_copy_desc *op = ops, *end = ops + n;
		uint64_t *q = dq[0];
		intptr_t sd = (intptr_t)((uintptr_t)&slot[0].va[0] - (uintptr_t)q);
		uint32_t xfer_m1 = ch->max_xfer_m1;
		v2u64 zero = {0, 0};

		__asm__("" : "+x"(zero));
		for (; op != end; op++, q += 8) {
			uintptr_t src = (uintptr_t)op->src, dst = (uintptr_t)op->dst;
			uint32_t len = op->len, flags = op->flags;

			if (dpi_unlikely((flags & ~OP_FLAGS_KNOWN) != 0 || len - 1 > xfer_m1 ||
					 src == 0 || dst == 0)) {
				k = (uint32_t)(op - ops);
				return member_fail(ch, "copy", k, op->dst, op->src, len, flags);
			}
			copy_member_store(op, q, w0, flags, len, src, dst, sd, zero);
		}
	} else {
		struct xcache sc, dc;

		xcache_init(ch, &sc);
		xcache_init(ch, &dc);
		for (k = 0; k < n; k++) {
			rc = copy_member_slow(ch, &ops[k], k, &sc, &dc, dq[k], &slot[k], w0);
			if (rc != 0)
				return rc;
		}
	}
	if (n < DSA_BATCH_MIN) {
		/* a batch holds two descriptors at least: a NOOP (no callback, no record) */
		uint64_t *q = dq[1];

		q[0] = ch->w0 & ~((uint64_t)IDXD_OP_FLAG_RCR << 32); /* opcode 0: NOOP */
		for (int i = 2; i < 8; i++)
			q[i] = 0;
		slot[1].va[0] = 0;
		slot[1].va[1] = 0;
	}
	return idxd_group_commit(ch, gseq, m, n, cb, arg);
}
