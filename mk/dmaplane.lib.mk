# A library component: lib/<name>/Makefile sets DP_ROOT, LIBNAME and C_SRCS, then includes this.
# It builds build/lib/libdmaplane_<LIBNAME>.a; the top-level Makefile combines the components into
# libdmaplane.a and libdmaplane.so.
include $(DP_ROOT)/mk/dmaplane.common.mk

LIB := $(LIB_DIR)/libdmaplane_$(LIBNAME).a

all: $(LIB)

$(LIB): $(OBJS)
	@mkdir -p $(dir $@)
	@echo "  AR  $(notdir $@)"
	$(Q)rm -f $@ && ar crs $@ $(OBJS)

clean:
	$(Q)rm -rf $(LOCAL_OBJ_DIR) $(LIB)

.PHONY: all clean
