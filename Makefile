# dmaplane top-level Makefile. Run ./configure first; then `make`, `make test`, `make install`.
DP_ROOT := $(CURDIR)
include $(DP_ROOT)/mk/dmaplane.common.mk

# Components, in dependency order. Each is a directory with a Makefile that builds
# build/lib/libdmaplane_<name>.a; together they form libdmaplane.
LIB_COMPONENTS := env poll sim iova vfio pasid
DRIVER_COMPONENTS := nvme idxd
COMPONENT_DIRS := $(addprefix lib/,$(LIB_COMPONENTS)) $(addprefix drivers/,$(DRIVER_COMPONENTS))
COMPONENT_LIBS := $(addprefix $(LIB_DIR)/libdmaplane_,$(addsuffix .a,$(LIB_COMPONENTS) $(DRIVER_COMPONENTS)))

STATIC_LIB := $(LIB_DIR)/libdmaplane.a
# Example programs: each installed as source + binary in its own directory.
EXAMPLES_DIR = $(CONFIG_PREFIX)/share/dmaplane/examples
SHARED_LIB := $(LIB_DIR)/libdmaplane.so.$(DP_VERSION)
SHARED_SONAME := libdmaplane.so.$(DP_SOVERSION)

SHARED_LDFLAGS := -shared -Wl,-soname,$(SHARED_SONAME) -Wl,--version-script=$(DP_ROOT)/mk/dmaplane.map
ifeq ($(strip $(CONFIG_SAN_FLAGS)),)
SHARED_LDFLAGS += -Wl,--no-undefined
endif

TEST_DIRS := $(if $(filter y,$(CONFIG_CUNIT)),test/unit)
# libFuzzer targets: only when configured --with-fuzzer (clang).
ifeq ($(CONFIG_FUZZER),y)
TEST_DIRS += test/fuzz
endif
FUZZ_SECONDS ?= 60

all: apps tests

components:
	$(Q)set -e; for d in $(COMPONENT_DIRS); do $(MAKE) --no-print-directory -C $$d; done

# The combined libraries are replaced only when their content changed, so a no-op `make`
# does not relink every program.
libs: components
	@mkdir -p $(LIB_DIR)
	$(Q){ echo "CREATE $(STATIC_LIB).tmp"; for l in $(COMPONENT_LIBS); do echo "ADDLIB $$l"; done; \
		echo SAVE; echo END; } | ar -M
	$(Q)if cmp -s $(STATIC_LIB).tmp $(STATIC_LIB); then rm -f $(STATIC_LIB).tmp; \
		else mv $(STATIC_LIB).tmp $(STATIC_LIB); echo "  AR  libdmaplane.a"; fi
	$(Q)$(CC) $(ALL_LDFLAGS) $(SHARED_LDFLAGS) -o $(SHARED_LIB).tmp \
		-Wl,--whole-archive $(COMPONENT_LIBS) -Wl,--no-whole-archive $(SYS_LIBS)
	$(Q)if cmp -s $(SHARED_LIB).tmp $(SHARED_LIB); then rm -f $(SHARED_LIB).tmp; \
		else mv $(SHARED_LIB).tmp $(SHARED_LIB); echo "  LD  libdmaplane.so"; fi
	$(Q)ln -sf $(notdir $(SHARED_LIB)) $(LIB_DIR)/$(SHARED_SONAME)
	$(Q)ln -sf $(SHARED_SONAME) $(LIB_DIR)/libdmaplane.so
	$(Q)sed -e 's|@PREFIX@|$(CONFIG_PREFIX)|' -e 's|@LIBDIR@|$(CONFIG_LIBDIR)|' \
		-e 's|@VERSION@|$(DP_VERSION)|' -e 's|@PRIVATE_LIBS@|$(SYS_LIBS)|' \
		mk/dmaplane.pc.in > $(LIB_DIR)/dmaplane.pc

apps: libs
	$(Q)$(MAKE) --no-print-directory -C apps

tests: libs
	$(Q)set -e; for d in $(TEST_DIRS); do $(MAKE) --no-print-directory -C $$d; done

