// SPDX-License-Identifier: MIT OR Apache-2.0
/*
 * revoke_scenario: the init (PID 1) of the real-drivers initramfs.
 *
 * It plays the seed thread's scenario through the real Linux 7.2 interfaces, with
 * QEMU's `edu` device bound to vfio-pci:
 *
 *   vfio cdev + iommufd: bind, attach to an IOAS
 *   VFIO_DEVICE_FEATURE_DMA_BUF: export BAR 0 as a dma-buf        (phase "export")
 *   IOMMU_IOAS_MAP_FILE: iommufd imports and pins it               (phase "import")
 *   edu DMA through the IOAS mapping                               (phase "dma-before")
 *   PCI_COMMAND memory decode off: VFIO revokes                    (phase "revoke")
 *   PCI_COMMAND memory decode on: VFIO un-revokes                  (phase "restore")
 *   edu DMA through the (now revoked) IOAS mapping                 (phase "dma-after")
 *   IOMMU_IOAS_UNMAP, IOMMU_IOAS_MAP_FILE again                    ("unmap1", "import2")
 *   VFIO_DEVICE_RESET: VFIO revokes and un-revokes around a reset  (phase "reset")
 *   memory decode off, IOMMU_IOAS_UNMAP, close(dma-buf)            ("revoke2", "unmap2", "close")
 *
 * Every phase is announced in the ftrace buffer (trace_marker), where kprobes and
 * kretprobes on the dma-buf core, the reservation lock, VFIO and iommufd record what the
 * kernel did. At the end the trace and the kernel log are printed on the console between
 * markers, and the machine powers off. The host side (`cargo run -p real-drivers -- run`)
 * turns the trace into the suite's trace format and judges it.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <linux/iommufd.h>
#include <linux/pci_regs.h>
#include <linux/vfio.h>

#define TRACING "/sys/kernel/tracing"
#define EDU_VENDOR_DEVICE "1234:11e8"
#define RESET_VENDOR_DEVICE "1af4:1044"
#define IOVA 0x100000ULL

static int marker_fd = -1;
static int kmsg_fd = -1;

static void say(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	printf("real-drivers: ");
	vprintf(fmt, ap);
	printf("\n");
	fflush(stdout);
	va_end(ap);
}

static void fail(const char *what)
{
	say("FAILED %s: %s (errno %d)", what, strerror(errno), errno);
}

static int write_file(const char *path, const char *text, int append)
{
	int fd = open(path, O_WRONLY | (append ? O_APPEND : O_TRUNC));
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = write(fd, text, strlen(text));
	close(fd);
	return n < 0 ? -errno : 0;
}

static void kmsg_report(const char *when);
static char current_phase[64] = "setup";

/* Announce a phase: in the trace buffer (for the host's parser) and on the console, after
 * reporting the kernel warnings of the phase that ends. */
static void phase(const char *name)
{
	char line[128];

	kmsg_report(NULL);
	snprintf(current_phase, sizeof(current_phase), "%s", name);

	snprintf(line, sizeof(line), "phase %s", name);
	if (marker_fd >= 0 && write(marker_fd, line, strlen(line)) < 0)
		fail("trace_marker");
	say("%s", line);
}

/*
 * The probes: `key|function|entry fetchargs|return fetchargs`. Entry events are named
 * e_KEY, return events x_KEY. x86_64 passes the first arguments in registers, read
 * with $argN; no BTF is needed.
 */
