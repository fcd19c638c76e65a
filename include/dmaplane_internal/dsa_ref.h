/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * CPU reference implementation of every DSA operation (lib/sim/dsa_ref.c).
 *
 * Used as the engine of the lib/sim DSA model, as drivers/idxd's software fallback and as the
 * oracle of tests. One call, dpi_dsa_ref_exec(), runs one descriptor exactly as the device
 * would: it validates the descriptor (reserved fields, flags, sizes), reaches memory only
 * through a caller-supplied accessor, fills the completion record and returns the status code
 * (DSA_COMP_*) it put there. It never writes the record to memory: the caller decides where
 * the record goes (the model DMAs it, the fallback stores it).
 *
 * Addresses in the descriptor are whatever the accessor understands: dpi_dsa_mem_identity
 * treats them as host pointers; the model's accessor treats them as IOVAs. The accessor is
 * called once per operand for its whole range, so operands must be contiguous for it.
 *
 * Conventions beyond the specification (documented in idxd_spec.h where they are ours):
 *  - xfer_size 0 is accepted and completes with nothing accessed.
 *  - MEMMOVE is overlap-safe (GENCAP.OVERLAP_COPY); DUALCAST, COPY_CRC, DIF_* with
 *    overlapping source and destination, CR_DELTA with the delta record over a source and
 *    AP_DELTA with the record over the destination report DSA_COMP_OVERLAP_BUFFERS.
 *  - CRC-32C (Castagnoli, reflected, poly 0x82f63b78): seed is the running CRC of the data
 *    before this buffer (0 to start), result the CRC including it, so
 *    crc(A || B) = crcgen(B, seed = crcgen(A, 0)); crcgen("123456789", 0) = 0xe3069283.
 *  - AP_DELTA checks the whole delta record before changing the destination.
 *  - BATCH members are run in order; a member's record is written through the accessor at its
 *    completion address when it asks for one (CRAV and RCR, or an error with CRAV).
 *
 * Thread rules: pure functions of their arguments; safe from any thread.
 */
#ifndef DMAPLANE_INTERNAL_DSA_REF_H
#define DMAPLANE_INTERNAL_DSA_REF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <dmaplane_internal/idxd_spec.h>

/* Memory accessor: a host pointer for [addr, addr + len) with read (write = false) or write
 * access, or NULL when the range cannot be accessed (the operation then reports
 * DSA_COMP_PAGE_FAULT_NOBOF with bytes_completed 0 and fault_addr = addr). */
struct dpi_dsa_mem {
	void *(*ptr)(void *ctx, uint64_t addr, size_t len, bool write);
	void *ctx;
};

/* Addresses are host pointers. */
extern const struct dpi_dsa_mem dpi_dsa_mem_identity;

/* Device limits the reference enforces, as the capability registers state them. */
struct dpi_dsa_limits {
	uint32_t max_xfer;  /* bytes; a larger xfer_size -> DSA_COMP_XFER_ERANGE */
	uint32_t max_batch; /* descriptors; a larger desc_count -> DSA_COMP_DESC_CNT_ERANGE */
};

/*
 * Run descriptor @d. @lim may be NULL (2 MiB transfers, 1024-descriptor batches). Fills *cr
 * completely (status included) and returns cr->status & DSA_COMP_STATUS_MASK:
 * DSA_COMP_SUCCESS, or the error status, e.g. DSA_COMP_BAD_OPCODE, DSA_COMP_INVALID_FLAGS
 * (cr->invalid_flags says which), DSA_COMP_NOZERO_RESERVE, DSA_COMP_XFER_ERANGE,
 * DSA_COMP_DIF_ERR (cr->dif_status), DSA_COMP_DR_*, DSA_COMP_DCAST_ERR,
 * DSA_COMP_OVERLAP_BUFFERS, DSA_COMP_PAGE_FAULT_NOBOF (the accessor refused an operand),
 * DSA_COMP_BATCH_FAIL (a member failed; cr->bytes_completed = members that succeeded).
 * Results: COMPARE/COMPVAL/CR_DELTA set cr->result; CRCGEN/COPY_CRC cr->crc_val;
 * CR_DELTA cr->delta_rec_size; DIF_* the tag fields.
 */
uint8_t dpi_dsa_ref_exec(const struct dsa_hw_desc *d, const struct dpi_dsa_mem *mem,
			 const struct dpi_dsa_limits *lim, struct dsa_completion_record *cr);

/*
 * Checks a descriptor without touching memory: reserved fields, flags, opcode, sizes,
 * alignment rules and buffers that must not overlap (all on the whole descriptor, so a
 * caller that then runs only a reachable prefix reports these errors as the device would). Returns 0 when valid, else the status code, with *invalid_flags (may be
 * NULL) set to the offending flag bits for DSA_COMP_INVALID_FLAGS. dpi_dsa_ref_exec runs it
 * first; the model also uses it to decide between a completion record and SWERR.
 */
uint8_t dpi_dsa_ref_validate(const struct dsa_hw_desc *d, const struct dpi_dsa_limits *lim,
			     uint32_t *invalid_flags);

/*
 * Operands of a descriptor, so that a caller (the model) can find how much of it is
 * reachable before running it. For each operand: address, length, whether the operation
 * writes it, and its "unit": the operand advances op_unit bytes per src_unit bytes of
 * xfer_size (DIF insert: source 512 -> destination 520). Operands whose length does not
 * scale with xfer_size (delta record output, CRC seed) have src_unit 0: they are needed whole.
 * Returns the number of operands (0..4).
 */
struct dpi_dsa_operand {
	uint64_t addr;
	uint64_t len;
	bool write;
	uint32_t src_unit;
	uint32_t op_unit;
};
uint32_t dpi_dsa_ref_operands(const struct dsa_hw_desc *d, struct dpi_dsa_operand ops[4]);

/* Granule of partial completion in source bytes (1 for byte streams, 8 for delta, the DIF
 * source block size for DIF operations, 0 when the operation cannot complete partially). */
uint32_t dpi_dsa_ref_granule(const struct dsa_hw_desc *d);

/* CRC-32C (reflected, poly 0x82f63b78) continuing from @crc (0 to start). */
uint32_t dpi_crc32c(uint32_t crc, const void *buf, size_t len);
/* CRC-16 T10-DIF (poly 0x8bb7, not reflected) continuing from raw register value @crc. */
uint16_t dpi_crc16_t10dif(uint16_t crc, const void *buf, size_t len);

#endif /* DMAPLANE_INTERNAL_DSA_REF_H */
