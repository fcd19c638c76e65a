/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * dmaplane_identify: bring an NVMe controller up through dmaplane's driver and print what it
 * says about itself (like nvme-cli's id-ctrl summary): controller identity, limits, queues,
 * health, and every active namespace. With no device it uses the sim controller and says so.
 *
 * Usage: dmaplane_identify [-d BDF|sim:nvme0] [--json]
 * Exit status: 0 on success, 1 when the controller could not be opened, 2 on bad usage.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dmaplane/env.h>
#include <dmaplane/iova.h>
#include <dmaplane/log.h>
#include <dmaplane/nvme.h>

#define DEFAULT_DEVICE "sim:nvme0"

struct health {
	int valid;
	int temp_c;
	unsigned spare, spare_thresh, used;
	uint64_t units_read, units_written, reads, writes;
	uint64_t errors;
};

static uint64_t le64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return v;
}

static void get_health(struct dp_nvme_ctrlr *c, struct health *h)
{
	uint8_t log[512], err[64];

	memset(h, 0, sizeof(*h));
	if (dp_nvme_ctrlr_get_log_page(c, DP_NVME_LOG_SMART, DP_NVME_NSID_ALL, 0, log,
				       sizeof(log)) != 0)
		return;
	h->valid = 1;
	h->temp_c = (int)(log[1] | (log[2] << 8)) - 273;
	h->spare = log[3];
	h->spare_thresh = log[4];
	h->used = log[5];
	/* Only the low 64 bits of the 128-bit counters. */
	h->units_read = le64(log + 32);
	h->units_written = le64(log + 48);
	h->reads = le64(log + 64);
	h->writes = le64(log + 80);
	if (dp_nvme_ctrlr_get_log_page(c, DP_NVME_LOG_ERROR, DP_NVME_NSID_ALL, 0, err,
				       sizeof(err)) == 0)
		h->errors = le64(err);
}

/* A string for JSON: only printable ASCII is expected from Identify; escape " and \. */
static void json_str(const char *s)
{
	putchar('"');
	for (; *s != '\0'; s++) {
		if (*s == '"' || *s == '\\')
			putchar('\\');
		putchar((unsigned char)*s >= 0x20 && (unsigned char)*s < 0x7f ? *s : '?');
	}
	putchar('"');
}

static void eui_hex(const uint8_t *p, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", p[i]);
}

static void print_text(const struct dp_nvme_ctrlr_info *ci, const struct health *h,
		       struct dp_nvme_ctrlr *c, const uint32_t *nsids, uint32_t nns)
{
	printf("Controller %s\n", ci->addr);
	printf("  model         %s\n", ci->model);
	printf("  serial        %s\n", ci->serial);
	printf("  firmware      %s\n", ci->firmware);
	printf("  vendor        0x%04x (subsystem 0x%04x)\n", ci->vendor_id, ci->subsys_vendor_id);
	printf("  NVMe version  %u.%u.%u\n", ci->version >> 16, (ci->version >> 8) & 0xff,
	       ci->version & 0xff);
	printf("  controller id %u\n", ci->cntlid);
	printf("  subsystem NQN %s\n", ci->subnqn);
	printf("  max transfer  %u KiB\n", ci->max_xfer / 1024);
	printf("  I/O queues    %u granted, %u entries max, doorbell stride %u\n", ci->io_queues,
	       ci->max_queue_entries, ci->doorbell_stride);
	printf("  ready timeout %u ms\n", ci->timeout_ms);
	printf("  write cache   %s\n", ci->vwc ? "volatile, present" : "none");
	printf("  optional cmds%s%s%s%s\n", (ci->oncs & (1u << 0)) ? " compare" : "",
	       (ci->oncs & (1u << 2)) ? " dataset-management" : "",
	       (ci->oncs & (1u << 3)) ? " write-zeroes" : "", (ci->oncs & 0xd) ? "" : " none");
	if (h->valid)
		printf("  health        %d C, spare %u%% (threshold %u%%), %u%% used, %" PRIu64
		       " read / %" PRIu64 " write commands, %" PRIu64 " errors logged\n",
		       h->temp_c, h->spare, h->spare_thresh, h->used, h->reads, h->writes,
		       h->errors);
	printf("Namespaces: %u active (highest id %u)\n", nns, ci->nn);
	for (uint32_t i = 0; i < nns; i++) {
		struct dp_nvme_ns_info ni = {.size = sizeof(ni)};
		char eui[17];

		if (dp_nvme_ns_get_info(dp_nvme_ctrlr_get_ns(c, nsids[i]), &ni) != 0)
			continue;
		eui_hex(ni.eui64, 8, eui);
		printf("  ns %-4u %" PRIu64 " blocks of %u bytes = %.1f MiB, EUI-64 %s\n", ni.nsid,
		       ni.num_blocks, ni.block_size, (double)ni.bytes / (1 << 20), eui);
	}
}

