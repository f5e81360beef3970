#ifndef TIDEPOOL_ALLOC_INTERNAL_MIMALLOC_API_H_
#define TIDEPOOL_ALLOC_INTERNAL_MIMALLOC_API_H_

// The part of mimalloc 2.0.9's API the mimalloc backend calls. The backend
// reaches mimalloc by name (dlsym), so //alloc links whether or not the
// program loads mimalloc; taking the functions as a table also lets tests
// watch what the backend asks of mimalloc.

#include <mimalloc.h>

#include <memory>

#include "alloc/internal/backend_impl.h"

namespace tidepool::alloc::internal {

struct MimallocApi {
  decltype(&mi_heap_new) heap_new = nullptr;
  decltype(&mi_heap_set_default) heap_set_default = nullptr;
  decltype(&mi_heap_get_backing) heap_get_backing = nullptr;
  decltype(&mi_heap_delete) heap_delete = nullptr;
  decltype(&mi_collect) collect = nullptr;
  decltype(&mi_option_set) option_set = nullptr;
  decltype(&mi_option_get) option_get = nullptr;
  decltype(&mi_process_info) process_info = nullptr;
  decltype(&mi_malloc) malloc = nullptr;
  decltype(&mi_free) free = nullptr;
};

// Fills `api` from the process's global scope. Returns false when any
// function is missing (mimalloc not loaded).
bool FindMimallocApi(MimallocApi* api);

// The mimalloc backend calling `api`; Configure() fails with
// FAILED_PRECONDITION when a function in it is null.
std::unique_ptr<BackendImpl> MakeMimallocBackend(const MimallocApi& api);

}  // namespace tidepool::alloc::internal

#endif  // TIDEPOOL_ALLOC_INTERNAL_MIMALLOC_API_H_
