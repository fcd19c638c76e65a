/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A nested IOAS on iommufd without a kernel: this program defines ioctl(), which the static
 * library's calls resolve to, and answers the iommufd commands on one temporary file (the
 * library opens it instead of /dev/iommu: dpi_iommufd_set_dev_path) with a small model of an
 * iommufd IOAS and its HWPTs. Every other ioctl goes to the kernel.
 *
 * Covers the decision at the first device (dpi_ioas_iommufd_attach_target): without nesting
 * the conversion to the plain IOAS (every recorded mapping at its IOVA with its protection,
 * nothing else mapped, the table gone, later maps/unmaps plain), undone exactly under fail-nth;
 * with nesting the NEST_PARENT and stage-1 HWPTs over our table, invalidations only once a
 * device sees stage 1, later devices on the same HWPT or refused, teardown destroying all; an
 * HWPT_ALLOC that refuses nesting converts.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <dmaplane/env.h>
#include <dmaplane/iova.h>
#include <dmaplane/pasid.h>
#include <dmaplane_internal/device.h>
#include <dmaplane_internal/fault.h>
#include <dmaplane_internal/iova.h>
#include <dmaplane_internal/stage1.h>
#include <dmaplane_internal/sys.h>
#include <dmaplane_internal/uapi_iommufd.h>
#include <dmaplane_internal/uapi_vfio.h>

#include "ut.h"

#define KiB 1024ull
#define MiB (1024ull * KiB)
#define FD_IOVA_LIMIT (1ull << 46)
#define NO_NEST_DEV 100 /* devices from this id on sit behind an IOMMU without ECAP.NEST */

/* ---- the fake iommufd ------------------------------------------------------------------------ */

enum { OBJ_IOAS = 1, OBJ_PARENT = 2, OBJ_S1 = 3 };

struct fmap {
	uint64_t iova, len;
	uintptr_t va;
	uint32_t flags;
};

struct fobj {
	uint32_t id, kind, pt;
	uint64_t pgtbl;
};

#define FMAX 512

static struct {
	dev_t dev;
	ino_t ino;
	struct fobj obj[16];
	uint32_t nobj, next_id;
	struct fmap m[FMAX];
	uint32_t nm;
	uint32_t maps, unmaps, invals, inval_entries, inval_hwpt;
	uint32_t dev_attaches; /* VFIO_DEVICE_ATTACH_IOMMUFD_PT sent here (see device_attach) */
	bool nest;    /* GET_HW_INFO shows ECAP.NEST (devices below NO_NEST_DEV) */
	int hwpt_err; /* HWPT_ALLOC fails with this */
	int info_err; /* GET_HW_INFO fails with this */
	int inval_err;        /* HWPT_INVALIDATE fails with this ... */
	uint32_t inval_done;  /* ... after handling this many entries (entry_num out) */
} F;

static const uint64_t g_nest_ecap = DPI_VTD_ECAP_NEST | DPI_VTD_ECAP_SMTS | DPI_VTD_ECAP_FLTS |
				    DPI_VTD_ECAP_SLTS;

static bool is_fake(int fd)
{
	struct stat st;

	return fd >= 0 && fstat(fd, &st) == 0 && st.st_dev == F.dev && st.st_ino == F.ino;
}

static struct fobj *obj(uint32_t id)
{
	for (uint32_t i = 0; i < F.nobj; i++)
		if (F.obj[i].id == id)
			return &F.obj[i];
	return NULL;
}

static uint32_t count_kind(uint32_t kind)
{
	uint32_t n = 0;

	for (uint32_t i = 0; i < F.nobj; i++)
		n += F.obj[i].kind == kind;
	return n;
}

static int fail(int err)
{
	errno = err;
	return -1;
}

static uint32_t new_obj(uint32_t kind, uint32_t pt, uint64_t pgtbl)
{
	F.obj[F.nobj++] = (struct fobj){.id = ++F.next_id, .kind = kind, .pt = pt, .pgtbl = pgtbl};
	return F.next_id;
}

static int f_map(struct iommu_ioas_map *c)
{
	if (!(c->flags & IOMMU_IOAS_MAP_FIXED_IOVA) || obj(c->ioas_id) == NULL || c->length == 0)
		return fail(EINVAL);
	for (uint32_t i = 0; i < F.nm; i++)
		if (c->iova < F.m[i].iova + F.m[i].len && F.m[i].iova < c->iova + c->length)
			return fail(EEXIST);
	if (F.nm == FMAX)
		return fail(ENOMEM);
	F.m[F.nm++] = (struct fmap){c->iova, c->length, (uintptr_t)c->user_va, c->flags};
	F.maps++;
	return 0;
}

/* Whole mappings inside the range go; one cut by the range fails the call. */
static int f_unmap(struct iommu_ioas_unmap *c)
{
	uint64_t done = 0, end = c->iova + c->length;

	for (uint32_t i = 0; i < F.nm; i++) {
		const struct fmap *m = &F.m[i];
		bool in = m->iova >= c->iova && m->iova + m->len <= end;
		if (!in && m->iova < end && c->iova < m->iova + m->len)
			return fail(ENOENT);
	}
	for (uint32_t i = 0; i < F.nm;) {
		if (F.m[i].iova >= c->iova && F.m[i].iova + F.m[i].len <= end) {
			done += F.m[i].len;
			F.m[i] = F.m[--F.nm];
		} else {
			i++;
		}
	}
	if (done == 0)
		return fail(ENOENT);
	c->length = done;
	F.unmaps++;
	return 0;
}

static int f_hwpt_alloc(struct iommu_hwpt_alloc *c)
{
	struct fobj *pt = obj(c->pt_id);

	if (F.hwpt_err)
		return fail(F.hwpt_err);
	if (pt == NULL)
		return fail(ENOENT);
	if (c->data_type == IOMMU_HWPT_DATA_NONE) {
		if (pt->kind != OBJ_IOAS || c->flags != IOMMU_HWPT_ALLOC_NEST_PARENT)
			return fail(EINVAL);
		c->out_hwpt_id = new_obj(OBJ_PARENT, c->pt_id, 0);
		return 0;
	}
	const struct iommu_hwpt_vtd_s1 *s1 = (const void *)(uintptr_t)c->data_uptr;
	if (c->data_type != IOMMU_HWPT_DATA_VTD_S1 || c->data_len != sizeof(*s1) ||
	    pt->kind != OBJ_PARENT || s1->addr_width != 48 || (s1->pgtbl_addr & 4095))
		return fail(EINVAL);
	c->out_hwpt_id = new_obj(OBJ_S1, c->pt_id, s1->pgtbl_addr);
	return 0;
}

