/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * lib/sim: a software IOMMU and a bus of device models, so that every dmaplane feature runs on
 * a machine without the hardware. Device models DMA only through the sim IOMMU: a wrong IOVA
 * faults and is logged, exactly where real hardware would fault.
 *
 * The sim IOMMU
 *  - domain: one I/O address space, a real 4-level x86-style page table in memory (4 KiB PTEs,
 *    2 MiB and 1 GiB leaves where the mapping allows), translating IOVA -> host virtual address
 *    (the "physical" address of a userspace model), with an address width (39, 48 or 57 bits)
 *    that bounds the usable IOVA range.
 *  - requester: a device function (like a PCI RID). It attaches a domain for requests without
 *    PASID and one domain per PASID. Each requester has an IOTLB that caches translations and
 *    forgets them only on invalidation: unmapping from a domain invalidates the IOTLB of every
 *    requester attached to it. A test hook can suppress that invalidation, so a missing
 *    invalidation shows up as a device reading through a stale translation.
 *  - fault log: every blocked DMA (no domain, not present, permission, beyond the address width)
 *    is recorded with requester, PASID, IOVA, access and reason.
 *
 * Thread rules: domains and requesters are safe to use from several threads (an internal lock
 * per domain serialises map/unmap against walks; IOTLBs are per requester and locked).
 */
#ifndef DMAPLANE_INTERNAL_SIM_H
#define DMAPLANE_INTERNAL_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <dmaplane/iova.h>

/* ---- domains -------------------------------------------------------------------------------- */

struct dpi_sim_domain;

#define DPI_SIM_ACCESS_READ (1u << 0)  /* the device reads memory */
#define DPI_SIM_ACCESS_WRITE (1u << 1) /* the device writes memory */

/* aw_bits: 39, 48 or 57. Returns 0; -EINVAL; -ENOMEM. */
int dpi_sim_domain_create(uint32_t aw_bits, struct dpi_sim_domain **domain);
/* Frees page-table pages; invalidates and detaches every requester still attached. */
void dpi_sim_domain_destroy(struct dpi_sim_domain *domain);
/* Highest usable IOVA (2^aw_bits - 1). */
uint64_t dpi_sim_domain_last_iova(const struct dpi_sim_domain *domain);

/*
 * Map [iova, iova+len) -> [va, va+len) with prot (DP_MAP_READ/WRITE as DPI_SIM_ACCESS bits:
 * READ lets the device read memory, WRITE lets it write). 4 KiB aligned. Uses 2 MiB / 1 GiB
 * leaves where iova, va and length allow.
 * Returns 0; -EINVAL (alignment, zero length, no prot); -ERANGE (beyond the address width);
 * -EEXIST (any page already mapped: nothing changes); -ENOMEM (nothing changes).
 */
int dpi_sim_domain_map(struct dpi_sim_domain *domain, uint64_t iova, void *va, size_t len,
		       uint32_t prot);

/*
 * Unmap [iova, iova+len) and invalidate the IOTLBs of attached requesters. Splits large leaves
 * when the range covers part of one. Returns 0; -EINVAL (alignment); -ENOENT (some page in the
 * range is not mapped: nothing changes); -ENOMEM (a split needed a table page).
 */
int dpi_sim_domain_unmap(struct dpi_sim_domain *domain, uint64_t iova, size_t len);

/* Walk the page table (no IOTLB). Returns 0 with *va and the bytes mapped contiguously from
 * iova (to the end of the leaf) in *contig; -ENOENT not mapped; -EACCES prot mismatch. */
int dpi_sim_domain_translate(struct dpi_sim_domain *domain, uint64_t iova, uint32_t access,
			     void **va, size_t *contig);

/* Bytes mapped, and page-table pages in use (tests check teardown frees them). */
uint64_t dpi_sim_domain_mapped_bytes(const struct dpi_sim_domain *domain);
uint64_t dpi_sim_domain_table_pages(const struct dpi_sim_domain *domain);

