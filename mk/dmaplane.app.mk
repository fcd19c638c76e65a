# A program: the Makefile sets DP_ROOT, APP (name), C_SRCS and optionally APP_DIR (default
# build/bin), then includes this. Programs link the static libdmaplane so tests can reach internals.
include $(DP_ROOT)/mk/dmaplane.common.mk

APP_DIR ?= $(BIN_DIR)
APP_BIN := $(APP_DIR)/$(APP)
DP_STATIC_LIB := $(LIB_DIR)/libdmaplane.a

all: $(APP_BIN)

$(APP_BIN): $(OBJS) $(DP_STATIC_LIB)
	@mkdir -p $(dir $@)
	@echo "  LD  $(patsubst $(BUILD_DIR)/%,build/%,$@)"
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $(OBJS) $(DP_STATIC_LIB) $(LOCAL_LIBS) $(SYS_LIBS)

clean:
	$(Q)rm -rf $(LOCAL_OBJ_DIR) $(APP_BIN)

.PHONY: all clean