static int f_destroy(uint32_t id)
{
	struct fobj *o = obj(id);

	if (o == NULL)
		return fail(ENOENT);
	for (uint32_t i = 0; i < F.nobj; i++)
		if (F.obj[i].pt == id)
			return fail(EBUSY); /* a HWPT still uses it */
	if (o->kind == OBJ_IOAS && F.nm != 0)
		F.nm = 0; /* destroying an IOAS unmaps everything */
	*o = F.obj[--F.nobj];
	return 0;
}

static int fake_ioctl(unsigned long req, void *arg)
{
	switch (req) {
	case IOMMU_IOAS_ALLOC:
		((struct iommu_ioas_alloc *)arg)->out_ioas_id = new_obj(OBJ_IOAS, 0, 0);
		return 0;
	case IOMMU_OPTION:
		return 0;
	case IOMMU_DESTROY:
		return f_destroy(((struct iommu_destroy *)arg)->id);
	case IOMMU_IOAS_MAP:
		return f_map(arg);
	case IOMMU_IOAS_UNMAP:
		return f_unmap(arg);
	case IOMMU_IOAS_IOVA_RANGES: {
		struct iommu_ioas_iova_ranges *c = arg;
		if (c->num_iovas < 1) {
			c->num_iovas = 1;
			return fail(EMSGSIZE);
		}
		*(struct iommu_iova_range *)(uintptr_t)c->allowed_iovas =
			(struct iommu_iova_range){.start = 0, .last = UINT64_MAX};
		c->num_iovas = 1;
		c->out_iova_alignment = 4096;
		return 0;
	}
	case IOMMU_GET_HW_INFO: {
		struct iommu_hw_info *c = arg;
		struct iommu_hw_info_vtd v = {.cap_reg = 0, .ecap_reg = DPI_VTD_ECAP_SMTS |
					      DPI_VTD_ECAP_FLTS | DPI_VTD_ECAP_SLTS};
		if (c->dev_id == 0)
			return fail(ENOENT);
		if (F.info_err)
			return fail(F.info_err);
		if (F.nest && c->dev_id < NO_NEST_DEV)
			v.ecap_reg = g_nest_ecap;
		memcpy((void *)(uintptr_t)c->data_uptr, &v, DPI_MIN(c->data_len, sizeof(v)));
		c->out_data_type = IOMMU_HW_INFO_TYPE_INTEL_VTD;
		return 0;
	}
	case IOMMU_HWPT_ALLOC:
		return f_hwpt_alloc(arg);
	case VFIO_DEVICE_ATTACH_IOMMUFD_PT: {
		const struct vfio_device_attach_iommufd_pt *c = arg;
		if (obj(c->pt_id) == NULL)
			return fail(ENOENT);
		F.dev_attaches++;
		return 0;
	}
	case IOMMU_HWPT_INVALIDATE: {
		struct iommu_hwpt_invalidate *c = arg;
		struct fobj *o = obj(c->hwpt_id);
		if (o == NULL || o->kind != OBJ_S1 || c->data_type != IOMMU_HWPT_INVALIDATE_DATA_VTD_S1)
			return fail(EINVAL);
		F.invals++;
		F.inval_hwpt = c->hwpt_id;
		if (F.inval_err) {
			c->entry_num = DPI_MIN(c->entry_num, F.inval_done);
			F.inval_entries += c->entry_num;
			return fail(F.inval_err);
		}
		F.inval_entries += c->entry_num;
		return 0;
	}
	default:
		return fail(ENOTTY);
	}
}

/* The library's ioctl calls land here (the executable's definition wins over libc's). */
int ioctl(int fd, unsigned long req, ...);
int ioctl(int fd, unsigned long req, ...)
{
	va_list ap;
	void *arg;

	va_start(ap, req);
	arg = va_arg(ap, void *);
	va_end(ap);
	if (!is_fake(fd))
		return (int)syscall(SYS_ioctl, fd, req, arg);
	return fake_ioctl(req, arg);
}

static char g_path[] = "/tmp/dp_fake_iommu.XXXXXX";

static int suite_init(void)
{
	struct stat st;
	int fd = mkstemp(g_path);

	if (fd < 0 || fstat(fd, &st) != 0)
		return -1;
	close(fd);
	F.dev = st.st_dev;
	F.ino = st.st_ino;
	dpi_iommufd_set_dev_path(g_path);
	return ut_env_init();
}

static int suite_fini(void)
{
	dpi_iommufd_set_dev_path(NULL);
	unlink(g_path);
	return ut_env_fini();
}

static void fake_reset(bool nest)
{
	uint32_t next = F.next_id;

	CU_ASSERT_EQUAL(F.nobj, 0); /* the previous test left nothing behind */
	memset(&F.obj, 0, sizeof(F.obj));
	F.nobj = F.nm = F.maps = F.unmaps = F.invals = F.inval_entries = F.inval_hwpt = 0;
	F.dev_attaches = 0;
	F.nest = nest;
	F.hwpt_err = F.info_err = F.inval_err = 0;
	F.inval_done = 0;
	F.next_id = next;
}

static const struct fmap *fake_at(uint64_t iova)
{
	for (uint32_t i = 0; i < F.nm; i++)
		if (iova >= F.m[i].iova && iova < F.m[i].iova + F.m[i].len)
			return &F.m[i];
	return NULL;
}

/* ---- fixtures ----------------------------------------------------------------------------------- */

static void *map_anon(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	CU_ASSERT_FATAL(p != MAP_FAILED);
	return p;
}

static struct dp_ioas *new_ioas(void)
{
	struct dp_ioas_opts o;
	struct dp_ioas *ioas = NULL;