/* ---- nested domains: a user-owned stage-1 table over a stage-2 parent ------------------------ */
/*
 * A nested domain translates through a VT-d first-stage page table that the user writes in its
 * own memory (dmaplane_internal/stage1.h has the format) whose root lies at stage-2 address
 * s1_root; every table pointer and every leaf output is a stage-2 address translated through
 * @parent (a plain domain). Requesters attach it like any domain (also per PASID). DMA misses
 * walk both stages and cache the combined translation (the smaller of the two leaves) in the
 * requester's IOTLB, which forgets it only on the stage-1 invalidation entries it receives
 * through dpi_sim_domain_s1_invalidate (changes to the user's table alone change nothing a
 * cached translation says: as on hardware). The parent cannot be unmapped under cached
 * translations safely: the owner invalidates stage 1 first (the nested backend does).
 * dpi_sim_domain_map/unmap on a nested domain fail with -EINVAL.
 * Returns 0; -EINVAL (NULL, parent nested itself, root not 4 KiB aligned); -ENOMEM.
 */
struct iommu_hwpt_vtd_s1_invalidate;
int dpi_sim_domain_create_nested(struct dpi_sim_domain *parent, uint64_t s1_root,
				 struct dpi_sim_domain **domain);

/*
 * The sim's IOMMU_HWPT_INVALIDATE for a nested domain: process entries in order, each
 * invalidating [addr, addr + npages * 4 KiB) (addr 0 with npages UINT64_MAX: everything) in the
 * IOTLBs of every (requester, PASID) the domain is attached to. *num in: entries; out: entries
 * handled. Returns 0 (also when the stop-after hook made it handle fewer); -EINVAL (NULL; or an
 * entry with addr not 4 KiB aligned, npages 0, or a range that wraps: *num stops before it);
 * -EOPNOTSUPP (unknown flags or reserved bits set in an entry: *num stops before it).
 * While dpi_sim_iommu_skip_invalidation(true) is set, entries are counted handled and nothing
 * is forgotten.
 */
int dpi_sim_domain_s1_invalidate(struct dpi_sim_domain *domain,
				 const struct iommu_hwpt_vtd_s1_invalidate *entries, uint32_t *num);

/* Test hook: the next dpi_sim_domain_s1_invalidate calls handle at most @k entries each and
 * report success (partial processing, as the kernel may); UINT32_MAX turns it off. */
void dpi_sim_iommu_s1_stop_after(uint32_t k);

/* Calls of dpi_sim_domain_s1_invalidate on @domain and entries handled (bench, tests). */
void dpi_sim_domain_s1_stats(const struct dpi_sim_domain *domain, uint64_t *calls,
			     uint64_t *entries);

/* The sim's IOMMU_GET_HW_INFO: VT-d capability registers of the sim IOMMU (cap, ecap). By
 * default it reports scalable mode with nesting, first and second stage and 1 GiB first-stage
 * pages; the hook clears the NEST bit (to test the fallback of a machine without nesting). */
void dpi_sim_iommu_vtd_regs(uint64_t *cap, uint64_t *ecap);
void dpi_sim_iommu_set_nesting(bool on);

/* ---- requesters (device functions) and DMA ------------------------------------------------- */

struct dpi_sim_requester;

#define DPI_SIM_NO_PASID UINT32_MAX
#define DPI_SIM_PASID_MAX ((1u << 20) - 1)

/* name: shown in fault records ("test0"). Returns 0; -ENOMEM. */
int dpi_sim_requester_create(const char *name, struct dpi_sim_requester **req);
void dpi_sim_requester_destroy(struct dpi_sim_requester *req);

/* Attach a domain for requests without PASID (pasid = DPI_SIM_NO_PASID) or with a PASID
 * (1..DPI_SIM_PASID_MAX). Returns 0; -EINVAL (pasid out of range); -EBUSY (something is attached
 * there already); -ENOMEM. */
int dpi_sim_requester_attach(struct dpi_sim_requester *req, uint32_t pasid,
			     struct dpi_sim_domain *domain);
/* Returns 0; -ENOENT (nothing attached there). Flushes the requester's IOTLB for that PASID. */
int dpi_sim_requester_detach(struct dpi_sim_requester *req, uint32_t pasid);