# Every public header must compile on its own, as C and as C++.
check-headers:
	$(Q)set -e; for h in include/dmaplane/*.h; do \
		echo "#include <dmaplane/$$(basename $$h)>" | $(CC) -std=gnu11 -Wall -Wextra -Werror \
			-Iinclude -x c -fsyntax-only - || { echo "header $$h does not compile as C"; exit 1; }; \
		echo "#include <dmaplane/$$(basename $$h)>" | c++ -std=c++11 -Wall -Wextra -Werror \
			-Iinclude -x c++ -fsyntax-only - || { echo "header $$h does not compile as C++"; exit 1; }; \
	done; echo "  headers: $$(ls include/dmaplane/*.h | wc -l) public headers compile alone as C and C++"

# Every exported symbol of the shared library is dp_*.
check-symbols: libs
	$(Q)bad=$$(nm -D --defined-only $(SHARED_LIB) | awk '{print $$3}' | grep -v '^dp_' || true); \
	if [ -n "$$bad" ]; then echo "libdmaplane.so exports non-dp_ symbols:"; echo "$$bad"; exit 1; fi; \
	echo "  symbols: libdmaplane.so exports $$(nm -D --defined-only $(SHARED_LIB) | grep -c ' dp_') dp_* symbols and nothing else"

test: all check-headers check-symbols
	$(Q)test/unit/run.sh $(TEST_DIR)/unit

# Run the fuzzers for a bounded time each: make fuzz FUZZ_SECONDS=60
fuzz: all
ifeq ($(CONFIG_FUZZER),y)
	$(Q)test/fuzz/run.sh $(BUILD_DIR)/fuzz $(FUZZ_SECONDS)
else
	@echo "make fuzz: configure with --with-fuzzer --cc=clang first"; exit 1
endif

test-vm: all
	$(Q)test/vm/run.sh

install: all
	install -d $(DESTDIR)$(CONFIG_PREFIX)/include/dmaplane $(DESTDIR)$(CONFIG_LIBDIR)/pkgconfig \
		$(DESTDIR)$(CONFIG_PREFIX)/bin
	install -m 644 include/dmaplane/*.h $(DESTDIR)$(CONFIG_PREFIX)/include/dmaplane/
	install -m 644 $(STATIC_LIB) $(DESTDIR)$(CONFIG_LIBDIR)/
	install -m 755 $(SHARED_LIB) $(DESTDIR)$(CONFIG_LIBDIR)/
	ln -sf $(notdir $(SHARED_LIB)) $(DESTDIR)$(CONFIG_LIBDIR)/$(SHARED_SONAME)
	ln -sf $(SHARED_SONAME) $(DESTDIR)$(CONFIG_LIBDIR)/libdmaplane.so
	install -m 644 $(LIB_DIR)/dmaplane.pc $(DESTDIR)$(CONFIG_LIBDIR)/pkgconfig/
	install -m 755 $(BIN_DIR)/* $(DESTDIR)$(CONFIG_PREFIX)/bin/
	$(Q)set -e; for d in apps/examples/*/; do n=$$(basename $$d); \
		install -d $(DESTDIR)$(EXAMPLES_DIR)/$$n; \
		install -m 644 $$d*.c $(DESTDIR)$(EXAMPLES_DIR)/$$n/; \
		install -m 755 $(BUILD_DIR)/examples/$$n $(DESTDIR)$(EXAMPLES_DIR)/$$n/; \
	done

uninstall:
	rm -rf $(DESTDIR)$(CONFIG_PREFIX)/include/dmaplane
	rm -f $(DESTDIR)$(CONFIG_LIBDIR)/libdmaplane.* $(DESTDIR)$(CONFIG_LIBDIR)/pkgconfig/dmaplane.pc
	rm -f $(addprefix $(DESTDIR)$(CONFIG_PREFIX)/bin/,$(notdir $(wildcard $(BIN_DIR)/*)))
	rm -rf $(DESTDIR)$(EXAMPLES_DIR)

clean:
	rm -rf $(BUILD_DIR)

distclean: clean
	rm -f mk/config.mk

.PHONY: all components libs apps tests check-headers check-symbols test fuzz test-vm install \
	uninstall clean distclean