	dp_ioas_opts_init(&o, sizeof(o));
	o.backend = DP_IOMMU_IOMMUFD;
	o.flags = DP_IOAS_F_NESTED | DP_IOAS_F_MANUAL;
	CU_ASSERT_EQUAL_FATAL(dp_ioas_create(&o, &ioas), 0);
	return ioas;
}

/* What a test maps before the first device: a fixed read/write area A, a fixed read-only area
 * C, a dp_iova_map inside A (stage 1 only), one of other memory B, and two deferred unmaps
 * still pending (one inside A, one of other memory). */
#define NMAP 6
struct scene {
	uint8_t *a, *b, *c, *d, *e;
	dp_iova_t ia, ic, ix, ib, id, iy;
	struct {
		dp_iova_t iova;
		uint64_t len;
		void *va;
		uint32_t flags;
	} want[NMAP];
};

static void scene_setup(struct dp_ioas *ioas, struct scene *s)
{
	uint32_t rw = IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE;

	s->a = map_anon(2 * MiB);
	s->b = map_anon(64 * KiB);
	s->c = map_anon(64 * KiB);
	s->d = map_anon(16 * KiB);
	s->e = map_anon(64 * KiB);
	s->ia = 1ull << 30;
	s->ic = 2ull << 30;
	CU_ASSERT_EQUAL_FATAL(dp_ioas_map(ioas, s->a, 2 * MiB, s->ia, 0), 0);
	CU_ASSERT_EQUAL_FATAL(dp_ioas_map(ioas, s->c, 64 * KiB, s->ic, DP_MAP_READ), 0);
	uint32_t maps = F.maps;
	CU_ASSERT_EQUAL_FATAL(dp_iova_map(ioas, s->a + 256 * KiB, 64 * KiB, 0, &s->ix), 0);
	CU_ASSERT_EQUAL(F.maps, maps); /* registered-style memory: stage 1 only */
	CU_ASSERT_EQUAL_FATAL(dp_iova_map(ioas, s->b, 64 * KiB, 0, &s->ib), 0);
	CU_ASSERT_EQUAL(F.maps, maps + 1); /* other memory: the parent pins it at GPA = IOVA */
	CU_ASSERT_EQUAL_FATAL(dp_iova_map(ioas, s->a + 1 * MiB, 16 * KiB, 0, &s->iy), 0);
	CU_ASSERT_EQUAL_FATAL(dp_iova_map(ioas, s->d, 16 * KiB, 0, &s->id), 0);
	CU_ASSERT_EQUAL(dp_iova_unmap(ioas, s->iy, 16 * KiB), 0); /* deferred: still recorded */
	CU_ASSERT_EQUAL(dp_iova_unmap(ioas, s->id, 16 * KiB), 0);
	CU_ASSERT_EQUAL(dpi_ioas_area_count(ioas), NMAP);
	/* the table's chunks live in the parent too, above the usable IOVAs */
	CU_ASSERT(F.nm > 4);
	s->want[0] = (typeof(s->want[0])){s->ia, 2 * MiB, s->a, rw};
	s->want[1] = (typeof(s->want[0])){s->ic, 64 * KiB, s->c, IOMMU_IOAS_MAP_READABLE};
	s->want[2] = (typeof(s->want[0])){s->ix, 64 * KiB, s->a + 256 * KiB, rw};
	s->want[3] = (typeof(s->want[0])){s->ib, 64 * KiB, s->b, rw};
	s->want[4] = (typeof(s->want[0])){s->iy, 16 * KiB, s->a + 1 * MiB, rw};
	s->want[5] = (typeof(s->want[0])){s->id, 16 * KiB, s->d, rw};
}

/* The IOAS maps exactly the recorded mappings, each at its IOVA, and nothing else. */
static void check_plain_layout(const struct scene *s)
{
	CU_ASSERT_EQUAL(F.nm, NMAP);
	for (int i = 0; i < NMAP; i++) {
		const struct fmap *m = fake_at(s->want[i].iova);
		CU_ASSERT_PTR_NOT_NULL_FATAL(m);
		CU_ASSERT_EQUAL(m->iova, s->want[i].iova);
		CU_ASSERT_EQUAL(m->len, s->want[i].len);
		CU_ASSERT_PTR_EQUAL((void *)m->va, s->want[i].va);
		CU_ASSERT_EQUAL(m->flags & (IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE),
				s->want[i].flags);
	}
}

/* A fresh fake (nesting offered), a nested IOAS on it and the scene mapped; scene_teardown()
 * destroys it. */
static struct dp_ioas *scene_new(struct scene *s)
{
	struct dp_ioas *ioas;

	fake_reset(true);
	ioas = new_ioas();
	scene_setup(ioas, s);
	return ioas;
}

static void scene_teardown(struct dp_ioas *ioas, struct scene *s)
{
	CU_ASSERT_EQUAL(dp_iova_unmap(ioas, s->ix, 64 * KiB), 0);
	CU_ASSERT_EQUAL(dp_iova_unmap(ioas, s->ib, 64 * KiB), 0);
	CU_ASSERT_EQUAL(dp_iova_flush(ioas), 0);
	CU_ASSERT_EQUAL(dp_ioas_unmap(ioas, s->ia, 2 * MiB), 0);
	CU_ASSERT_EQUAL(dp_ioas_unmap(ioas, s->ic, 64 * KiB), 0);
	CU_ASSERT_EQUAL(dpi_ioas_area_count(ioas), 0);
	CU_ASSERT_EQUAL(dp_ioas_destroy(ioas), 0);
	CU_ASSERT_EQUAL(F.nobj, 0); /* the IOAS (and any HWPT) destroyed */
	munmap(s->a, 2 * MiB);
	munmap(s->b, 64 * KiB);
	munmap(s->c, 64 * KiB);
	munmap(s->d, 16 * KiB);
	munmap(s->e, 64 * KiB);
}

static uint32_t fake_ioas_id(void)
{
	for (uint32_t i = 0; i < F.nobj; i++)
		if (F.obj[i].kind == OBJ_IOAS)
			return F.obj[i].id;
	return 0;
}

