/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The sim bus: a registry of device models and their instances ("test0", "nvme3"), each a PCI
 * function with 256 bytes of emulated config space and a requester for its DMA. As after a PCI
 * reset, Bus Master Enable starts off: the driver sets it in the command register.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dmaplane_internal/sys.h>

#include "sim_impl.h"

#define MAX_MODELS     16
#define MAX_INSTANCES  64 /* per model: instance numbers 0..63 */
#define MODEL_NAME_MAX 24
#define CFG_SIZE       256

#define CFG_VENDOR      0x00
#define CFG_DEVICE      0x02
#define CFG_COMMAND     0x04
#define CFG_CLASS       0x09
#define CFG_HEADER_TYPE 0x0e
#define CMD_BUS_MASTER  (1u << 2)
#define CMD_WRITABLE    0x0406u /* memory space, bus master, INTx disable */

struct model_slot {
	const struct dpi_sim_model *model;
	uint64_t instances; /* bit n: instance n exists */
	struct dpi_sim_device *dev[MAX_INSTANCES]; /* for dpi_sim_device_find */
};

struct dpi_sim_device {
	const struct dpi_sim_model *model;
	struct model_slot *slot;
	uint32_t instance;
	char name[32];
	struct dpi_sim_requester *req;
	void *state;
	pthread_mutex_t cfg_lock;
	uint8_t cfg[CFG_SIZE];
};

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static struct model_slot g_models[MAX_MODELS];
static pthread_once_t g_builtin_once = PTHREAD_ONCE_INIT;

/* ---- models --------------------------------------------------------------------------------- */

static bool model_valid(const struct dpi_sim_model *m)
{
	size_t len;

	if (m == NULL || m->name == NULL || m->create == NULL || m->destroy == NULL ||
	    m->bar_size == NULL || m->mmio_read == NULL || m->mmio_write == NULL)
		return false;
	len = strlen(m->name);
	/* A trailing digit would make "<model><n>" ambiguous. */
	return len > 0 && len < MODEL_NAME_MAX &&
	       (m->name[len - 1] < '0' || m->name[len - 1] > '9');
}

static struct model_slot *slot_find_locked(const char *name, size_t len)
{
	for (int i = 0; i < MAX_MODELS; i++) {
		const struct dpi_sim_model *m = g_models[i].model;

		if (m != NULL && strlen(m->name) == len && strncmp(m->name, name, len) == 0)
			return &g_models[i];
	}
	return NULL;
}

static int model_add(const struct dpi_sim_model *model)
{
	int rc = -ENOSPC;

	if (!model_valid(model))
		return -EINVAL;
	pthread_mutex_lock(&g_lock);
	if (slot_find_locked(model->name, strlen(model->name)) != NULL) {
		rc = -EEXIST;
	} else {
		for (int i = 0; i < MAX_MODELS && rc != 0; i++) {
			if (g_models[i].model == NULL) {
				g_models[i].model = model;
				rc = 0;
			}
		}
	}
	pthread_mutex_unlock(&g_lock);
	return rc;
}

/* Built-in models register here, on first use of the bus (a constructor in a static archive
 * could be dropped by the linker). */
static void builtin_init(void)
{
	model_add(&dpi_sim_testdev_model);
	model_add(&dpi_sim_nvme_model);
	model_add(&dpi_sim_dsa_model);
}

/* Also -EINVAL (incomplete model, bad name) and -ENOSPC (16 models registered). */
int dpi_sim_model_register(const struct dpi_sim_model *model)
{
	pthread_once(&g_builtin_once, builtin_init);
	return model_add(model);
}

/* ---- instance names ------------------------------------------------------------------------- */

/* Split "<model><n>" (n: 0..63, no leading zero). 0; -ENODEV. */
static int parse_name(const char *name, size_t *model_len, uint32_t *instance)
{
	size_t len = strlen(name), d = len;

	while (d > 0 && name[d - 1] >= '0' && name[d - 1] <= '9')
		d--;
	if (d == 0 || d == len || len - d > 2 || (name[d] == '0' && len - d > 1))
		return -ENODEV;
	*instance = (uint32_t)strtoul(name + d, NULL, 10);
	*model_len = d;
	return *instance < MAX_INSTANCES ? 0 : -ENODEV;
}

/* Claim instance @n of the model named by name[0..len). 0; -ENODEV; -EBUSY. */
static int instance_claim(const char *name, size_t len, uint32_t n, struct model_slot **slot)
{
	int rc = 0;

	pthread_mutex_lock(&g_lock);
	*slot = slot_find_locked(name, len);
	if (*slot == NULL)
		rc = -ENODEV;
	else if ((*slot)->instances & (1ull << n))
		rc = -EBUSY;
	else
		(*slot)->instances |= 1ull << n;
	pthread_mutex_unlock(&g_lock);
	return rc;
}

static void instance_release(struct model_slot *slot, uint32_t n)
{
	pthread_mutex_lock(&g_lock);
	slot->instances &= ~(1ull << n);
	slot->dev[n] = NULL;
	pthread_mutex_unlock(&g_lock);
}

static void instance_publish(struct model_slot *slot, uint32_t n, struct dpi_sim_device *dev)
{
	pthread_mutex_lock(&g_lock);
	slot->dev[n] = dev;
	pthread_mutex_unlock(&g_lock);
}

struct dpi_sim_device *dpi_sim_device_find(const char *name)
{
	struct dpi_sim_device *dev = NULL;
	struct model_slot *slot;
	size_t model_len;
	uint32_t n;