static const char *const probes[] = {
	"export|dma_buf_export||ret=$retval:x64",
	"dattach|dma_buf_dynamic_attach|buf=$arg1:x64 ops=$arg3:x64 p2p=+0($arg3):u8 inv=+8($arg3):x64|ret=$retval:x64",
	"opsattach|vfio_pci_dma_buf_attach|buf=$arg1:x64 att=$arg2:x64|ret=$retval:s32",
	"revocable|dma_buf_attach_revocable|att=$arg1:x64|ret=$retval:u8",
	"pin|dma_buf_pin|att=$arg1:x64|ret=$retval:s32",
	"unpin|dma_buf_unpin|att=$arg1:x64|",
	"map|dma_buf_map_attachment|att=$arg1:x64|ret=$retval:x64",
	"unmap|dma_buf_unmap_attachment|att=$arg1:x64 sgt=$arg2:x64|",
	"opsmap|vfio_pci_dma_buf_map|att=$arg1:x64|ret=$retval:x64",
	"opsunmap|vfio_pci_dma_buf_unmap|att=$arg1:x64 sgt=$arg2:x64|",
	"privmap|vfio_pci_dma_buf_iommufd_map|att=$arg1:x64|ret=$retval:s32",
	"inval|dma_buf_invalidate_mappings|buf=$arg1:x64|",
	"notify|iopt_revoke_notify|att=$arg1:x64|",
	"domunmap|iopt_area_unmap_domain_range||",
	"iommuunmap|iommu_unmap|iova=$arg2:x64 size=$arg3:x64|ret=$retval:u64",
	"wait|dma_resv_wait_timeout|obj=$arg1:x64 usage=$arg2:u32 intr=$arg3:u8 timeout=$arg4:s64|ret=$retval:s64",
	"lock|ww_mutex_lock|lock=$arg1:x64|ret=$retval:s32",
	"locki|ww_mutex_lock_interruptible|lock=$arg1:x64|ret=$retval:s32",
	"unlock|ww_mutex_unlock|lock=$arg1:x64|",
	"move|vfio_pci_dma_buf_move|revoked=$arg2:u8|",
	"wfc|wait_for_completion||",
	"detach|dma_buf_detach|buf=$arg1:x64 att=$arg2:x64|",
	"release|vfio_pci_dma_buf_release|buf=$arg1:x64|",
	"ioptmap|iopt_alloc_dmabuf_pages|buf=$arg2:x64|ret=$retval:x64",
	"ioptrelease|iopt_release_pages||",
	"cleanup|vfio_pci_dma_buf_cleanup||",
	"pcireset|pci_try_reset_function||ret=$retval:s32",
	"warn|__warn|file=+0($arg1):string line=$arg2:s32|",
	NULL,
};

static void setup_tracing(void)
{
	char line[512], key[32], fn[64], entry[256], ret[128];
	int i;

	if (mount("tracefs", TRACING, "tracefs", 0, NULL) && errno != EBUSY)
		fail("mount tracefs");
	write_file(TRACING "/tracing_on", "0", 0);
	write_file(TRACING "/buffer_size_kb", "4096", 0);
	write_file(TRACING "/kprobe_events", "", 0);
	for (i = 0; probes[i]; i++) {
		const char *p = probes[i];
		const char *a = strchr(p, '|');
		const char *b = strchr(a + 1, '|');
		const char *c = strchr(b + 1, '|');
		int r;

		snprintf(key, sizeof(key), "%.*s", (int)(a - p), p);
		snprintf(fn, sizeof(fn), "%.*s", (int)(b - a - 1), a + 1);
		snprintf(entry, sizeof(entry), "%.*s", (int)(c - b - 1), b + 1);
		snprintf(ret, sizeof(ret), "%s", c + 1);
		snprintf(line, sizeof(line), "p:rv/e_%s %s %s\n", key, fn, entry);
		r = write_file(TRACING "/kprobe_events", line, 1);
		if (r)
			say("probe %s: cannot place an entry probe on %s (%s)", key, fn, strerror(-r));
		snprintf(line, sizeof(line), "r:rv/x_%s %s %s\n", key, fn, ret);
		r = write_file(TRACING "/kprobe_events", line, 1);
		if (r)
			say("probe %s: cannot place a return probe on %s (%s)", key, fn, strerror(-r));
		else
			say("probe %s: %s", key, fn);
	}
	if (write_file(TRACING "/events/rv/enable", "1", 0))
		fail("enable rv events");
	marker_fd = open(TRACING "/trace_marker", O_WRONLY);
	if (marker_fd < 0)
		fail("open trace_marker");
	write_file(TRACING "/tracing_on", "1", 0);
}

static void dump(const char *path, const char *begin, const char *end)
{
	char buf[4096];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_NONBLOCK);

	printf("%s\n", begin);
	fflush(stdout);
	if (fd >= 0) {
		while ((n = read(fd, buf, sizeof(buf))) > 0)
			if (write(1, buf, n) < 0)
				break;
		close(fd);
	}
	printf("\n%s\n", end);
	fflush(stdout);
}