/* ---- tests ---------------------------------------------------------------------------------- */

/* No nesting: the first device turns the IOAS plain; nothing lost, nothing mapped twice. */
static void test_convert(void)
{
	struct dp_ioas *ioas;
	struct scene s;
	uint32_t pt = 0;
	dp_iova_t ie;

	fake_reset(false);
	ioas = new_ioas();
	CU_ASSERT_EQUAL(dp_ioas_nested(ioas), 1);
	CU_ASSERT_EQUAL(dp_ioas_backend(ioas), DP_IOMMU_IOMMUFD);
	/* devices bind to its file; its IOAS object is the parent, not the device's space */
	int fd = -1;
	CU_ASSERT_EQUAL(dpi_ioas_iommufd_fd(ioas, &fd), 0);
	CU_ASSERT(fd >= 0);
	CU_ASSERT_EQUAL(dpi_ioas_iommufd(ioas, NULL, NULL), -ENOTSUP);
	scene_setup(ioas, &s);
	ut_log_capture();
	CU_ASSERT_EQUAL(dpi_ioas_iommufd_attach_target(ioas, 1, &pt), 0);
	ut_log_release();
	CU_ASSERT_EQUAL(pt, fake_ioas_id());
	CU_ASSERT_EQUAL(dp_ioas_nested(ioas), 0);
	CU_ASSERT_EQUAL(dp_ioas_backend(ioas), DP_IOMMU_IOMMUFD);
	uint32_t ioas_id = 0;
	CU_ASSERT_EQUAL(dpi_ioas_iommufd(ioas, NULL, &ioas_id), 0); /* plain now */
	CU_ASSERT_EQUAL(ioas_id, fake_ioas_id());
	CU_ASSERT(ut_log_has("nested translation is not available for device 1"));
	CU_ASSERT(ut_log_has("shows no ECAP.NEST"));
	CU_ASSERT_EQUAL(g_ut_log.count[DP_LOG_NOTICE], 1); /* one line, with the reason */
	CU_ASSERT(ut_log_has("3 mapping(s) kept, 3 mapped at their IOVA"));
	CU_ASSERT_EQUAL(dpi_ioas_nested_stats(ioas, &(struct dpi_nested_stats){0}), -ENOTSUP);
	CU_ASSERT_EQUAL(F.invals, 0);
	check_plain_layout(&s);
	/* the usable ranges are no longer cut for the stage-1 layout */
	struct dp_iova_range r[4];
	uint32_t n = 4;
	CU_ASSERT_EQUAL(dp_ioas_get_ranges(ioas, r, &n), 0);
	CU_ASSERT(n == 1 && r[0].last == UINT64_MAX);
	CU_ASSERT_EQUAL(dpi_ioas_device_attached(ioas, NULL), 0);
	/* a second device attaches to the same plain IOAS */
	CU_ASSERT_EQUAL(dpi_ioas_iommufd_attach_target(ioas, 2, &pt), 0);
	CU_ASSERT_EQUAL(pt, fake_ioas_id());

	/* later maps and unmaps go the plain way: one IOAS_MAP, and the pending ones flushed */
	uint32_t maps = F.maps, unmaps = F.unmaps;
	CU_ASSERT_EQUAL(dp_iova_map(ioas, s.e, 64 * KiB, 0, &ie), 0);
	CU_ASSERT_EQUAL(F.maps, maps + 1);
	CU_ASSERT(fake_at(ie) != NULL && fake_at(ie)->va == (uintptr_t)s.e);
	CU_ASSERT_EQUAL(dp_iova_unmap(ioas, ie, 64 * KiB), 0);
	CU_ASSERT_EQUAL(dp_iova_flush(ioas), 0);
	CU_ASSERT(F.unmaps > unmaps);
	CU_ASSERT_PTR_NULL(fake_at(ie));
	CU_ASSERT_PTR_NULL(fake_at(s.iy));
	CU_ASSERT_PTR_NULL(fake_at(s.id));
	CU_ASSERT_EQUAL(F.nm, NMAP - 2);
	dpi_ioas_device_detached(ioas, NULL);
	scene_teardown(ioas, &s);
	CU_ASSERT_EQUAL(F.nm, 0);
}

/* Whichever call of the conversion fails, the IOAS stays nested with the parent exactly as it
 * was, and a retry converts. */
static void test_convert_fail_nth(void)
{
	int n, fired_any = 0;

	for (n = 1; n < 200; n++) {
		struct dp_ioas *ioas;
		struct scene s;
		struct fmap before[FMAX];
		uint32_t nbefore, pt = 0;

		fake_reset(false);
		ioas = new_ioas();
		scene_setup(ioas, &s);
		nbefore = F.nm;
		memcpy(before, F.m, sizeof(before));
		ut_log_capture();
		dpi_fault_arm(n, ENOMEM);
		int rc = dpi_ioas_iommufd_attach_target(ioas, 1, &pt);
		bool fired = dpi_fault_fired();
		dpi_fault_arm(0, 0);
		if (rc != 0) {
			CU_ASSERT(fired);
			CU_ASSERT(ut_log_has("failed") || ut_log_has("IOMMU_GET_HW_INFO") ||
				  ut_log_has("no memory"));
			fired_any++;
			CU_ASSERT_EQUAL(dp_ioas_nested(ioas), 1);
			CU_ASSERT_EQUAL(F.nm, nbefore);
			for (uint32_t i = 0; i < nbefore; i++) {
				const struct fmap *m = fake_at(before[i].iova);
				CU_ASSERT(m != NULL && m->iova == before[i].iova &&
					  m->len == before[i].len && m->va == before[i].va);
			}
			CU_ASSERT_EQUAL(dpi_ioas_iommufd_attach_target(ioas, 1, &pt), 0);
		}
		ut_log_release();
		CU_ASSERT_EQUAL(dp_ioas_nested(ioas), 0);
		check_plain_layout(&s);
		CU_ASSERT_EQUAL(dp_iova_flush(ioas), 0);
		scene_teardown(ioas, &s);
		if (!fired)
			break;
	}
	CU_ASSERT(n < 200);
	CU_ASSERT(fired_any >= 5);
	printf("(%d failure points) ", fired_any);
}

