/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The invalidation engine's age trigger run from a poll group (dp_iova_poller_register): with
 * a fake 1 MHz tick source, an unmap queued in deferred mode is flushed by the group's loop
 * once it is older than inval_age_us (and not before), with the thread that queued it doing
 * nothing more; strict mode refuses; an IOAS with such a poller cannot be destroyed.
 */
#include <errno.h>
#include <stdint.h>
#include <sys/mman.h>

#include <dmaplane/env.h>
#include <dmaplane/iova.h>
#include <dmaplane/poll.h>
#include <dmaplane_internal/env.h>
#include <dmaplane_internal/sim.h>

#include "ut.h"
#include "ut_simdev.h"

#define KiB 1024ull

static uint64_t g_now;

static uint64_t fake_ticks(void)
{
	return __atomic_load_n(&g_now, __ATOMIC_RELAXED);
}

static struct dp_ioas *new_ioas(uint32_t mode, uint32_t age_us)
{
	struct dp_ioas_opts o;
	struct dp_ioas *ioas = NULL;

	dp_ioas_opts_init(&o, sizeof(o));
	o.backend = DP_IOMMU_SIM;
	o.flags = DP_IOAS_F_MANUAL;
	o.inval_mode = mode;
	o.inval_age_us = age_us;
	CU_ASSERT_EQUAL_FATAL(dp_ioas_create(&o, &ioas), 0);
	return ioas;
}

static struct dp_poll_group *new_group(void)
{
	struct dp_poll_group_opts go;
	struct dp_poll_group *g = NULL;

	dp_poll_group_opts_init(&go, sizeof(go));
	CU_ASSERT_EQUAL_FATAL(dp_poll_group_create(&go, &g), 0);
	return g;
}

static uint64_t flushes_age(struct dp_ioas *ioas)
{
	struct dp_iova_stats s = {.size = sizeof(s)};

	CU_ASSERT_EQUAL(dp_iova_stats(ioas, &s), 0);
	return s.flushes_age;
}

static void test_age_from_loop(void)
{
	struct dp_ioas *ioas = new_ioas(DP_INVAL_DEFERRED, 1000);
	struct dp_poll_group *g = new_group();
	struct dp_poller *p = NULL;
	uint8_t *buf = map_anon(4 * KiB);
	dp_iova_t iova;

	g_now = 100;
	dpi_ticks_set_source(fake_ticks, 1000000);
	CU_ASSERT_EQUAL_FATAL(dp_iova_poller_register(ioas, g, &p), 0);
	CU_ASSERT_PTR_NOT_NULL(p);
	CU_ASSERT_EQUAL_FATAL(dp_iova_map(ioas, buf, 4 * KiB, 0, &iova), 0);
	CU_ASSERT_EQUAL(dp_iova_unmap(ioas, iova, 4 * KiB), 0);
	CU_ASSERT_PTR_NOT_NULL(sim_target(ioas, iova)); /* deferred: still mapped */

	/* The poller runs every 500 us: at 500 us the range is 500 us old, not yet due. */
	g_now += 500;
	CU_ASSERT(dp_poll_group_run_once(g) >= 0);
	CU_ASSERT_EQUAL(flushes_age(ioas), 0);
	CU_ASSERT_PTR_NOT_NULL(sim_target(ioas, iova));
	/* At 1000 us it is due: the loop flushes it; the iteration counts as busy. */
	g_now += 500;
	CU_ASSERT_EQUAL(dp_poll_group_run_once(g), 1);
	CU_ASSERT_EQUAL(flushes_age(ioas), 1);
	CU_ASSERT_PTR_NULL(sim_target(ioas, iova));
	/* Nothing pending: later runs find nothing to do. */
	g_now += 5000;
	CU_ASSERT_EQUAL(dp_poll_group_run_once(g), 0);
	CU_ASSERT_EQUAL(flushes_age(ioas), 1);

	/* The IOAS cannot go while the poller uses it. */
	ut_log_capture();
	CU_ASSERT_EQUAL(dp_ioas_destroy(ioas), -EBUSY);
	CU_ASSERT(ut_log_has("dp_iova_poller_unregister"));
	ut_log_release();
	CU_ASSERT_EQUAL(dp_iova_poller_unregister(ioas, &p), 0);
	CU_ASSERT_PTR_NULL(p);
	CU_ASSERT_EQUAL(dp_iova_poller_unregister(ioas, &p), -EINVAL);
	dpi_ticks_set_source(NULL, 0);
	CU_ASSERT_EQUAL(dp_poll_group_destroy(g), 0);
	CU_ASSERT_EQUAL(dp_ioas_destroy(ioas), 0);
	munmap(buf, 4 * KiB);
}

