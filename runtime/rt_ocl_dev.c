/* rt_ocl_dev.c — OpenCL platforms and devices: error names, the device a spec names
 * (VIT_CL_DEVICE at run time, --cl-device at compile time), descriptions and a listing.
 *
 * "No platform" is an ordinary outcome (an ICD loader with no driver returns
 * CL_PLATFORM_NOT_FOUND_KHR): it becomes a message that says what to install or set, never
 * an abort. OpenCL 1.2 API only.
 */
#define CL_TARGET_OPENCL_VERSION 120
#include <CL/cl.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rt_ocl.h"

#ifndef CL_PLATFORM_NOT_FOUND_KHR
#define CL_PLATFORM_NOT_FOUND_KHR -1001
#endif

const char *rt_ocl_error_name(int code)
{
    static const struct {
        int code;
        const char *name;
    } names[] = {
        {CL_SUCCESS, "CL_SUCCESS"},
        {CL_DEVICE_NOT_FOUND, "CL_DEVICE_NOT_FOUND"},
        {CL_DEVICE_NOT_AVAILABLE, "CL_DEVICE_NOT_AVAILABLE"},
        {CL_COMPILER_NOT_AVAILABLE, "CL_COMPILER_NOT_AVAILABLE"},
        {CL_MEM_OBJECT_ALLOCATION_FAILURE, "CL_MEM_OBJECT_ALLOCATION_FAILURE"},
        {CL_OUT_OF_RESOURCES, "CL_OUT_OF_RESOURCES"},
        {CL_OUT_OF_HOST_MEMORY, "CL_OUT_OF_HOST_MEMORY"},
        {CL_PROFILING_INFO_NOT_AVAILABLE, "CL_PROFILING_INFO_NOT_AVAILABLE"},
        {CL_MEM_COPY_OVERLAP, "CL_MEM_COPY_OVERLAP"},
        {CL_BUILD_PROGRAM_FAILURE, "CL_BUILD_PROGRAM_FAILURE"},
        {CL_MAP_FAILURE, "CL_MAP_FAILURE"},
        {CL_MISALIGNED_SUB_BUFFER_OFFSET, "CL_MISALIGNED_SUB_BUFFER_OFFSET"},
        {CL_EXEC_STATUS_ERROR_FOR_EVENTS_IN_WAIT_LIST, "CL_EXEC_STATUS_ERROR_FOR_EVENTS_IN_WAIT_LIST"},
        {CL_COMPILE_PROGRAM_FAILURE, "CL_COMPILE_PROGRAM_FAILURE"},
        {CL_LINKER_NOT_AVAILABLE, "CL_LINKER_NOT_AVAILABLE"},
        {CL_LINK_PROGRAM_FAILURE, "CL_LINK_PROGRAM_FAILURE"},
        {CL_INVALID_VALUE, "CL_INVALID_VALUE"},
        {CL_INVALID_DEVICE_TYPE, "CL_INVALID_DEVICE_TYPE"},
        {CL_INVALID_PLATFORM, "CL_INVALID_PLATFORM"},
        {CL_INVALID_DEVICE, "CL_INVALID_DEVICE"},
        {CL_INVALID_CONTEXT, "CL_INVALID_CONTEXT"},
        {CL_INVALID_QUEUE_PROPERTIES, "CL_INVALID_QUEUE_PROPERTIES"},
        {CL_INVALID_COMMAND_QUEUE, "CL_INVALID_COMMAND_QUEUE"},
        {CL_INVALID_HOST_PTR, "CL_INVALID_HOST_PTR"},
        {CL_INVALID_MEM_OBJECT, "CL_INVALID_MEM_OBJECT"},
        {CL_INVALID_BINARY, "CL_INVALID_BINARY"},
        {CL_INVALID_BUILD_OPTIONS, "CL_INVALID_BUILD_OPTIONS"},
        {CL_INVALID_PROGRAM, "CL_INVALID_PROGRAM"},
        {CL_INVALID_PROGRAM_EXECUTABLE, "CL_INVALID_PROGRAM_EXECUTABLE"},
        {CL_INVALID_KERNEL_NAME, "CL_INVALID_KERNEL_NAME"},
        {CL_INVALID_KERNEL_DEFINITION, "CL_INVALID_KERNEL_DEFINITION"},
        {CL_INVALID_KERNEL, "CL_INVALID_KERNEL"},
        {CL_INVALID_ARG_INDEX, "CL_INVALID_ARG_INDEX"},
        {CL_INVALID_ARG_VALUE, "CL_INVALID_ARG_VALUE"},
        {CL_INVALID_ARG_SIZE, "CL_INVALID_ARG_SIZE"},
        {CL_INVALID_KERNEL_ARGS, "CL_INVALID_KERNEL_ARGS"},
        {CL_INVALID_WORK_DIMENSION, "CL_INVALID_WORK_DIMENSION"},
        {CL_INVALID_WORK_GROUP_SIZE, "CL_INVALID_WORK_GROUP_SIZE"},
        {CL_INVALID_WORK_ITEM_SIZE, "CL_INVALID_WORK_ITEM_SIZE"},
        {CL_INVALID_GLOBAL_OFFSET, "CL_INVALID_GLOBAL_OFFSET"},
        {CL_INVALID_EVENT_WAIT_LIST, "CL_INVALID_EVENT_WAIT_LIST"},
        {CL_INVALID_EVENT, "CL_INVALID_EVENT"},
        {CL_INVALID_OPERATION, "CL_INVALID_OPERATION"},
        {CL_INVALID_BUFFER_SIZE, "CL_INVALID_BUFFER_SIZE"},
        {CL_INVALID_GLOBAL_WORK_SIZE, "CL_INVALID_GLOBAL_WORK_SIZE"},
        {CL_INVALID_PROPERTY, "CL_INVALID_PROPERTY"},
        {CL_INVALID_COMPILER_OPTIONS, "CL_INVALID_COMPILER_OPTIONS"},
        {CL_INVALID_LINKER_OPTIONS, "CL_INVALID_LINKER_OPTIONS"},
        {CL_PLATFORM_NOT_FOUND_KHR, "CL_PLATFORM_NOT_FOUND_KHR"},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (names[i].code == code)
            return names[i].name;
    return "an unknown OpenCL error";
}

enum { MAX_PLATFORMS = 16, MAX_DEVICES = 64 };

typedef struct {
    cl_platform_id plat[MAX_DEVICES];
    cl_device_id dev[MAX_DEVICES];
    int pidx[MAX_DEVICES], didx[MAX_DEVICES]; /* platform index, device index in it */
    int n;
} DevList;

static const char no_platform[] =
    "no OpenCL platform found: install an OpenCL driver (an ICD such as pocl-opencl-icd; "
    "/etc/OpenCL/vendors lists them, or OCL_ICD_VENDORS names another folder)";

/* Every device of every platform; -1 with a message when there is none. */
static int list_all(DevList *l, char *err, size_t errlen)
{
    cl_platform_id plats[MAX_PLATFORMS];
    cl_uint np = 0;
    cl_int rc = clGetPlatformIDs(MAX_PLATFORMS, plats, &np);
    if (rc == CL_PLATFORM_NOT_FOUND_KHR || (rc == CL_SUCCESS && np == 0))
        return rt_errf(err, errlen, "%s", no_platform);
    if (rc != CL_SUCCESS)
        return rt_errf(err, errlen, "clGetPlatformIDs failed: %s (%d)", rt_ocl_error_name(rc), (int)rc);
    l->n = 0;
    for (cl_uint p = 0; p < np && p < MAX_PLATFORMS; p++) {
        cl_device_id devs[MAX_DEVICES];
        cl_uint nd = 0;
        if (clGetDeviceIDs(plats[p], CL_DEVICE_TYPE_ALL, MAX_DEVICES, devs, &nd) != CL_SUCCESS)
            continue;
        for (cl_uint d = 0; d < nd && d < MAX_DEVICES && l->n < MAX_DEVICES; d++) {
            l->plat[l->n] = plats[p];
            l->dev[l->n] = devs[d];
            l->pidx[l->n] = (int)p;
            l->didx[l->n] = (int)d;
            l->n++;
        }
    }
    if (l->n == 0)
        return rt_errf(err, errlen, "the OpenCL platforms (%u) have no devices", (unsigned)np);
    return 0;
}

static void dev_name(cl_device_id d, char *buf, size_t n)
{
    if (clGetDeviceInfo(d, CL_DEVICE_NAME, n, buf, NULL) != CL_SUCCESS)
        snprintf(buf, n, "?");
    buf[n - 1] = 0;
}

static bool contains_nocase(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    for (; *hay; hay++) {
        size_t i = 0;
        while (i < n && hay[i] && tolower((unsigned char)hay[i]) == tolower((unsigned char)needle[i]))
            i++;
        if (i == n)
            return true;
    }
    return n == 0;
}

/* Whether s is all digits (and not empty); its value in *v. */
static bool number(const char *s, size_t len, long *v)
{
    if (len == 0 || len > 6)
        return false;
    long x = 0;
    for (size_t i = 0; i < len; i++) {
        if (!isdigit((unsigned char)s[i]))
            return false;
        x = x * 10 + (s[i] - '0');
    }
    *v = x;
    return true;
}

int rt_ocl_pick_device(const char *spec, const char *fallback_name, void **platform, void **device, char *err,
                       size_t errlen)
{
    DevList l;
    if (list_all(&l, err, errlen))
        return -1;
    int pick = -1;
    char name[256];
    if (!spec || !*spec) {
        pick = 0;
        for (int i = 0; fallback_name && *fallback_name && i < l.n; i++) {
            dev_name(l.dev[i], name, sizeof name);
            if (strcmp(name, fallback_name) == 0) {
                pick = i;
                break;
            }
        }
    } else {
        const char *colon = strchr(spec, ':');
        long p, d;
        if (colon && number(spec, (size_t)(colon - spec), &p) && number(colon + 1, strlen(colon + 1), &d)) {
            for (int i = 0; i < l.n; i++)
                if (l.pidx[i] == p && l.didx[i] == d)
                    pick = i;
        } else if (!colon && number(spec, strlen(spec), &d)) {
            pick = d < l.n ? (int)d : -1;
        } else {
            for (int i = 0; i < l.n && pick < 0; i++) {
                dev_name(l.dev[i], name, sizeof name);
                if (contains_nocase(name, spec))
                    pick = i;
            }
        }
        if (pick < 0) {
            char list[2048];
            rt_ocl_list_devices(list, sizeof list);
            return rt_errf(err, errlen, "no OpenCL device matches '%s'; the devices are:\n%s", spec, list);
        }
    }
    *platform = l.plat[pick];
    *device = l.dev[pick];
    return 0;
}

void rt_ocl_device_strings(void *platform, void *device, char *platform_name, char *device_name, char *driver,
                           size_t n)
{
    if (platform_name && clGetPlatformInfo((cl_platform_id)platform, CL_PLATFORM_NAME, n, platform_name, NULL) !=
                             CL_SUCCESS)
        snprintf(platform_name, n, "?");
    if (device_name)
        dev_name((cl_device_id)device, device_name, n);
    if (driver && clGetDeviceInfo((cl_device_id)device, CL_DRIVER_VERSION, n, driver, NULL) != CL_SUCCESS)
        snprintf(driver, n, "?");
    if (platform_name)
        platform_name[n - 1] = 0;
    if (driver)
        driver[n - 1] = 0;
}

int rt_ocl_list_devices(char *buf, size_t n)
{
    DevList l;
    if (list_all(&l, buf, n))
        return -1;
    size_t o = 0;
    buf[0] = 0;
    for (int i = 0; i < l.n && o < n; i++) {
        char name[256], plat[256];
        cl_device_type t = 0;
        dev_name(l.dev[i], name, sizeof name);
        rt_ocl_device_strings(l.plat[i], l.dev[i], plat, NULL, NULL, sizeof plat);
        clGetDeviceInfo(l.dev[i], CL_DEVICE_TYPE, sizeof t, &t, NULL);
        const char *type = t & CL_DEVICE_TYPE_GPU ? "GPU" : t & CL_DEVICE_TYPE_CPU ? "CPU"
                           : t & CL_DEVICE_TYPE_ACCELERATOR ? "accelerator" : "other";
        o += (size_t)snprintf(buf + o, n - o, "  %d:%d  %s  (%s, %s)\n", l.pidx[i], l.didx[i], name, type, plat);
    }
    return l.n;
}