/* The stage-1 walk of iova through our table and the fake parent reaches va. */
static bool reaches(struct dp_ioas *ioas, dp_iova_t iova, const void *va)
{
	struct dpi_s1pt *pt;
	uint64_t gpa;
	uint32_t prot, shift;
	const struct fmap *m;

	if (dpi_ioas_nested_parts(ioas, &pt, NULL) != 0 ||
	    dpi_s1pt_lookup(pt, iova, &gpa, &prot, &shift) != 0)
		return false;
	m = fake_at(gpa);
	return m != NULL && m->va + (gpa - m->iova) == (uintptr_t)va;
}

/* Nesting: a NEST_PARENT HWPT on the IOAS and a stage-1 HWPT over our table. */
static void test_nested(void)
{
	struct dp_ioas *ioas;
	struct scene s;
	struct dpi_s1pt *pt;
	uint32_t id = 0, id2 = 0;

	ioas = scene_new(&s);
	CU_ASSERT_EQUAL(dp_iova_flush(ioas), 0);
	CU_ASSERT_EQUAL(F.invals, 0); /* no device sees stage 1 yet: nothing to invalidate */
	CU_ASSERT(reaches(ioas, s.ix, s.a + 256 * KiB));
	CU_ASSERT(reaches(ioas, s.ib, s.b));
	ut_log_capture();
	CU_ASSERT_EQUAL(dpi_ioas_iommufd_attach_target(ioas, 1, &id), 0);
	ut_log_release();
	CU_ASSERT(ut_log_has("attaches to stage-1 HWPT"));
	CU_ASSERT_EQUAL(dp_ioas_nested(ioas), 1);
	CU_ASSERT_EQUAL_FATAL(dpi_ioas_nested_parts(ioas, &pt, NULL), 0);
	struct fobj *s1 = obj(id);
	CU_ASSERT_PTR_NOT_NULL_FATAL(s1);
	CU_ASSERT_EQUAL(s1->kind, OBJ_S1);
	CU_ASSERT_EQUAL(s1->pgtbl, dpi_s1pt_root(pt));
	CU_ASSERT_PTR_NOT_NULL_FATAL(obj(s1->pt));
	CU_ASSERT_EQUAL(obj(s1->pt)->kind, OBJ_PARENT);
	CU_ASSERT_EQUAL(obj(s1->pt)->pt, fake_ioas_id());
	/* the root table page is mapped by the parent at its GPA, below 2^48 */
	CU_ASSERT(fake_at(dpi_s1pt_root(pt)) != NULL);
	CU_ASSERT(dpi_s1pt_root(pt) < (1ull << 48));
	CU_ASSERT_EQUAL(dpi_ioas_device_attached(ioas, NULL), 0);
	/* the usable ranges stay below the displaced areas and tables */
	struct dp_iova_range r[4];
	uint32_t n = 4;
	CU_ASSERT_EQUAL(dp_ioas_get_ranges(ioas, r, &n), 0);
	CU_ASSERT(n == 1 && r[0].last == FD_IOVA_LIMIT - 1);

	/* maps of mapped memory: no system call; unmaps: one HWPT_INVALIDATE per flush */
	uint32_t maps = F.maps;
	dp_iova_t iv[8];
	for (int i = 0; i < 8; i++)
		CU_ASSERT_EQUAL(dp_iova_map(ioas, s.a + i * 64 * KiB, 64 * KiB, 0, &iv[i]), 0);
	CU_ASSERT_EQUAL(F.maps, maps);
	CU_ASSERT(reaches(ioas, iv[3], s.a + 3 * 64 * KiB));
	for (int i = 0; i < 8; i++)
		CU_ASSERT_EQUAL(dp_iova_unmap(ioas, iv[i], 64 * KiB), 0);
	CU_ASSERT_EQUAL(dp_iova_flush(ioas), 0);
	CU_ASSERT_EQUAL(F.invals, 1);
	CU_ASSERT(F.inval_entries >= 1); /* adjacent runs share an entry */
	CU_ASSERT_EQUAL(F.inval_hwpt, id);
	CU_ASSERT(!reaches(ioas, iv[3], s.a + 3 * 64 * KiB));

	/* a second device that nests joins; one whose IOMMU cannot is refused */
	CU_ASSERT_EQUAL(dpi_ioas_iommufd_attach_target(ioas, 2, &id2), 0);
	CU_ASSERT_EQUAL(id2, id);
	ut_log_capture();
	CU_ASSERT_EQUAL(dpi_ioas_iommufd_attach_target(ioas, NO_NEST_DEV, &id2), -EOPNOTSUPP);
	ut_log_release();
	CU_ASSERT(ut_log_has("cannot nest"));
	CU_ASSERT_EQUAL(dp_ioas_nested(ioas), 1);
	dpi_ioas_device_detached(ioas, NULL);
	scene_teardown(ioas, &s); /* checks the HWPTs are destroyed with the IOAS */
}

/* GET_HW_INFO shows nesting, but the kernel refuses the HWPTs: convert, with the reason. */
static void test_hwpt_refused(void)
{
	struct dp_ioas *ioas;
	struct scene s;
	uint32_t pt = 0;

	fake_reset(true);
	F.hwpt_err = EOPNOTSUPP;
	ioas = new_ioas();
	scene_setup(ioas, &s);
	ut_log_capture();
	CU_ASSERT_EQUAL(dpi_ioas_iommufd_attach_target(ioas, 1, &pt), 0);
	ut_log_release();
	CU_ASSERT(ut_log_has("IOMMU_HWPT_ALLOC refused a nesting parent"));
	CU_ASSERT_EQUAL(dp_ioas_nested(ioas), 0);
	CU_ASSERT_EQUAL(pt, fake_ioas_id());
	check_plain_layout(&s);
	CU_ASSERT_EQUAL(dp_iova_flush(ioas), 0);
	scene_teardown(ioas, &s);
}

/* A fixed mapping unmapped while a dp_iova_map still points into its memory, then another one
 * at the same IOVA: the parent keeps the old area at GPA = IOVA and puts the new one at a
 * displaced GPA. Converting maps both as the record says, and nothing of the old area stays. */