/* Bus mastering: while disabled every DMA fails (-EIO) without reaching the IOMMU. Default on. */
void dpi_sim_requester_set_bus_master(struct dpi_sim_requester *req, bool enable);

/*
 * DMA as the device: read memory at iova into dst / write src to memory at iova, translating
 * page by page through the IOTLB and page table. On a fault nothing of the failing page is
 * touched, the fault is logged, and the call returns -EFAULT (pages before it were
 * transferred, as on hardware). -EIO when bus mastering is off.
 */
int dpi_sim_dma_read(struct dpi_sim_requester *req, uint32_t pasid, uint64_t iova, void *dst,
		     size_t len);
int dpi_sim_dma_write(struct dpi_sim_requester *req, uint32_t pasid, uint64_t iova,
		      const void *src, size_t len);

/* Translate one access for zero-copy models: host pointer for iova and the bytes contiguous
 * from it (<= len, to the end of the page). Same faults and logging as dpi_sim_dma_*. */
int dpi_sim_dma_translate(struct dpi_sim_requester *req, uint32_t pasid, uint64_t iova,
			  size_t len, uint32_t access, void **va, size_t *contig);

/*
 * A device-side translation for one hot buffer (say, a queue a model reads on every command):
 * DMA through it skips the IOTLB lookup and its lock while no invalidation has reached the
 * requester's IOTLB since it was filled. It never serves a translation the IOTLB would not
 * (any invalidation of that IOTLB, however unrelated, drops it; bus mastering is checked each
 * time), so faults still happen where they would. Zero-initialise; one per buffer, used under
 * the model's own lock. Same returns as dpi_sim_dma_read/write; a miss fills the cache.
 */
struct dpi_sim_dma_cache {
	uint64_t base;        /* IOVA of the cached leaf */
	uint64_t span;        /* its size - 1 */
	uint8_t *host;        /* NULL: empty */
	uint64_t gen;         /* the IOTLB generation it was filled in */
	const uint64_t *genp; /* the requester's IOTLB generation (atomic) */
	const bool *bmp;      /* the requester's bus master enable (atomic) */
	uint32_t pasid;
	uint32_t prot;
};

/* The host address of [iova, iova + len) through @c when it still holds, else NULL. */
static inline void *dpi_sim_dma_cache_hit(const struct dpi_sim_dma_cache *c, uint32_t pasid,
					  uint64_t iova, size_t len, uint32_t access)
{
	uint64_t off = iova - c->base;

	if (c->host != NULL && off <= c->span && len - 1 <= c->span - off && c->pasid == pasid &&
	    (c->prot & access) == access && c->gen == __atomic_load_n(c->genp, __ATOMIC_ACQUIRE) &&
	    __atomic_load_n(c->bmp, __ATOMIC_ACQUIRE))
		return c->host + off;
	return NULL;
}

int dpi_sim_dma_read_cached(struct dpi_sim_requester *req, struct dpi_sim_dma_cache *c,
			    uint32_t pasid, uint64_t iova, void *dst, size_t len);
int dpi_sim_dma_write_cached(struct dpi_sim_requester *req, struct dpi_sim_dma_cache *c,
			     uint32_t pasid, uint64_t iova, const void *src, size_t len);

/* Fixed-size forms for a model's hot path: the copy inlines when @len is a constant. */
static inline int dpi_sim_dma_read_c(struct dpi_sim_requester *req, struct dpi_sim_dma_cache *c,
				     uint32_t pasid, uint64_t iova, void *dst, size_t len)
{
	void *p = len != 0 ? dpi_sim_dma_cache_hit(c, pasid, iova, len, DPI_SIM_ACCESS_READ)
			   : NULL;

	if (p == NULL)
		return dpi_sim_dma_read_cached(req, c, pasid, iova, dst, len);
	memcpy(dst, p, len);
	return 0;
}

