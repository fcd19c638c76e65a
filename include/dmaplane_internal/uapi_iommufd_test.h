/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The test-only part of the iommufd uAPI: the mock IOMMU driver inside iommufd that a kernel
 * built with CONFIG_IOMMUFD_TEST offers through IOMMU_TEST_CMD (the kernel's own selftests in
 * tools/testing/selftests/iommu drive it). dmaplane uses it only to run its nested-translation
 * code (NEST_PARENT + nested HWPT allocation, IOMMU_HWPT_INVALIDATE batching with entry_num in/out)
 * against a real kernel where no IOMMU offers nesting (QEMU's VT-d has no ECAP.NEST).
 *
 * These are facts of Linux 7.3 (drivers/iommu/iommufd/iommufd_test.h, which is not installed as a
 * uAPI header: there is no system header to prefer), under the kernel's names, checked by the
 * static asserts at the end. Only the members dmaplane uses are spelled out.
 *
 * Semantics (Linux 7.3, drivers/iommu/iommufd/selftest.c):
 *  - IOMMU_TEST_OP_MOCK_DOMAIN (id = an IOAS or HWPT): creates a mock device, binds it (its
 *    out_idev_id is a normal iommufd device id for IOMMU_HWPT_ALLOC) and attaches it to id
 *    (out_hwpt_id: the HWPT it got). IOMMU_DESTROY of out_stdev_id detaches and removes it.
 *  - IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE (id = stdev_id): replaces the attachment with pt_id.
 *  - A nested HWPT takes IOMMU_HWPT_DATA_SELFTEST data: its 4 mock IOTLB entries start at
 *    iommu_hwpt_selftest.iotlb. IOMMU_HWPT_INVALIDATE with IOMMU_HWPT_INVALIDATE_DATA_SELFTEST
 *    entries zeroes entry iotlb_id (all four with IOMMU_TEST_INVALIDATE_FLAG_ALL); an unknown
 *    flag stops the batch with -EOPNOTSUPP, an iotlb_id above 3 with -EINVAL, and entry_num is
 *    written back as the number of entries handled before the stop.
 *  - Each entry is read with iommu_copy_struct_from_user_array(): entry_len below 8 (the end of
 *    iotlb_id) or above the kernel's struct size (8) is refused with -EINVAL at the first entry,
 *    whatever the extra bytes hold (the kernel never reaches copy_struct_from_user's
 *    zero-tail check for this struct).
 *  - IOMMU_TEST_OP_MD_CHECK_IOTLB (id = nested HWPT): 0 when entry check_iotlb.id holds
 *    check_iotlb.iotlb, -EINVAL when it does not (or the id is above 3).
 */
#ifndef DMAPLANE_INTERNAL_UAPI_IOMMUFD_TEST_H
#define DMAPLANE_INTERNAL_UAPI_IOMMUFD_TEST_H

#include <dmaplane_internal/uapi_iommufd.h>

enum {
	IOMMU_TEST_OP_MOCK_DOMAIN = 2,
	IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE = 10,
	IOMMU_TEST_OP_MD_CHECK_IOTLB = 14,
};

enum {
	MOCK_NESTED_DOMAIN_IOTLB_ID_MAX = 3,
	MOCK_NESTED_DOMAIN_IOTLB_NUM = 4,
};

struct iommu_test_cmd {
	uint32_t size;
	uint32_t op;
	uint32_t id;
	uint32_t __reserved;
	union {
		struct {
			uint32_t out_stdev_id;
			uint32_t out_hwpt_id;
			uint32_t out_idev_id;
		} mock_domain;
		struct {
			uint32_t pt_id;
		} mock_domain_replace;
		struct {
			uint32_t id;
			uint32_t iotlb;
		} check_iotlb;
		/* the kernel's largest member (dirty: u32 + 5 aligned u64) sets the union's size */
		uint64_t __union_size[6] __attribute__((aligned(8)));
	};
	uint32_t last;
};
#define IOMMU_TEST_CMD _IO(IOMMUFD_TYPE, IOMMUFD_CMD_BASE + 32)

/* Not a value of enum iommu_hwpt_data_type: nested HWPT data of the mock driver. */
#define IOMMU_HWPT_DATA_SELFTEST 0xdead
#define IOMMU_TEST_IOTLB_DEFAULT 0xbadbeef

struct iommu_hwpt_selftest {
	uint32_t iotlb;          /* initial value of every mock IOTLB entry */
	uint32_t pagetable_type; /* 0: the default mock page table */
};

/* Not a value of enum iommu_hwpt_invalidate_data_type: mock invalidation entries. */
#define IOMMU_HWPT_INVALIDATE_DATA_SELFTEST 0xdeadbeef
#define IOMMU_TEST_INVALIDATE_FLAG_ALL (1 << 0)

struct iommu_hwpt_invalidate_selftest {
	uint32_t flags;    /* IOMMU_TEST_INVALIDATE_FLAG_ALL, nothing else */
	uint32_t iotlb_id; /* 0..MOCK_NESTED_DOMAIN_IOTLB_ID_MAX, ignored with FLAG_ALL */
};

DP_STATIC_ASSERT(IOMMU_TEST_CMD == 0x3ba0, "IOMMU_TEST_CMD");
DP_STATIC_ASSERT(sizeof(struct iommu_test_cmd) == 72, "iommu_test_cmd");
DP_STATIC_ASSERT(offsetof(struct iommu_test_cmd, mock_domain) == 16, "iommu_test_cmd union");
DP_STATIC_ASSERT(offsetof(struct iommu_test_cmd, last) == 64, "iommu_test_cmd.last");
DP_STATIC_ASSERT(sizeof(struct iommu_hwpt_selftest) == 8, "iommu_hwpt_selftest");
DP_STATIC_ASSERT(sizeof(struct iommu_hwpt_invalidate_selftest) == 8,
		 "iommu_hwpt_invalidate_selftest");

#endif /* DMAPLANE_INTERNAL_UAPI_IOMMUFD_TEST_H */