static void test_convert_displaced(void)
{
	struct dp_ioas *ioas;
	uint8_t *m1 = map_anon(256 * KiB), *m2 = map_anon(256 * KiB);
	const dp_iova_t x = 1ull << 32;
	dp_iova_t iv;
	uint32_t pt;

	fake_reset(false);
	F.info_err = ENOTTY; /* and a kernel before 6.6: no GET_HW_INFO, so no nesting */
	ioas = new_ioas();
	CU_ASSERT_EQUAL_FATAL(dp_ioas_map(ioas, m1, 256 * KiB, x, 0), 0);
	CU_ASSERT_EQUAL_FATAL(dp_iova_map(ioas, m1 + 64 * KiB, 64 * KiB, 0, &iv), 0);
	CU_ASSERT_EQUAL(dp_ioas_unmap(ioas, x, 256 * KiB), 0);
	CU_ASSERT(fake_at(x) != NULL && fake_at(x)->va == (uintptr_t)m1); /* still used */
	CU_ASSERT_EQUAL_FATAL(dp_ioas_map(ioas, m2, 256 * KiB, x, 0), 0);
	CU_ASSERT(fake_at(x)->va == (uintptr_t)m1); /* m2 went to a displaced GPA */
	ut_log_capture();
	CU_ASSERT_EQUAL(dpi_ioas_iommufd_attach_target(ioas, 1, &pt), 0);
	ut_log_release();
	CU_ASSERT(ut_log_has("older than 6.6"));
	CU_ASSERT(ut_log_has("is a plain iommufd IOAS from now on (0 mapping(s) kept, 2 mapped"));
	CU_ASSERT_EQUAL(dp_ioas_nested(ioas), 0);
	CU_ASSERT_EQUAL(F.nm, 2);
	CU_ASSERT(fake_at(x) != NULL && fake_at(x)->va == (uintptr_t)m2 &&
		  fake_at(x)->len == 256 * KiB);
	CU_ASSERT(fake_at(iv) != NULL && fake_at(iv)->va == (uintptr_t)(m1 + 64 * KiB));
	CU_ASSERT_EQUAL(dp_iova_unmap(ioas, iv, 64 * KiB), 0);
	CU_ASSERT_EQUAL(dp_iova_flush(ioas), 0);
	CU_ASSERT_EQUAL(dp_ioas_unmap(ioas, x, 256 * KiB), 0);
	CU_ASSERT_EQUAL(F.nm, 0);
	CU_ASSERT_EQUAL(dp_ioas_destroy(ioas), 0);
	CU_ASSERT_EQUAL(F.nobj, 0);
	munmap(m1, 256 * KiB);
	munmap(m2, 256 * KiB);
}

/* fail-nth through the nested decision: a failure leaves no HWPT behind and the IOAS nested
 * without a device view; a retry succeeds. */
static void test_nested_fail_nth(void)
{
	int n, fired_any = 0;

	for (n = 1; n < 100; n++) {
		struct dp_ioas *ioas;
		struct scene s;
		uint32_t id = 0;

		ioas = scene_new(&s);
		ut_log_capture();
		dpi_fault_arm(n, ENOMEM);
		int rc = dpi_ioas_iommufd_attach_target(ioas, 1, &id);
		bool fired = dpi_fault_fired();
		dpi_fault_arm(0, 0);
		if (rc != 0) {
			CU_ASSERT(fired);
			fired_any++;
			CU_ASSERT_EQUAL(count_kind(OBJ_PARENT) + count_kind(OBJ_S1), 0);
			CU_ASSERT_EQUAL(dp_ioas_nested(ioas), 1);
			CU_ASSERT_EQUAL(dp_iova_flush(ioas), 0);
			CU_ASSERT_EQUAL(F.invals, 0);
			CU_ASSERT_EQUAL(dpi_ioas_iommufd_attach_target(ioas, 1, &id), 0);
		}
		ut_log_release();
		CU_ASSERT_EQUAL(count_kind(OBJ_S1), 1);
		CU_ASSERT(obj(id) != NULL && obj(id)->kind == OBJ_S1);
		CU_ASSERT(reaches(ioas, s.ix, s.a + 256 * KiB));
		CU_ASSERT_EQUAL(dp_iova_flush(ioas), 0);
		scene_teardown(ioas, &s);
		if (!fired)
			break;
	}
	CU_ASSERT(n < 100);
	CU_ASSERT(fired_any >= 2);
	printf("(%d failure points) ", fired_any);
}

/* What lib/vfio does for a device on the IOAS: the target, then VFIO_DEVICE_ATTACH_IOMMUFD_PT
 * (sent to the fake's file through dpi_ioctl, so fault injection reaches it), and when that
 * fails, dpi_ioas_iommufd_attach_failed. */
static int device_attach(struct dp_ioas *ioas, uint32_t dev_id, uint32_t *pt)
{
	struct vfio_device_attach_iommufd_pt at = {.argsz = sizeof(at)};
	int fd, rc = dpi_ioas_iommufd_attach_target(ioas, dev_id, pt);

	if (rc != 0)
		return rc;
	CU_ASSERT_EQUAL_FATAL(dpi_ioas_iommufd_fd(ioas, &fd), 0);
	at.pt_id = *pt;
	rc = dpi_ioctl(fd, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &at) == 0 ? 0 : -errno;
	if (rc != 0)
		dpi_ioas_iommufd_attach_failed(ioas, dev_id);
	return rc;
}

/* The first device's attach fails after the IOAS allocated its HWPTs for it: they are released
 * (no device ever used them), the IOAS stays nested without a device view (no invalidation
 * sent), a later device decides again and works, and destroy leaves no kernel object. A failed
 * attach of a second device keeps the HWPTs the first one uses. Every fault point on the way. */