static inline int dpi_sim_dma_write_c(struct dpi_sim_requester *req, struct dpi_sim_dma_cache *c,
				      uint32_t pasid, uint64_t iova, const void *src, size_t len)
{
	void *p = len != 0 ? dpi_sim_dma_cache_hit(c, pasid, iova, len, DPI_SIM_ACCESS_WRITE)
			   : NULL;

	if (p == NULL)
		return dpi_sim_dma_write_cached(req, c, pasid, iova, src, len);
	memcpy(p, src, len);
	return 0;
}

struct dpi_sim_iotlb_stats {
	uint64_t hits, misses, invalidations, entries;
};
void dpi_sim_requester_iotlb_stats(struct dpi_sim_requester *req, struct dpi_sim_iotlb_stats *s);

/* Test hook: while set, unmaps do not invalidate IOTLBs, nor do the stage-1 invalidation entries
 * of nested domains (to prove stale entries are caught). */
void dpi_sim_iommu_skip_invalidation(bool skip);

/* PASID width of the sim IOMMU (the VT-d ecap PSS + 1 of real hardware): 0 (no PASID support)
 * to 20 bits. DP_SIM_PASID_BITS sets it when the first caller asks; default 20. Setting it is a
 * test hook (e.g. 1 bit, as QEMU's VT-d reports); it bounds the PASIDs dmaplane hands out for
 * devices probed afterwards. set: 0; -EINVAL (> 20). */
uint32_t dpi_sim_iommu_pasid_bits(void);
int dpi_sim_iommu_set_pasid_bits(uint32_t bits);

/* ---- fault log ------------------------------------------------------------------------------ */

enum dpi_sim_fault_reason {
	DPI_SIM_FAULT_NO_DOMAIN = 1,   /* nothing attached for this (requester, PASID) */
	DPI_SIM_FAULT_NOT_PRESENT = 2, /* no translation */
	DPI_SIM_FAULT_PERM = 3,        /* read/write not permitted */
	DPI_SIM_FAULT_RANGE = 4,       /* beyond the address width */
};

struct dpi_sim_fault {
	uint64_t iova;
	uint32_t pasid; /* DPI_SIM_NO_PASID when none */
	uint32_t access;
	uint32_t reason;
	char requester[32];
};

/* Oldest fault first. Returns 0; -ENOENT when the log is empty. The log keeps the last 1024. */
int dpi_sim_fault_pop(struct dpi_sim_fault *fault);
uint64_t dpi_sim_fault_count(void); /* faults since start or the last clear */
void dpi_sim_fault_clear(void);
const char *dpi_sim_fault_reason_name(uint32_t reason);

/* ---- device models and the sim bus ---------------------------------------------------------- */

struct dpi_sim_device;

/* A model: a PCI function with BARs implemented by callbacks. The bus supplies PCI config space
 * (IDs, class, command register: Bus Master Enable gates the requester's DMA). */
struct dpi_sim_model {
	const char *name; /* "test", "nvme", "dsa": instances are "<name><n>" */
	uint16_t vendor_id;
	uint16_t device_id;
	uint32_t class_code;
	/* Make an instance; dev gives the requester for DMA. 0 or -errno. */
	int (*create)(struct dpi_sim_device *dev, void **state);
	void (*destroy)(void *state);
	/* BAR size (0: absent), for index 0..5. */
	uint64_t (*bar_size)(void *state, uint32_t bar);
	/* Register access; len 1, 2, 4, 8, or 64 (a 64-byte portal store). 0 or -errno. */
	int (*mmio_read)(void *state, uint32_t bar, uint64_t off, void *buf, size_t len);
	int (*mmio_write)(void *state, uint32_t bar, uint64_t off, const void *buf, size_t len);
	/* Optional: a 4-byte store into BAR0, the same as mmio_write(state, 0, off, &v, 4) (the
	 * data path's doorbells, called directly by drivers through dpi_mmio). */
	void (*mmio_write32)(void *state, uint64_t off, uint32_t v);
	/* Function level reset (optional). */
	int (*reset)(void *state);
	/* IOVA ranges the device cannot use (optional), e.g. an MSI window. */
	int (*reserved_ranges)(void *state, struct dp_iova_range *ranges, uint32_t *count);
	/* Deferred work, called from the driver's poll path (optional). */
	void (*poll)(void *state);
	/* The PCI PASID Extended Capability's capability register (PCIe: bit 1 Execute Permission
	 * Supported, bit 2 Privileged Mode Supported, bits 12:8 Max PASID Width); 0: the function
	 * has no PASID capability (requests carry no PASID). Use DPI_SIM_PASID_CAP(). */
	uint16_t pasid_cap;
};