	if (name == NULL || parse_name(name, &model_len, &n) != 0)
		return NULL;
	pthread_once(&g_builtin_once, builtin_init);
	pthread_mutex_lock(&g_lock);
	slot = slot_find_locked(name, model_len);
	if (slot != NULL)
		dev = slot->dev[n];
	pthread_mutex_unlock(&g_lock);
	return dev;
}

/* ---- config space --------------------------------------------------------------------------- */

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void cfg_init(struct dpi_sim_device *dev)
{
	const struct dpi_sim_model *m = dev->model;

	memset(dev->cfg, 0, sizeof(dev->cfg));
	put16(&dev->cfg[CFG_VENDOR], m->vendor_id);
	put16(&dev->cfg[CFG_DEVICE], m->device_id);
	dev->cfg[CFG_CLASS] = (uint8_t)m->class_code;
	dev->cfg[CFG_CLASS + 1] = (uint8_t)(m->class_code >> 8);
	dev->cfg[CFG_CLASS + 2] = (uint8_t)(m->class_code >> 16);
	dev->cfg[CFG_HEADER_TYPE] = 0;
}

static int cfg_check(uint32_t off, const void *buf, size_t len)
{
	return buf == NULL || len == 0 || off > CFG_SIZE || len > CFG_SIZE - off ? -EINVAL : 0;
}

/* Also -EINVAL for NULL buf or zero len. */
int dpi_sim_cfg_read(struct dpi_sim_device *dev, uint32_t off, void *buf, size_t len)
{
	int rc = dev == NULL ? -EINVAL : cfg_check(off, buf, len);

	if (rc != 0)
		return rc;
	pthread_mutex_lock(&dev->cfg_lock);
	memcpy(buf, &dev->cfg[off], len);
	pthread_mutex_unlock(&dev->cfg_lock);
	return 0;
}

/* Only the writable bits of the command register change; the rest is read-only (ignored). */
int dpi_sim_cfg_write(struct dpi_sim_device *dev, uint32_t off, const void *buf, size_t len)
{
	const uint8_t *src = buf;
	int rc = dev == NULL ? -EINVAL : cfg_check(off, buf, len);
	bool bme;

	if (rc != 0)
		return rc;
	pthread_mutex_lock(&dev->cfg_lock);
	for (size_t i = 0; i < len; i++) {
		uint32_t o = off + (uint32_t)i;
		uint8_t mask;

		if (o != CFG_COMMAND && o != CFG_COMMAND + 1)
			continue;
		mask = (uint8_t)(CMD_WRITABLE >> (8 * (o - CFG_COMMAND)));
		dev->cfg[o] = (uint8_t)((dev->cfg[o] & ~mask) | (src[i] & mask));
	}
	bme = (dev->cfg[CFG_COMMAND] & CMD_BUS_MASTER) != 0;
	dpi_sim_requester_set_bus_master(dev->req, bme);
	pthread_mutex_unlock(&dev->cfg_lock);
	return 0;
}

/* ---- devices -------------------------------------------------------------------------------- */

static int device_build(struct model_slot *slot, const char *name, uint32_t n,
			struct dpi_sim_device **out)
{
	struct dpi_sim_device *dev = dpi_calloc(1, sizeof(*dev));
	int rc;

	if (dev == NULL)
		return -ENOMEM;
	dev->model = slot->model;
	dev->slot = slot;
	dev->instance = n;
	snprintf(dev->name, sizeof(dev->name), "%s", name);
	pthread_mutex_init(&dev->cfg_lock, NULL);
	cfg_init(dev);
	rc = dpi_sim_requester_create(dev->name, &dev->req);
	if (rc == 0) {
		dpi_sim_requester_set_bus_master(dev->req, false);
		rc = dev->model->create(dev, &dev->state);
		if (rc != 0)
			dpi_sim_requester_destroy(dev->req);
	}
	if (rc != 0) {
		pthread_mutex_destroy(&dev->cfg_lock);
		free(dev);
		return rc;
	}
	*out = dev;
	return 0;
}

/* Also -EINVAL for NULL arguments. */
int dpi_sim_device_create(const char *name, struct dpi_sim_device **dev)
{
	struct model_slot *slot;
	size_t model_len;
	uint32_t n;
	int rc;

	if (name == NULL || dev == NULL)
		return -EINVAL;
	pthread_once(&g_builtin_once, builtin_init);
	rc = parse_name(name, &model_len, &n);
	if (rc == 0)
		rc = instance_claim(name, model_len, n, &slot);
	if (rc != 0)
		return rc;
	rc = device_build(slot, name, n, dev);
	if (rc != 0)
		instance_release(slot, n);
	else
		instance_publish(slot, n, *dev);
	return rc;
}

void dpi_sim_device_destroy(struct dpi_sim_device *dev)
{
	if (dev == NULL)
		return;
	dev->model->destroy(dev->state);
	dpi_sim_requester_destroy(dev->req);
	instance_release(dev->slot, dev->instance);
	pthread_mutex_destroy(&dev->cfg_lock);
	free(dev);
}

const struct dpi_sim_model *dpi_sim_device_model(const struct dpi_sim_device *dev)
{
	return dev->model;
}

void *dpi_sim_device_state(const struct dpi_sim_device *dev)
{
	return dev->state;
}

struct dpi_sim_requester *dpi_sim_device_requester(const struct dpi_sim_device *dev)
{
	return dev->req;
}

const char *dpi_sim_device_name(const struct dpi_sim_device *dev)
{
	return dev->name;
}