static void test_attach_failed(void)
{
	int n, fired_any = 0;

	for (n = 1; n < 100; n++) {
		struct dp_ioas *ioas;
		struct scene s;
		uint32_t id = 0, id2 = 0;

		ioas = scene_new(&s);
		ut_log_capture();
		dpi_fault_arm(n, EIO);
		int rc = device_attach(ioas, 1, &id);
		bool fired = dpi_fault_fired();
		dpi_fault_arm(0, 0);
		if (rc != 0) {
			CU_ASSERT(fired);
			fired_any++;
			CU_ASSERT_EQUAL(count_kind(OBJ_PARENT) + count_kind(OBJ_S1), 0);
			CU_ASSERT_EQUAL(F.dev_attaches, 0);
			CU_ASSERT_EQUAL(dp_ioas_nested(ioas), 1);
			dp_iova_t iv;
			CU_ASSERT_EQUAL(dp_iova_map(ioas, s.a, 64 * KiB, 0, &iv), 0);
			CU_ASSERT_EQUAL(dp_iova_unmap(ioas, iv, 64 * KiB), 0);
			CU_ASSERT_EQUAL(dp_iova_flush(ioas), 0);
			CU_ASSERT_EQUAL(F.invals, 0); /* nothing sees stage 1 */
			CU_ASSERT_EQUAL(device_attach(ioas, 2, &id), 0); /* decides again */
		}
		ut_log_release();
		CU_ASSERT_EQUAL(F.dev_attaches, 1);
		CU_ASSERT_EQUAL(count_kind(OBJ_PARENT), 1);
		CU_ASSERT_EQUAL_FATAL(count_kind(OBJ_S1), 1);
		CU_ASSERT(obj(id) != NULL && obj(id)->kind == OBJ_S1);
		CU_ASSERT(reaches(ioas, s.ix, s.a + 256 * KiB));
		/* a second device's failed attach keeps what the first one uses */
		ut_log_capture();
		dpi_fault_arm_site("ioctl", 2, EIO); /* GET_HW_INFO passes, the attach fails */
		CU_ASSERT_EQUAL(device_attach(ioas, 3, &id2), -EIO);
		dpi_fault_arm(0, 0);
		ut_log_release();
		CU_ASSERT_EQUAL(id2, id);
		CU_ASSERT(obj(id) != NULL && count_kind(OBJ_PARENT) == 1);
		dp_iova_t iv;
		CU_ASSERT_EQUAL(dp_iova_map(ioas, s.a, 64 * KiB, 0, &iv), 0);
		CU_ASSERT_EQUAL(dp_iova_unmap(ioas, iv, 64 * KiB), 0);
		CU_ASSERT_EQUAL(dp_iova_flush(ioas), 0);
		CU_ASSERT_EQUAL(F.invals, 1);
		CU_ASSERT_EQUAL(F.inval_hwpt, id);
		scene_teardown(ioas, &s); /* checks F.nobj == 0 */
		if (!fired)
			break;
	}
	CU_ASSERT(n < 100);
	CU_ASSERT(fired_any >= 3);
	printf("(%d failure points) ", fired_any);
}

/* IOMMU_HWPT_INVALIDATE failing on the kernel side: four separate ranges unmapped; an error
 * with entry_num short (one entry handled, the next refused) twice, then the ioctl itself
 * failing (fault injection) twice. The entries not handled stay queued and nothing is freed;
 * the fourth failure in a row quarantines the two left (one log line); the next flush sends
 * nothing, frees the two ranges whose entries were handled and keeps the two quarantined out
 * of use; later unmaps are invalidated and reclaimed as usual. */
static void test_inval_quarantine(void)
{
	struct dp_ioas *ioas;
	struct scene s;
	struct dp_iova_stats st = {.size = sizeof(st)};
	struct dpi_nested_stats ns;
	dp_iova_t iv[8], y;
	uint32_t id = 0;

	ioas = scene_new(&s);
	ut_log_capture();
	CU_ASSERT_EQUAL_FATAL(dpi_ioas_iommufd_attach_target(ioas, 1, &id), 0);
	for (int i = 0; i < 8; i++)
		CU_ASSERT_EQUAL(dp_iova_map(ioas, s.a + i * 128 * KiB, 64 * KiB, 0, &iv[i]), 0);
	CU_ASSERT_EQUAL(dp_iova_flush(ioas), 0);
	CU_ASSERT_EQUAL(dp_iova_stats(ioas, &st), 0);
	uint64_t reclaimed = st.reclaimed;
	for (int i = 0; i < 8; i += 2) /* not adjacent: four runs, four entries */
		CU_ASSERT_EQUAL(dp_iova_unmap(ioas, iv[i], 64 * KiB), 0);
	F.inval_err = EINVAL;
	F.inval_done = 1;
	uint32_t e0 = F.inval_entries;
	for (int k = 1; k <= 4; k++) {
		if (k > 2) {
			F.inval_err = 0;
			dpi_fault_arm_site("ioctl", 1, EIO);
		}
		CU_ASSERT(dp_iova_flush(ioas) < 0);
		dpi_fault_arm(0, 0);
		CU_ASSERT_EQUAL(ut_log_has("are quarantined"), k == 4);
	}
	CU_ASSERT_EQUAL(F.inval_entries, e0 + 2); /* one handled by each short call */
	ns = (struct dpi_nested_stats){0};
	CU_ASSERT_EQUAL(dpi_ioas_nested_stats(ioas, &ns), 0);
	CU_ASSERT_EQUAL(ns.inval_failures, 4);
	CU_ASSERT_EQUAL(ns.inval_quarantined, 2);
	CU_ASSERT_EQUAL(dp_iova_stats(ioas, &st), 0);
	CU_ASSERT_EQUAL(st.reclaimed, reclaimed); /* nothing freed before a success */
	uint32_t invals = F.invals;
	CU_ASSERT_EQUAL(dp_iova_flush(ioas), 0);
	CU_ASSERT_EQUAL(F.invals, invals); /* nothing left to send for them */
	CU_ASSERT_EQUAL(dp_iova_stats(ioas, &st), 0);
	CU_ASSERT_EQUAL(st.quarantined, 2);
	CU_ASSERT_EQUAL(st.reclaimed, reclaimed + 2);
	for (int i = 1; i < 8; i += 2)
		CU_ASSERT_EQUAL(dp_iova_unmap(ioas, iv[i], 64 * KiB), 0);
	CU_ASSERT_EQUAL(dp_iova_flush(ioas), 0);
	CU_ASSERT_EQUAL(F.invals, ++invals);
	CU_ASSERT_EQUAL(dp_iova_stats(ioas, &st), 0);
	CU_ASSERT_EQUAL(st.reclaimed, reclaimed + 6);
	/* a later unmap: one call with its own entry, and its IOVA comes back */
	CU_ASSERT_EQUAL(dp_iova_map(ioas, s.a, 64 * KiB, 0, &y), 0);
	CU_ASSERT_EQUAL(dp_iova_unmap(ioas, y, 64 * KiB), 0);
	e0 = F.inval_entries;
	CU_ASSERT_EQUAL(dp_iova_flush(ioas), 0);
	CU_ASSERT_EQUAL(F.invals, invals + 1);
	CU_ASSERT_EQUAL(F.inval_entries, e0 + 1);
	CU_ASSERT_EQUAL(dp_iova_stats(ioas, &st), 0);
	CU_ASSERT_EQUAL(st.reclaimed, reclaimed + 7);
	CU_ASSERT_EQUAL(st.quarantined, 2);
	ut_log_release();
	scene_teardown(ioas, &s); /* nothing left behind in the kernel */
}