#define DPI_SIM_PASID_CAP(width, exec, priv)                                                       \
	((uint16_t)((((width) & 0x1fu) << 8) | ((exec) ? 0x2u : 0u) | ((priv) ? 0x4u : 0u)))

/* Register a model (built-in models register themselves). -EEXIST for a duplicate name. */
int dpi_sim_model_register(const struct dpi_sim_model *model);

/* Create instance "test0" etc. Returns 0; -ENODEV (unknown model or bad instance number);
 * -EBUSY (that instance exists); -ENOMEM. */
int dpi_sim_device_create(const char *name, struct dpi_sim_device **dev);
void dpi_sim_device_destroy(struct dpi_sim_device *dev);
/* The existing instance named @name ("dsa0"), or NULL. Valid until that device is destroyed:
 * the caller keeps the device open while it uses the pointer. */
struct dpi_sim_device *dpi_sim_device_find(const char *name);

const struct dpi_sim_model *dpi_sim_device_model(const struct dpi_sim_device *dev);
void *dpi_sim_device_state(const struct dpi_sim_device *dev);
struct dpi_sim_requester *dpi_sim_device_requester(const struct dpi_sim_device *dev);
const char *dpi_sim_device_name(const struct dpi_sim_device *dev);

/* PCI config space of the device (256 bytes emulated by the bus). 0; -EINVAL beyond 256. */
int dpi_sim_cfg_read(struct dpi_sim_device *dev, uint32_t off, void *buf, size_t len);
int dpi_sim_cfg_write(struct dpi_sim_device *dev, uint32_t off, const void *buf, size_t len);

/* ---- the test device ("sim:testN") ---------------------------------------------------------- */
/*
 * A minimal DMA engine for tests of lib/iova and lib/vfio. BAR0, 4 KiB, 64-bit registers:
 *   0x00 SRC      IOVA to read from
 *   0x08 DST      IOVA to write to
 *   0x10 LEN      bytes
 *   0x18 PASID    bit 31: use PASID in bits 19:0; else requests carry no PASID
 *   0x20 PATTERN  fill byte pattern (low 8 bits)
 *   0x28 CMD      write 1: copy SRC -> DST; 2: fill DST with PATTERN; 3: read SRC, sum bytes
 *   0x30 STATUS   0 ok, 1 IOMMU fault, 2 bus master disabled, 3 bad command (read-only)
 *   0x38 RESULT   byte sum for command 3 (read-only)
 *   0x40 DONE     commands completed (read-only)
 * The device reserves the x86 MSI window [0xfee00000, 0xfeefffff] as an IOVA range.
 */
#define DPI_SIM_TEST_SRC 0x00
#define DPI_SIM_TEST_DST 0x08
#define DPI_SIM_TEST_LEN 0x10
#define DPI_SIM_TEST_PASID 0x18
#define DPI_SIM_TEST_PATTERN 0x20
#define DPI_SIM_TEST_CMD 0x28
#define DPI_SIM_TEST_STATUS 0x30
#define DPI_SIM_TEST_RESULT 0x38
#define DPI_SIM_TEST_DONE 0x40
#define DPI_SIM_TEST_CMD_COPY 1
#define DPI_SIM_TEST_CMD_FILL 2
#define DPI_SIM_TEST_CMD_SUM 3
#define DPI_SIM_TEST_ST_OK 0
#define DPI_SIM_TEST_ST_FAULT 1
#define DPI_SIM_TEST_ST_NO_BME 2
#define DPI_SIM_TEST_ST_BAD_CMD 3
#define DPI_SIM_TEST_VENDOR 0x1b36 /* QEMU's vendor id, as a harmless stand-in */
#define DPI_SIM_TEST_DEVICE 0xd0a0