/* Whether the PCI device `bdf` is vendor:device `id` ("1234:11e8"). */
static int is_device(const char *bdf, const char *id)
{
	char path[160], v[16] = "", d[16] = "", want[32];
	FILE *f;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/vendor", bdf);
	f = fopen(path, "r");
	if (!f || !fgets(v, sizeof(v), f)) {
		if (f)
			fclose(f);
		return 0;
	}
	fclose(f);
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/device", bdf);
	f = fopen(path, "r");
	if (!f || !fgets(d, sizeof(d), f)) {
		if (f)
			fclose(f);
		return 0;
	}
	fclose(f);
	v[strcspn(v, "\n")] = 0;
	d[strcspn(d, "\n")] = 0;
	snprintf(want, sizeof(want), "0x%.4s", id);
	if (strcmp(v, want))
		return 0;
	snprintf(want, sizeof(want), "0x%.4s", id + 5);
	return !strcmp(d, want);
}

/* The vfio cdev of the device `id` vfio-pci claimed: /dev/vfio/devices/vfioN. */
static int find_vfio_cdev(const char *id, char *bdf, size_t bdf_len, char *cdev, size_t cdev_len)
{
	DIR *d = opendir("/sys/bus/pci/drivers/vfio-pci");
	struct dirent *e;

	if (!d)
		return -1;
	while ((e = readdir(d))) {
		char path[256];
		DIR *v;
		struct dirent *f;

		if (!strchr(e->d_name, ':') || !is_device(e->d_name, id))
			continue;
		snprintf(path, sizeof(path), "/sys/bus/pci/drivers/vfio-pci/%s/vfio-dev", e->d_name);
		v = opendir(path);
		if (!v)
			continue;
		while ((f = readdir(v))) {
			if (strncmp(f->d_name, "vfio", 4))
				continue;
			snprintf(bdf, bdf_len, "%s", e->d_name);
			snprintf(cdev, cdev_len, "/dev/vfio/devices/%s", f->d_name);
			closedir(v);
			closedir(d);
			return 0;
		}
		closedir(v);
	}
	closedir(d);
	return -1;
}

struct dev {
	int fd;
	uint64_t cfg_off; /* offset of the config space region in the device fd */
	uint64_t bar0_off;
	uint64_t bar0_size;
};

static int region(struct dev *d, unsigned int index, uint64_t *off, uint64_t *size)
{
	struct vfio_region_info info = { .argsz = sizeof(info), .index = index };

	if (ioctl(d->fd, VFIO_DEVICE_GET_REGION_INFO, &info))
		return -errno;
	*off = info.offset;
	*size = info.size;
	return 0;
}

static int set_memory_decode(struct dev *d, int on)
{
	uint16_t cmd;

	if (pread(d->fd, &cmd, 2, d->cfg_off + PCI_COMMAND) != 2)
		return -errno;
	if (on)
		cmd |= PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER;
	else
		cmd &= ~PCI_COMMAND_MEMORY;
	if (pwrite(d->fd, &cmd, 2, d->cfg_off + PCI_COMMAND) != 2)
		return -errno;
	return 0;
}