/* dp_pasid_attach on iommufd refuses a nested IOAS on either side, with that reason (not the
 * kernel, the width or "not on iommufd"), -EOPNOTSUPP, and nothing changed: no kernel object,
 * no attachment record, the IOASes still destroyable. The device is a stand-in with the fields
 * lib/pasid reads (no ops: nothing may reach a device). */
static void pasid_refused(struct dp_ioas *target, struct dp_ioas *dev_ioas, const char *why)
{
	struct dp_device dev;
	uint32_t nobj = F.nobj, maps = F.maps;

	memset(&dev, 0, sizeof(dev));
	snprintf(dev.info.addr, sizeof(dev.info.addr), "0000:00:05.0");
	dev.info.backend = DP_IOMMU_IOMMUFD;
	dev.ioas = dev_ioas;
	ut_log_capture();
	CU_ASSERT_EQUAL(dp_pasid_attach(&dev, 1, target), -EOPNOTSUPP);
	CU_ASSERT(ut_log_has(why));
	CU_ASSERT(ut_log_has("not supported"));
	CU_ASSERT(ut_log_has("created without DP_IOAS_F_NESTED"));
	CU_ASSERT(!ut_log_has("not on iommufd"));
	CU_ASSERT(!ut_log_has("width"));
	CU_ASSERT_EQUAL(g_ut_log.count[DP_LOG_ERROR], 1);
	CU_ASSERT_EQUAL(dp_pasid_detach(&dev, 1), -ENOENT); /* nothing recorded */
	ut_log_release();
	CU_ASSERT_EQUAL(F.nobj, nobj);
	CU_ASSERT_EQUAL(F.maps, maps);
	if (dev.pasid_release != NULL)
		dev.pasid_release(&dev);
}

static void test_pasid_refused(void)
{
	struct dp_ioas_opts o;
	struct dp_ioas *plain = NULL, *nested;
	uint32_t id;

	fake_reset(true);
	nested = new_ioas();
	dp_ioas_opts_init(&o, sizeof(o));
	o.backend = DP_IOMMU_IOMMUFD;
	o.flags = DP_IOAS_F_MANUAL;
	CU_ASSERT_EQUAL_FATAL(dp_ioas_create(&o, &plain), 0);
	/* still deciding (no device yet), then nested with its HWPTs */
	pasid_refused(nested, plain, "the IOAS is nested");
	pasid_refused(plain, nested, "the device was opened on a nested IOAS");
	ut_log_capture();
	CU_ASSERT_EQUAL(dpi_ioas_iommufd_attach_target(nested, 1, &id), 0);
	ut_log_release();
	CU_ASSERT_EQUAL(dp_ioas_nested(nested), 1);
	pasid_refused(nested, plain, "the IOAS is nested");
	pasid_refused(plain, nested, "the device was opened on a nested IOAS");
	pasid_refused(nested, nested, "the IOAS is nested");
	/* not counted as attached (the fake's IOAS destroy empties every IOAS: nested first) */
	CU_ASSERT_EQUAL(dp_ioas_destroy(nested), 0);
	CU_ASSERT_EQUAL(dp_ioas_destroy(plain), 0);
	CU_ASSERT_EQUAL(F.nobj, 0);
}

/* Not an iommufd IOAS: -ENOTSUP; bad arguments: -EINVAL. */
static void test_args(void)
{
	struct dp_ioas_opts o;
	struct dp_ioas *ioas = NULL;
	uint32_t pt;

	CU_ASSERT_EQUAL(dpi_ioas_iommufd_attach_target(NULL, 1, &pt), -EINVAL);
	dp_ioas_opts_init(&o, sizeof(o));
	o.backend = DP_IOMMU_SIM;
	o.flags = DP_IOAS_F_MANUAL;
	CU_ASSERT_EQUAL_FATAL(dp_ioas_create(&o, &ioas), 0);
	CU_ASSERT_EQUAL(dpi_ioas_iommufd_attach_target(ioas, 1, &pt), -ENOTSUP);
	CU_ASSERT_EQUAL(dpi_ioas_iommufd_attach_target(ioas, 1, NULL), -EINVAL);
	CU_ASSERT_EQUAL(dp_ioas_destroy(ioas), 0);
}

int main(void)
{
	static const struct ut_test tests[] = {
		UT_TEST(test_convert),
		UT_TEST(test_convert_fail_nth),
		UT_TEST(test_nested),
		UT_TEST(test_hwpt_refused),
		UT_TEST(test_convert_displaced),
		UT_TEST(test_nested_fail_nth),
		UT_TEST(test_attach_failed),
		UT_TEST(test_inval_quarantine),
		UT_TEST(test_pasid_refused),
		UT_TEST(test_args),
	};

	unsetenv("DP_IOMMU");
	return ut_main("iova_nested_fd", tests, DPI_ARRAY_SIZE(tests), suite_init, suite_fini);
}