/* ---- the NVMe controller ("sim:nvmeN") ------------------------------------------------------ */
/*
 * An NVMe 1.4 PCIe controller with in-memory namespaces (lib/sim/nvme.c has the details).
 * Namespaces: DP_SIM_NVME<n>_NS, else DP_SIM_NVME_NS, else "512:64M,4096:64M" (block
 * size:bytes, comma separated, up to 8; "512:64M@/path/file" backs one with an existing file of
 * at least that size, mapped shared, msync'ed by Flush; the path may not contain a comma).
 * MDTS 5 (128 KiB), 1024-entry queues, 63 I/O queue pairs. DP_SIM_NVME_SGL=1: SGLs supported.
 */
#define DPI_SIM_NVME_VENDOR 0x1b36
#define DPI_SIM_NVME_DEVICE 0xd0a1

/* Test hook: set CSTS.CFS as a controller would on an internal fatal error. 0; -EINVAL (not
 * an NVMe model). */
int dpi_sim_nvme_set_fatal(struct dpi_sim_device *dev);

/* Test hook: the next @count commands with opcode @opc on the admin queue (@admin) or on I/O
 * queues complete with status @sct_sc (SCT << 8 | SC) without running. 0; -EINVAL. */
int dpi_sim_nvme_inject_status(struct dpi_sim_device *dev, bool admin, uint8_t opc,
			       uint16_t sct_sc, uint32_t count);

/* Test hook: the next @count commands with opcode @opc on the admin queue (@admin) or on I/O
 * queues run, but their completion is held back: posted after @polls calls of the model's poll
 * callback (the driver's poll path), or never (@polls UINT32_MAX: a dropped completion, freed
 * only by an Abort of the command, SQ deletion, controller reset or dpi_sim_nvme_release_held).
 * An Abort of a held command posts it as Command Abort Requested. 0; -EINVAL (not an NVMe
 * model, @polls 0). */
int dpi_sim_nvme_inject_hold(struct dpi_sim_device *dev, bool admin, uint8_t opc, uint32_t polls,
			     uint32_t count);

/* Test hook: a hung controller that stops fetching admin commands. After @after more admin
 * commands (0: at once) the model leaves new admin submission queue entries where they are:
 * the host's tail doorbell writes are taken, nothing is fetched, run or completed, and the
 * queue fills. Outstanding Asynchronous Event Requests still complete on events. Cleared by a
 * controller reset (CC.EN = 0) or dpi_sim_nvme_resume_fetch(). 0; -EINVAL (not an NVMe
 * model). */
int dpi_sim_nvme_inject_stop_fetch(struct dpi_sim_device *dev, uint32_t after);

/* Test hook: fetch admin commands again, starting with those that accumulated. 0; -EINVAL. */
int dpi_sim_nvme_resume_fetch(struct dpi_sim_device *dev);

/* Admin submission queue entries the host wrote and the model has not fetched (0 for NULL,
 * another model, or no admin queue). */
uint32_t dpi_sim_nvme_admin_unfetched(struct dpi_sim_device *dev);

/* Data transfers to the host that wrote into the memory of one of the controller's own queues
 * (a PRP or SGL that points at queue memory: the host corrupts its queues, as it would on
 * hardware; the first is logged). 0 for NULL or another model. */
uint64_t dpi_sim_nvme_queue_writes(struct dpi_sim_device *dev);

/* Test hook: post every held completion now, dropped ones included (a controller that answers
 * late). 0; -EINVAL. */
int dpi_sim_nvme_release_held(struct dpi_sim_device *dev);

/* Completions held back now (0 for NULL or another model). */
uint32_t dpi_sim_nvme_held(struct dpi_sim_device *dev);

/* Test hook: raise an asynchronous event (@type 0 error, 1 SMART/health, ...; @info; @lid the
 * log page that clears it: DP_NVME_LOG_ERROR or _SMART). It completes an outstanding
 * Asynchronous Event Request at once, or waits for one; after it is reported its type stays
 * masked until the host reads that log page (without RAE). 0; -EINVAL; -ENOSPC (16 events
 * waiting already). */