static int bar_rw(struct dev *d, uint64_t reg, void *val, size_t len, int write)
{
	ssize_t n = write ? pwrite(d->fd, val, len, d->bar0_off + reg)
			  : pread(d->fd, val, len, d->bar0_off + reg);

	return n == (ssize_t)len ? 0 : -errno;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/*
 * Print the kernel log records that arrived since the last call: for a DMA (`when` set),
 * those of the IOMMU; for a phase (`when` NULL), warnings, bugs and lockdep reports.
 */
static void kmsg_report(const char *when)
{
	char rec[1024];
	ssize_t n;

	if (kmsg_fd < 0)
		return;
	while ((n = read(kmsg_fd, rec, sizeof(rec) - 1)) > 0 || (n < 0 && errno == EPIPE)) {
		if (n <= 0)
			continue;
		rec[n] = 0;
		char *msg = strchr(rec, ';') ? strchr(rec, ';') + 1 : rec;

		if (strchr(msg, '\n'))
			*strchr(msg, '\n') = 0;

		if (when && (strstr(msg, "DMAR") || strstr(msg, "DMA fault")))
			say("dma %s: kmsg: %s", when, msg);
		if (strstr(msg, "WARNING:") || strstr(msg, "BUG:") || strstr(msg, "lockdep") ||
		    strstr(msg, "possible circular locking") || strstr(msg, "INFO: "))
			say("kmsg in %s: %s", current_phase, msg);
	}
}

/*
 * The edu device's DMA engine: copy 4 bytes from its internal buffer (0x40000) to `iova`,
 * which is the dma-buf's IOAS mapping of edu's own BAR 0, at the liveness register
 * (offset 4: a write stores the inverse). The CPU writes a known value first and reads the
 * register after: if the DMA went through, it changed.
 */
static void edu_dma(struct dev *d, const char *when)
{
	uint32_t probe = 0x12345678, before = 0, after = 0, cmd = 0;
	uint64_t src = 0x40000, dst = IOVA + 4, cnt = 4, dma_cmd = 1 | 2; /* start, EDU -> RAM */

	if (bar_rw(d, 4, &probe, 4, 1) || bar_rw(d, 4, &before, 4, 0)) {
		say("dma %s: the BAR is not accessible (%s)", when, strerror(errno));
		return;
	}
	if (bar_rw(d, 0x80, &src, 8, 1) || bar_rw(d, 0x88, &dst, 8, 1) ||
	    bar_rw(d, 0x90, &cnt, 8, 1) || bar_rw(d, 0x98, &dma_cmd, 8, 1)) {
		say("dma %s: cannot program the DMA engine (%s)", when, strerror(errno));
		return;
	}
	sleep_ms(400); /* edu runs the transfer from a 100 ms timer */
	kmsg_report(when);
	bar_rw(d, 0x98, &cmd, 4, 0);
	bar_rw(d, 4, &after, 4, 0);
	say("dma %s: liveness register %#x before, %#x after, DMA engine %s", when, before, after,
	    (cmd & 1) ? "still busy" : "idle");
	say("dma %s: %s", when, after != before ? "WRITE ARRIVED" : "NO WRITE ARRIVED");
}

static int map_file(int iommufd, uint32_t ioas, int dfd, uint64_t len)
{
	struct iommu_ioas_map_file map = {
		.size = sizeof(map),
		.flags = IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_READABLE |
			 IOMMU_IOAS_MAP_WRITEABLE,
		.ioas_id = ioas,
		.fd = dfd,
		.start = 0,
		.length = len,
		.iova = IOVA,
	};

	return ioctl(iommufd, IOMMU_IOAS_MAP_FILE, &map) ? -errno : 0;
}

static int unmap_iova(int iommufd, uint32_t ioas, uint64_t len)
{
	struct iommu_ioas_unmap unmap = {
		.size = sizeof(unmap), .ioas_id = ioas, .iova = IOVA, .length = len,
	};

	return ioctl(iommufd, IOMMU_IOAS_UNMAP, &unmap) ? -errno : 0;
}

#define STEP(what, expr)                                                        \
	do {                                                                    \
		int _r = (expr);                                                \
		say("%s = %d%s%s", what, _r, _r < 0 ? " " : "",               \
		    _r < 0 ? strerror(-_r) : "");                               \
	} while (0)

static int scenario(void)
{
	char bdf[64], cdev[64];
	struct dev d = { .fd = -1 };
	uint64_t cfg_size, len;
	int iommufd, dfd, r;
	struct iommu_ioas_alloc alloc = { .size = sizeof(alloc) };
	struct vfio_device_bind_iommufd bind = { .argsz = sizeof(bind) };
	struct vfio_device_attach_iommufd_pt attach = { .argsz = sizeof(attach) };
	struct {
		struct vfio_device_feature feature;
		struct vfio_device_feature_dma_buf get;
		struct vfio_region_dma_range range;
	} __attribute__((packed)) req;

	if (find_vfio_cdev(EDU_VENDOR_DEVICE, bdf, sizeof(bdf), cdev, sizeof(cdev))) {
		say("FAILED no device bound to vfio-pci with a vfio cdev (vfio-pci.ids=%s?)",
		    EDU_VENDOR_DEVICE);
		return -1;
	}
	say("device %s at %s", bdf, cdev);
	iommufd = open("/dev/iommu", O_RDWR);
	if (iommufd < 0) {
		fail("open /dev/iommu");
		return -1;
	}
	d.fd = open(cdev, O_RDWR);
	if (d.fd < 0) {
		fail("open vfio cdev");
		return -1;
	}
	bind.iommufd = iommufd;
	if (ioctl(d.fd, VFIO_DEVICE_BIND_IOMMUFD, &bind)) {
		fail("VFIO_DEVICE_BIND_IOMMUFD");
		return -1;
	}
	if (ioctl(iommufd, IOMMU_IOAS_ALLOC, &alloc)) {
		fail("IOMMU_IOAS_ALLOC");
		return -1;
	}
	attach.pt_id = alloc.out_ioas_id;
	if (ioctl(d.fd, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &attach)) {
		fail("VFIO_DEVICE_ATTACH_IOMMUFD_PT");
		return -1;
	}
	say("bound devid %u, attached to ioas %u (hwpt %u)", bind.out_devid, alloc.out_ioas_id,
	    attach.pt_id);
	if (region(&d, VFIO_PCI_CONFIG_REGION_INDEX, &d.cfg_off, &cfg_size) ||
	    region(&d, VFIO_PCI_BAR0_REGION_INDEX, &d.bar0_off, &d.bar0_size)) {
		fail("VFIO_DEVICE_GET_REGION_INFO");
		return -1;
	}
	len = d.bar0_size;
	say("BAR 0: %llu bytes", (unsigned long long)len);
	/* Memory decode on, bus mastering on, before the export (a BAR exported while decode
	 * is off is born revoked). */
	STEP("memory decode on", set_memory_decode(&d, 1));

	phase("export");
	memset(&req, 0, sizeof(req));
	req.feature.argsz = sizeof(req);
	req.feature.flags = VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_DMA_BUF;
	req.get.region_index = VFIO_PCI_BAR0_REGION_INDEX;
	req.get.open_flags = O_RDWR | O_CLOEXEC;
	req.get.nr_ranges = 1;
	req.range.offset = 0;
	req.range.length = len;
	dfd = ioctl(d.fd, VFIO_DEVICE_FEATURE, &req);
	if (dfd < 0) {
		fail("VFIO_DEVICE_FEATURE_DMA_BUF");
		return -1;
	}
	say("dma-buf fd %d", dfd);

	phase("import");
	r = map_file(iommufd, alloc.out_ioas_id, dfd, len);
	STEP("IOMMU_IOAS_MAP_FILE", r);
	if (r)
		return -1;

	phase("dma-before");
	edu_dma(&d, "before revoke");

	phase("revoke");
	STEP("memory decode off", set_memory_decode(&d, 0));

	phase("restore");
	STEP("memory decode on", set_memory_decode(&d, 1));

	phase("dma-after");
	edu_dma(&d, "after revoke");

	phase("unmap1");
	STEP("IOMMU_IOAS_UNMAP", unmap_iova(iommufd, alloc.out_ioas_id, len));

	phase("import2");
	STEP("IOMMU_IOAS_MAP_FILE", map_file(iommufd, alloc.out_ioas_id, dfd, len));

	phase("dma-remapped");
	edu_dma(&d, "after the new import");

	phase("reset");
	STEP("VFIO_DEVICE_RESET", ioctl(d.fd, VFIO_DEVICE_RESET) ? -errno : 0);
	STEP("memory decode on", set_memory_decode(&d, 1));

	phase("revoke2");
	STEP("memory decode off", set_memory_decode(&d, 0));

	phase("import-revoked");
	STEP("IOMMU_IOAS_MAP_FILE while revoked (second IOVA)", ({
		     struct iommu_ioas_map_file m = {
			     .size = sizeof(m),
			     .flags = IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE,
			     .ioas_id = alloc.out_ioas_id, .fd = dfd, .length = len,
		     };
		     ioctl(iommufd, IOMMU_IOAS_MAP_FILE, &m) ? -errno : 0;
	     }));

	phase("unmap2");
	STEP("IOMMU_IOAS_UNMAP", unmap_iova(iommufd, alloc.out_ioas_id, len));

	phase("close");
	STEP("close(dma-buf)", close(dfd) ? -errno : 0);

	phase("device-close");
	close(d.fd);
	close(iommufd);
	return 0;
}

/*
 * The revoke around a real reset: QEMU's virtio-rng (modern, on a PCIe root port, so it has
 * FLR) bound to vfio-pci; its BAR 4 exported and imported into its own IOAS, then
 * VFIO_DEVICE_RESET, which revokes, resets the function and un-revokes.
 */
static void reset_scenario(void)
{
	char bdf[64], cdev[64];
	struct dev d = { .fd = -1 };
	uint64_t cfg_size;
	int iommufd, dfd;
	struct iommu_ioas_alloc alloc = { .size = sizeof(alloc) };
	struct vfio_device_bind_iommufd bind = { .argsz = sizeof(bind) };
	struct vfio_device_attach_iommufd_pt attach = { .argsz = sizeof(attach) };
	struct vfio_device_info info = { .argsz = sizeof(info) };
	struct {
		struct vfio_device_feature feature;
		struct vfio_device_feature_dma_buf get;
		struct vfio_region_dma_range range;
	} __attribute__((packed)) req;

	if (find_vfio_cdev(RESET_VENDOR_DEVICE, bdf, sizeof(bdf), cdev, sizeof(cdev))) {
		say("reset: no device %s bound to vfio-pci, skipped", RESET_VENDOR_DEVICE);
		return;
	}
	iommufd = open("/dev/iommu", O_RDWR);
	d.fd = open(cdev, O_RDWR);
	bind.iommufd = iommufd;
	if (iommufd < 0 || d.fd < 0 || ioctl(d.fd, VFIO_DEVICE_BIND_IOMMUFD, &bind) ||
	    ioctl(iommufd, IOMMU_IOAS_ALLOC, &alloc)) {
		fail("reset: open and bind");
		return;
	}
	attach.pt_id = alloc.out_ioas_id;
	if (ioctl(d.fd, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &attach) ||
	    ioctl(d.fd, VFIO_DEVICE_GET_INFO, &info) ||
	    region(&d, VFIO_PCI_CONFIG_REGION_INDEX, &d.cfg_off, &cfg_size) ||
	    region(&d, VFIO_PCI_BAR4_REGION_INDEX, &d.bar0_off, &d.bar0_size)) {
		fail("reset: attach, info, regions");
		return;
	}
	say("reset: device %s at %s, BAR 4 %llu bytes, reset %s", bdf, cdev,
	    (unsigned long long)d.bar0_size, (info.flags & VFIO_DEVICE_FLAGS_RESET) ? "works" : "NOT supported");
	STEP("reset: memory decode on", set_memory_decode(&d, 1));

	phase("r-export");
	memset(&req, 0, sizeof(req));
	req.feature.argsz = sizeof(req);
	req.feature.flags = VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_DMA_BUF;
	req.get.region_index = VFIO_PCI_BAR4_REGION_INDEX;
	req.get.open_flags = O_RDWR | O_CLOEXEC;
	req.get.nr_ranges = 1;
	req.range.length = d.bar0_size;
	dfd = ioctl(d.fd, VFIO_DEVICE_FEATURE, &req);
	if (dfd < 0) {
		fail("reset: VFIO_DEVICE_FEATURE_DMA_BUF");
		return;
	}

	phase("r-import");
	STEP("reset: IOMMU_IOAS_MAP_FILE", map_file(iommufd, alloc.out_ioas_id, dfd, d.bar0_size));

	phase("r-reset");
	STEP("reset: VFIO_DEVICE_RESET", ioctl(d.fd, VFIO_DEVICE_RESET) ? -errno : 0);

	phase("r-unmap");
	STEP("reset: IOMMU_IOAS_UNMAP", unmap_iova(iommufd, alloc.out_ioas_id, d.bar0_size));

	phase("r-close");
	STEP("reset: close(dma-buf)", close(dfd) ? -errno : 0);
	close(d.fd);
	close(iommufd);
}

int main(void)
{
	mount("proc", "/proc", "proc", 0, NULL);
	mount("sysfs", "/sys", "sysfs", 0, NULL);
	mount("devtmpfs", "/dev", "devtmpfs", 0, NULL);
	setup_tracing();
	kmsg_fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK);
	if (kmsg_fd >= 0)
		lseek(kmsg_fd, 0, SEEK_END);
	say("scenario %s", scenario() ? "STOPPED" : "DONE");
	reset_scenario();
	phase("end");
	write_file(TRACING "/tracing_on", "0", 0);
	dump(TRACING "/trace", "=== TRACE BEGIN", "=== TRACE END");
	dump("/dev/kmsg", "=== KMSG BEGIN", "=== KMSG END");
	sync();
	reboot(RB_POWER_OFF);
	return 0;
}
