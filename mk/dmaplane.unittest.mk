# A CUnit test program: the Makefile sets DP_ROOT, APP and C_SRCS, then includes this.
# Tests link the static libdmaplane, so they can reach internal (dpi_*) symbols.
APP_DIR = $(TEST_DIR)/unit
LOCAL_CFLAGS += -I$(DP_ROOT)/test/unit/common
LOCAL_LIBS += -lcunit
include $(DP_ROOT)/mk/dmaplane.app.mk