int dpi_sim_nvme_raise_event(struct dpi_sim_device *dev, uint8_t type, uint8_t info, uint8_t lid);

/* Null mode (also DP_SIM_NVME_NULL=1 at creation): Read, Write and Compare check their
 * arguments and complete without moving data, for measuring the driver. 0; -EINVAL. */
int dpi_sim_nvme_set_null(struct dpi_sim_device *dev, bool on);

/* ---- the DSA device ("sim:dsaN") ------------------------------------------------------------ */
/*
 * A register-level Intel DSA 2.0 model (lib/sim/dsa*.c; register map in idxd_spec.h).
 * Defaults: 8 WQs, total WQ size 128, 4 groups, 4 engines, max transfer 2 MiB (shift 21),
 * max batch 1024 (shift 10), both WQ modes, no block on fault (GENCAP.BOF = 0: a WQ with BOF
 * set fails Enable WQ with IDXD_CMDSTS_ERR_BOF_EN), 64-byte WQCFG. Overrides at creation:
 * DP_SIM_DSA_WQS (1..32), DP_SIM_DSA_WQ_SIZE (total, 1..1024), DP_SIM_DSA_GROUPS (1..8),
 * DP_SIM_DSA_ENGINES (1..16), DP_SIM_DSA_XFER_SHIFT (12..31), DP_SIM_DSA_BATCH_SHIFT (1..15).
 *
 * BAR0 is 4 KiB of registers (GRPCFG table at 0x400, WQCFG at 0x600, MSI-X permissions at
 * 0xe00); 4- and 8-byte accesses. BAR2 holds 4 portal pages of 4 KiB per WQ; a portal takes only
 * 64-byte stores (mmio_write with len 64, 64-byte aligned): that is MOVDIR64B, accepted by
 * dedicated WQs. Descriptors run synchronously inside the store (or on release of a hold) and
 * DMA through the sim IOMMU with the WQ's PASID (WQCFG PASID enable) for dedicated WQs and the
 * submitter's PASID for shared WQs; requests without PASID when PASID is not enabled.
 * Completion records are written with the status byte last. Execution rules (page faults,
 * SWERR versus completion record, batches and fences) are described at the top of
 * lib/sim/dsa_exec.c. WQCFG OPCFG (words 8..15) resets to every supported operation; a driver
 * that writes it must keep the operations it uses (others complete with DSA_COMP_BAD_OPCODE).
 * Block on fault is not modelled (GENCAP.BOF = 0), nor interrupts, traffic classes, read
 * buffers, drain readback, or the event log.
 *
 * Minimal bring-up (what Enable Device / Enable WQ check): PCI Bus Master Enable; per WQ a
 * size (sum <= WQCAP total), priority 1..15, max transfer/batch shifts <= GENCAP's, PASID
 * enable for a shared WQ, BOF clear; every sized WQ in exactly one group and each such group
 * with at least one engine, no engine in two groups. Then CMD Enable Device, Enable WQ n.
 */
#define DPI_SIM_DSA_VENDOR 0x8086
#define DPI_SIM_DSA_DEVICE 0x0b25

/*
 * ENQCMDS through the BAR (for a driver that only has region access, e.g. through lib/vfio's
 * sim backend): BAR2 at DPI_SIM_DSA_ENQCMD_APERTURE + idxd_portal_offset(wq, kind) mirrors the
 * portals, and a 64-byte store there is an ENQCMDS: the descriptor's own PASID field (0: a
 * request without PASID, as VT-d's RID_PASID) and priv bit are used, and the store returns 0
 * (accepted) or -EAGAIN (retry, what ZF=1 means), as dpi_sim_dsa_enqcmds() below. The
 * aperture is a sim-only addition: hardware distinguishes ENQCMD by instruction, not address.
 */
#define DPI_SIM_DSA_ENQCMD_APERTURE (1ull << 24)

/* Test hook: the next @count descriptors (batch members included) with @opcode complete with
 * @status without running (e.g. DSA_COMP_HW_ERR1). 0; -EINVAL (not a DSA model, status 0). */
