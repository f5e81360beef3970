#ifndef TIDEPOOL_RUNTIME_INTERNAL_CPU_RELAX_H_
#define TIDEPOOL_RUNTIME_INTERNAL_CPU_RELAX_H_

namespace tidepool::internal {

// One step of a spin-wait: tells the CPU the caller is spinning, so that it
// saves power and yields resources to a sibling hyperthread (x86's pause,
// ARM's yield). A no-op where there is no such hint. Any thread.
inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__) || defined(__arm__)
  __asm__ __volatile__("yield");
#endif
}

}  // namespace tidepool::internal

#endif  // TIDEPOOL_RUNTIME_INTERNAL_CPU_RELAX_H_
