# Shared variables and compile rules. Included by every Makefile in the tree after it sets DP_ROOT.

ifeq ($(wildcard $(DP_ROOT)/mk/config.mk),)
$(error mk/config.mk is missing: run ./configure first)
endif
include $(DP_ROOT)/mk/config.mk
.DEFAULT_GOAL := all

BUILD_DIR ?= $(DP_ROOT)/build
OBJ_DIR := $(BUILD_DIR)/obj
LIB_DIR := $(BUILD_DIR)/lib
BIN_DIR := $(BUILD_DIR)/bin
TEST_DIR := $(BUILD_DIR)/test

CC := $(CONFIG_CC)
DP_VERSION := 0.1.0
DP_SOVERSION := 0

ifeq ($(CONFIG_DEBUG),y)
OPT_CFLAGS := -O0 -g3
else
OPT_CFLAGS := -O2 -g -DNDEBUG
endif

WARN_CFLAGS := -Wall -Wextra -Werror -Wmissing-prototypes -Wstrict-prototypes -Wshadow \
	-Wformat=2 -Wno-unused-parameter -Wpointer-arith -Wundef

COMMON_CFLAGS := -std=gnu11 -fPIC -pthread -D_GNU_SOURCE -fno-strict-aliasing \
	-I$(DP_ROOT)/include $(OPT_CFLAGS) $(WARN_CFLAGS)
COMMON_LDFLAGS := -pthread

ifneq ($(strip $(CONFIG_SAN_FLAGS)),)
COMMON_CFLAGS += $(CONFIG_SAN_FLAGS) -fno-omit-frame-pointer
COMMON_LDFLAGS += $(CONFIG_SAN_FLAGS)
endif
ifeq ($(CONFIG_COVERAGE),y)
COMMON_CFLAGS += --coverage
COMMON_LDFLAGS += --coverage
endif

CONFIG_FLAGS := -DDP_CONFIG_DPDK=$(if $(filter y,$(CONFIG_DPDK)),1,0) \
	-DDP_CONFIG_NUMA=$(if $(filter y,$(CONFIG_NUMA)),1,0)
COMMON_CFLAGS += $(CONFIG_FLAGS)

# Libraries every program linked against the static libdmaplane needs.
SYS_LIBS :=
ifeq ($(CONFIG_DPDK),y)
SYS_LIBS += $(CONFIG_DPDK_LIBS)
endif
ifeq ($(CONFIG_NUMA),y)
SYS_LIBS += -lnuma
endif
SYS_LIBS += -lpthread -ldl -lrt

# CFLAGS from the environment or the command line come last so they can override.
ALL_CFLAGS = $(COMMON_CFLAGS) $(LOCAL_CFLAGS) $(CFLAGS)
ALL_LDFLAGS = $(COMMON_LDFLAGS) $(LDFLAGS)

Q ?= @
ifeq ($(V),1)
Q :=
endif

# Objects land under build/obj/<path relative to DP_ROOT>/.
REL_DIR := $(patsubst $(DP_ROOT)/%,%,$(CURDIR))
LOCAL_OBJ_DIR := $(OBJ_DIR)/$(REL_DIR)
OBJS := $(addprefix $(LOCAL_OBJ_DIR)/,$(C_SRCS:.c=.o))

$(LOCAL_OBJ_DIR)/%.o: %.c $(DP_ROOT)/mk/config.mk
	@mkdir -p $(dir $@)
	@echo "  CC  $(REL_DIR)/$<"
	$(Q)$(CC) $(ALL_CFLAGS) $(CFLAGS_$(basename $(notdir $<))) -MMD -MP -c $< -o $@

-include $(OBJS:.o=.d)