int dpi_sim_dsa_inject_status(struct dpi_sim_device *dev, uint8_t opcode, uint8_t status,
			      uint32_t count);

/*
 * ENQCMDS (supervisor ENQCMD) to a portal of @wq: the descriptor's PASID field is replaced by
 * @pasid (DPI_SIM_NO_PASID: a request without PASID) and priv by @priv. Returns 0 (accepted);
 * -EAGAIN (retry: WQ full, WQ or device disabled, WQ dedicated, or a limited portal at the
 * threshold - what ZF=1 means on hardware); -EINVAL (not a DSA model, wq out of range, pasid
 * out of range, portal kind > 3).
 */
int dpi_sim_dsa_enqcmds(struct dpi_sim_device *dev, uint32_t wq, uint32_t portal,
			const void *desc64, uint32_t pasid, bool priv);

/*
 * Per-process submission context for a shared WQ: what the kernel's SVA bind and the
 * IA32_PASID MSR give a process on hardware. Submissions through a context carry the
 * context's PASID and priv 0 whatever the descriptor says, so a client cannot use another
 * client's PASID. bind: 0; -EINVAL (bad wq or pasid); -ENOMEM. submit: like ENQCMD on the
 * unlimited (limited = true: limited) portal: 0; -EAGAIN (retry). unbind frees the context.
 */
struct dpi_sim_dsa_ctx;
int dpi_sim_dsa_wq_bind(struct dpi_sim_device *dev, uint32_t wq, uint32_t pasid,
			struct dpi_sim_dsa_ctx **ctx);
int dpi_sim_dsa_ctx_submit(struct dpi_sim_dsa_ctx *ctx, const void *desc64, bool limited);
void dpi_sim_dsa_ctx_unbind(struct dpi_sim_dsa_ctx *ctx);

/*
 * Shared virtual addressing for @pasid: the PASID's address space is process @pid's (addresses
 * are its virtual addresses), reached with process_vm_readv/writev, as the IOMMU does for a
 * PASID bound to an mm. Takes precedence over a sim IOMMU domain attached to that PASID. An
 * address @pid has not mapped faults (page-fault completion). pid 0 unbinds.
 * 0; -EINVAL (not a DSA model, pasid out of range); -ENOSPC (8 bindings in use).
 */
int dpi_sim_dsa_sva_bind(struct dpi_sim_device *dev, uint32_t pasid, int pid);

/*
 * Test hook: while held, accepted descriptors occupy their WQ without running (as if the
 * engines were busy), so queue-full and retry are observable. Releasing (hold = false) runs
 * every held descriptor in submission order. Drain commands also run them; abort commands
 * discard them (no completion record). 0; -EINVAL (not a DSA model).
 */
int dpi_sim_dsa_hold(struct dpi_sim_device *dev, bool hold);

/*
 * Engine thread (also DP_SIM_DSA_THREAD=1 at creation): accepted descriptors queue and a
 * model thread runs them in order, so completions arrive asynchronously as on hardware and a
 * driver must poll for them (the status byte is stored last, with release order). Turning it
 * off joins the thread and runs what is still queued. 0; -EINVAL; an error of
 * pthread_create.
 */
int dpi_sim_dsa_engine_thread(struct dpi_sim_device *dev, bool on);

/* Descriptors occupying @wq now (also WQCFG occupancy). -EINVAL as a negative value. */
int dpi_sim_dsa_wq_occupancy(struct dpi_sim_device *dev, uint32_t wq);

/* Test hook: put the device in the Halt state (GENSTS), as on an internal fatal error: every WQ
 * is disabled and only Reset Device recovers. 0; -EINVAL. */
int dpi_sim_dsa_halt(struct dpi_sim_device *dev);

/* Counters for tests: descriptors executed (batch members included), SWERR reports written,
 * SWERR reports lost because the register was still valid (overflow). */
struct dpi_sim_dsa_stats {
	uint64_t executed, swerr, swerr_overflow, retries;
};
int dpi_sim_dsa_stats(struct dpi_sim_device *dev, struct dpi_sim_dsa_stats *st);

#endif