static void print_json(const struct dp_nvme_ctrlr_info *ci, const struct health *h,
		       struct dp_nvme_ctrlr *c, const uint32_t *nsids, uint32_t nns)
{
	printf("{\"addr\":");
	json_str(ci->addr);
	printf(",\"model\":");
	json_str(ci->model);
	printf(",\"serial\":");
	json_str(ci->serial);
	printf(",\"firmware\":");
	json_str(ci->firmware);
	printf(",\"subnqn\":");
	json_str(ci->subnqn);
	printf(",\"vendor_id\":%u,\"subsys_vendor_id\":%u,\"version\":\"%u.%u.%u\",\"cntlid\":%u,"
	       "\"max_xfer\":%u,\"io_queues\":%u,\"max_queue_entries\":%u,\"doorbell_stride\":%u,"
	       "\"timeout_ms\":%u,\"vwc\":%u,\"oncs\":%u,\"nn\":%u",
	       ci->vendor_id, ci->subsys_vendor_id, ci->version >> 16, (ci->version >> 8) & 0xff,
	       ci->version & 0xff, ci->cntlid, ci->max_xfer, ci->io_queues, ci->max_queue_entries,
	       ci->doorbell_stride, ci->timeout_ms, ci->vwc, ci->oncs, ci->nn);
	if (h->valid)
		printf(",\"health\":{\"temperature_c\":%d,\"spare\":%u,\"spare_threshold\":%u,"
		       "\"percent_used\":%u,\"data_units_read\":%" PRIu64 ",\"data_units_written\":%"
		       PRIu64 ",\"read_commands\":%" PRIu64 ",\"write_commands\":%" PRIu64
		       ",\"error_count\":%" PRIu64 "}",
		       h->temp_c, h->spare, h->spare_thresh, h->used, h->units_read,
		       h->units_written, h->reads, h->writes, h->errors);
	printf(",\"namespaces\":[");
	for (uint32_t i = 0; i < nns; i++) {
		struct dp_nvme_ns_info ni = {.size = sizeof(ni)};
		char eui[17], nguid[33];

		if (dp_nvme_ns_get_info(dp_nvme_ctrlr_get_ns(c, nsids[i]), &ni) != 0)
			continue;
		eui_hex(ni.eui64, 8, eui);
		eui_hex(ni.nguid, 16, nguid);
		printf("%s{\"nsid\":%u,\"block_size\":%u,\"blocks\":%" PRIu64 ",\"capacity_blocks\":%"
		       PRIu64 ",\"bytes\":%" PRIu64 ",\"eui64\":\"%s\",\"nguid\":\"%s\"}",
		       i ? "," : "", ni.nsid, ni.block_size, ni.num_blocks, ni.capacity_blocks,
		       ni.bytes, eui, nguid);
	}
	printf("]}\n");
}

static void usage(FILE *f)
{
	fprintf(f, "usage: dmaplane_identify [-d BDF|sim:nvme0] [--json]\n"
		   "  -d, --device ADDR  a PCI address bound to vfio-pci (scripts/setup.sh bind) or a\n"
		   "                     sim device; default " DEFAULT_DEVICE "\n"
		   "  --json             one JSON object on stdout\n");
}

static int open_ctrlr(const char *dev, struct dp_ioas **ioas, struct dp_nvme_ctrlr **c)
{
	struct dp_ioas_opts io;
	int rc;

	dp_ioas_opts_init(&io, sizeof(io));
	if (strncmp(dev, "sim:", 4) == 0)
		io.backend = DP_IOMMU_SIM;
	rc = dp_ioas_create(&io, ioas);
	if (rc != 0) {
		fprintf(stderr, "dmaplane_identify: cannot create an IOAS: %s\n", strerror(-rc));
		return rc;
	}
	rc = dp_nvme_ctrlr_open(dev, *ioas, NULL, c);
	if (rc != 0) {
		fprintf(stderr, "dmaplane_identify: cannot open %s: %s (the lines above say why)\n",
			dev, strerror(-rc));
		dp_ioas_destroy(*ioas);
	}
	return rc;
}

int main(int argc, char **argv)
{
	const char *dev = NULL;
	struct dp_env_opts eo;
	struct dp_ioas *ioas = NULL;
	struct dp_nvme_ctrlr *c = NULL;
	struct dp_nvme_ctrlr_info ci = {.size = sizeof(ci)};
	struct health h;
	uint32_t *nsids, nns = 0;
	int json = 0, rc;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0) {
			json = 1;
		} else if ((strcmp(argv[i], "-d") == 0 || strcmp(argv[i], "--device") == 0) &&
			   i + 1 < argc) {
			dev = argv[++i];
		} else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			return 0;
		} else {
			usage(stderr);
			return 2;
		}
	}
	if (dev == NULL) {
		dev = DEFAULT_DEVICE;
		if (!json)
			printf("No device given (-d BDF): using the sim controller %s\n", dev);
	}
	dp_env_opts_init(&eo, sizeof(eo));
	eo.name = "dmaplane_identify";
	rc = dp_env_init(&eo);
	if (rc != 0) {
		fprintf(stderr, "dmaplane_identify: env init failed: %s\n", strerror(-rc));
		return 1;
	}
	if (open_ctrlr(dev, &ioas, &c) != 0) {
		dp_env_fini();
		return 1;
	}
	dp_nvme_ctrlr_get_info(c, &ci);
	get_health(c, &h);
	nsids = calloc(ci.num_ns ? ci.num_ns : 1, sizeof(*nsids));
	nns = ci.num_ns;
	if (nsids == NULL || dp_nvme_ctrlr_ns_list(c, nsids, &nns) != 0)
		nns = 0;
	if (json)
		print_json(&ci, &h, c, nsids, nns);
	else
		print_text(&ci, &h, c, nsids, nns);
	free(nsids);
	rc = dp_nvme_ctrlr_close(c);
	dp_ioas_destroy(ioas);
	dp_env_fini();
	return rc == 0 ? 0 : 1;
}