static void test_bad_args(void)
{
	struct dp_ioas *ioas = new_ioas(DP_INVAL_STRICT, 0);
	struct dp_poll_group *g = new_group();
	struct dp_poller *p = NULL;

	CU_ASSERT_EQUAL(dp_iova_poller_register(NULL, g, &p), -EINVAL);
	CU_ASSERT_EQUAL(dp_iova_poller_register(ioas, NULL, &p), -EINVAL);
	CU_ASSERT_EQUAL(dp_iova_poller_register(ioas, g, NULL), -EINVAL);
	CU_ASSERT_EQUAL(dp_iova_poller_unregister(NULL, &p), -EINVAL);
	ut_log_capture();
	CU_ASSERT_EQUAL(dp_iova_poller_register(ioas, g, &p), -ENOTSUP);
	CU_ASSERT(ut_log_has("strict"));
	ut_log_release();
	CU_ASSERT_PTR_NULL(p);
	/* The refused registration left no count behind. */
	CU_ASSERT_EQUAL(dp_ioas_destroy(ioas), 0);
	CU_ASSERT_EQUAL(dp_poll_group_destroy(g), 0);
}

static int other_poller(void *arg)
{
	(void)arg;
	return 0;
}

/* Unregistering through the wrong IOAS (or a poller dp_iova_poller_register() did not make)
 * is refused: it used to drop the other IOAS's count, so that IOAS could be destroyed while
 * its poller still ran on it. */
static void test_unregister_wrong_ioas(void)
{
	struct dp_ioas *a = new_ioas(DP_INVAL_DEFERRED, 1000);
	struct dp_ioas *b = new_ioas(DP_INVAL_DEFERRED, 1000);
	struct dp_poll_group *g = new_group();
	struct dp_poller *pa = NULL, *pb = NULL, *other = NULL;

	CU_ASSERT_EQUAL_FATAL(dp_iova_poller_register(a, g, &pa), 0);
	CU_ASSERT_EQUAL_FATAL(dp_poller_register(g, other_poller, b, &other), 0);
	ut_log_capture();
	CU_ASSERT_EQUAL(dp_iova_poller_unregister(b, &pa), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(pa);
	CU_ASSERT_EQUAL(dp_iova_poller_unregister(b, &other), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(other);
	CU_ASSERT(ut_log_has("dp_iova_poller_unregister"));
	CU_ASSERT_EQUAL(dp_ioas_destroy(a), -EBUSY); /* its poller is still there */
	ut_log_release();
	CU_ASSERT_EQUAL(dp_iova_poller_register(b, g, &pb), 0);
	CU_ASSERT_EQUAL(dp_iova_poller_unregister(b, &pb), 0);
	CU_ASSERT_EQUAL(dp_iova_poller_unregister(a, &pa), 0);
	CU_ASSERT_EQUAL(dp_poller_unregister(&other), 0);
	CU_ASSERT_EQUAL(dp_poll_group_destroy(g), 0);
	CU_ASSERT_EQUAL(dp_ioas_destroy(a), 0);
	CU_ASSERT_EQUAL(dp_ioas_destroy(b), 0);
}

int main(void)
{
	static const struct ut_test tests[] = {
		UT_TEST(test_age_from_loop),
		UT_TEST(test_bad_args),
		UT_TEST(test_unregister_wrong_ioas),
	};

	return ut_main("iova_poll", tests, DPI_ARRAY_SIZE(tests), ut_env_init, ut_env_fini);
}
